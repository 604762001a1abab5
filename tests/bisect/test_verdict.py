"""A step's verdict (``dlbs.bisect.verdict``): which side of the threshold the interval of
candidate / good lies on, looked at after more rounds until it is confident."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from dlbs.bisect.errors import SkipRevision
from dlbs.bisect.search import INCONCLUSIVE, SAME, SKIP, SLOWER
from dlbs.bisect.simulate import Machine, session
from dlbs.bisect.verdict import (
    CHECK_PRECISION,
    check_in_rounds,
    decide,
    describe_test,
    judge_in_rounds,
    round_schedule,
    threshold_from_check,
)


def times(*values: float) -> dict[int, float]:
    return dict(enumerate(values))


GOOD = times(10.0, 10.1, 9.9, 10.05, 9.95)


@pytest.mark.parametrize("candidate,threshold,verdict", [
    pytest.param(times(10.5, 10.6, 10.4, 10.55, 10.45), 0.025, SLOWER, id="5% slower"),
    pytest.param(times(10.0, 10.1, 9.9, 10.02, 9.98), 0.025, SAME, id="unchanged"),
    pytest.param(times(9.0, 9.1, 8.9, 9.05, 8.95), 0.025, SAME, id="faster is not the slowdown"),
    pytest.param(times(10.25, 10.35, 10.15, 10.3, 10.2), 0.025, INCONCLUSIVE,
                 id="at the threshold"),
    pytest.param(times(10.5, 10.6, 10.4, 10.55, 10.45), 0.0, SLOWER, id="check: threshold 0"),
])
def test_decide(candidate: dict[int, float], threshold: float, verdict: str) -> None:
    judgement = decide(GOOD, candidate, threshold)
    assert judgement.verdict == verdict
    assert judgement.low is not None and judgement.high is not None
    assert judgement.low <= judgement.ratio <= judgement.high  # type: ignore[operator]
    if verdict == SLOWER:
        assert judgement.low > 1 + threshold
    elif verdict == SAME:
        assert judgement.high < 1 + threshold


def test_one_run_a_side_has_no_interval_and_no_verdict() -> None:
    judgement = decide(times(10.0), times(11.0), 0.025)
    assert judgement.verdict == INCONCLUSIVE and judgement.low is None
    assert "no interval" in judgement.note


@pytest.mark.parametrize("first,most,expected", [
    (3, 30, [3, 5, 8, 12, 18, 27, 30]), (3, 12, [3, 5, 8, 12]), (3, 3, [3]), (5, 6, [5, 6])])
def test_round_schedule(first: int, most: int, expected: list[int]) -> None:
    assert round_schedule(first, most) == expected


@pytest.mark.parametrize("first,most", [(1, 5), (6, 5)])
def test_a_schedule_out_of_range_is_refused(first: int, most: int) -> None:
    with pytest.raises(ValueError, match="rounds"):
        round_schedule(first, most)


@pytest.mark.parametrize("trim,looks", [(0.0, [3]), (0.2, [3, 5])])
def test_a_clear_difference_stops_at_the_first_look_that_trims(trim: float,
                                                               looks: list[int]) -> None:
    """Welch's t (``trim=0``) stops at 3 rounds; the 20%-trimmed test trims nothing under 5
    runs a side (three slow runs of one side would be a confident wrong verdict there) and
    stops at 5."""
    asked: list[int] = []
    measure = session(random.Random(0), Machine(run_cv=0.005), 0.0, 0.2)
    judgement = judge_in_rounds(lambda r: asked.append(r) or measure(r), 0.1, [3, 5, 8],
                                trim=trim)
    assert judgement.verdict == SLOWER and asked == looks and judgement.rounds == looks[-1]


def test_a_schedule_too_short_to_trim_says_so() -> None:
    judgement = judge_in_rounds(session(random.Random(0), Machine(run_cv=0.005), 0.0, 0.2),
                                0.1, [3, 4])
    assert judgement.verdict == INCONCLUSIVE
    assert judgement.note == ("no verdict under 5 runs a side: the 20%-trimmed test trims "
                              "nothing yet; still inconclusive after 4 rounds: give "
                              "--max-rounds 5 or more, or --trim 0 (Welch's t)")


def test_a_change_at_the_threshold_looks_to_the_end_and_says_inconclusive() -> None:
    asked = []
    measure = session(random.Random(0), Machine(run_cv=0.03), 0.0, 0.025)
    judgement = judge_in_rounds(lambda r: asked.append(r) or measure(r), 0.025, [3, 5, 8])
    assert judgement.verdict == INCONCLUSIVE and asked == [3, 5, 8]
    assert "still inconclusive after 8 rounds" in judgement.note


def test_a_revision_that_cannot_be_measured_is_skipped_with_the_reason() -> None:
    def measure(rounds: int):
        raise SkipRevision("its runs failed (boom)")
    judgement = judge_in_rounds(measure, 0.025, [3, 5])
    assert judgement.verdict == SKIP and judgement.note == "its runs failed (boom)"


def test_rounds_so_far_are_kept_between_looks() -> None:
    measure = session(random.Random(1), Machine(), 0.0, 0.0)
    first, _ = measure(3)
    again, _ = measure(5)
    assert len(again) == 5 and all(again[r] == first[r] for r in first)


def test_the_threshold_is_half_the_checked_slowdown() -> None:
    check = decide(GOOD, times(11.0, 11.1, 10.9, 11.05, 10.95), 0.0)
    assert threshold_from_check(check) == pytest.approx((check.ratio - 1) / 2)  # type: ignore


def test_the_check_measures_until_the_slowdown_is_known_to_within_half() -> None:
    asked = []
    measure = session(random.Random(3), Machine(run_cv=0.02), 0.0, 0.05)
    judgement = check_in_rounds(lambda r: asked.append(r) or measure(r), [3, 5, 8, 12, 18, 27])
    assert judgement.verdict == SLOWER
    assert judgement.low > 1 + (judgement.ratio - 1) / 2  # type: ignore[operator]
    assert asked == [3, 5, 8, 12, 18, 27][:len(asked)]


def test_a_bad_end_no_slower_than_good_is_not_slower() -> None:
    judgement = check_in_rounds(session(random.Random(0), Machine(run_cv=0.01), 0.0, 0.0),
                                [3, 5])
    assert judgement.verdict != SLOWER


def test_an_inconclusive_step_says_why_and_which_options_help() -> None:
    """Issue 58, item 5: the note names the interval's width against its distance from the
    threshold and the options that would settle it (more rounds a commit, pairing)."""
    measure = session(random.Random(0), Machine(run_cv=0.03), 0.0, 0.025)
    judgement = judge_in_rounds(measure, 0.025, [3, 5, 8])
    assert judgement.verdict == INCONCLUSIVE
    assert ("interval 0.9309-1.0703 is 13.9% wide, 2.6x its distance from the threshold"
            in judgement.note)
    assert "about --max-rounds 54 would settle it" in judgement.note
    assert "(--paired)" in judgement.note


def test_a_slow_run_does_not_hide_the_slowdown() -> None:
    """Issue 56, item 6: eight rounds, the candidate 5% slower, one of its runs 1.4x slow (a
    neighbour's burst). Welch's t (``trim=0``, the old test) takes the slow run's variance
    and stays inconclusive; the step's test, Yuen's t on 20%-trimmed log times, says slower
    and its ratio is the typical runs'."""
    good = times(10.0, 10.2, 9.8, 10.1, 9.9, 10.05, 9.95, 10.0)
    candidate = times(10.5, 10.7, 10.3, 10.6, 10.4, 10.55, 10.45, 14.7)
    assert decide(good, candidate, 0.025, 0.05 / 8, trim=0.0).verdict == INCONCLUSIVE
    judgement = decide(good, candidate, 0.025, 0.05 / 8)
    assert judgement.verdict == SLOWER
    assert judgement.ratio == pytest.approx(1.05, rel=0.005)


def test_a_slow_good_run_does_not_fake_sameness_or_a_slowdown() -> None:
    """The slow run on good's side: an unchanged candidate is still ``same``."""
    good = times(10.0, 10.2, 9.8, 10.1, 9.9, 10.05, 9.95, 14.0)
    candidate = times(10.0, 10.1, 9.9, 10.05, 9.95, 10.0, 10.15, 9.85)
    assert decide(good, candidate, 0.025, 0.05 / 8, trim=0.0).verdict == INCONCLUSIVE
    assert decide(good, candidate, 0.025, 0.05 / 8).verdict == SAME


def test_the_check_measures_until_the_slowdown_is_known_to_within_a_third() -> None:
    """The check stops only when its interval's lower end lies above 1 + two thirds of its
    slowdown (the old rule, a half, stopped here at an earlier look)."""
    def looks(precision: float) -> list[int]:
        asked: list[int] = []
        measure = session(random.Random(3), Machine(run_cv=0.02), 0.0, 0.05)
        judgement = check_in_rounds(lambda r: asked.append(r) or measure(r),
                                    round_schedule(), precision=precision)
        assert judgement.verdict == SLOWER
        assert judgement.low > 1 + (judgement.ratio - 1) * precision  # type: ignore
        return asked
    assert CHECK_PRECISION == pytest.approx(2 / 3)
    assert len(looks(CHECK_PRECISION)) > len(looks(0.5))


@pytest.mark.parametrize("paired,trim,words", [
    (False, 0.2, "Yuen's t on the log run times, 20% trimmed at each end"),
    (True, 0.2, "the 20%-trimmed mean of the rounds' log ratios (runs paired by round)"),
    (False, 0.0, "Welch's t on the log run times"),
    (True, 0.0, "the paired t by round"),
])
def test_the_test_is_said_in_words(paired: bool, trim: float, words: str) -> None:
    assert describe_test(paired, trim) == words


def test_a_steps_busy_runs_are_counted_in_words() -> None:
    """Issue 58, item 5: an inconclusive step names the load's part in its spread."""
    from dlbs.bisect.session import busy_runs, busy_said

    def run(version: str, share: float | None, status: str = "ok") -> dict[str, object]:
        return {"exp.code_version": version, "results.status": status,
                "results.other_cpu_share": share, "results.other_cpu_seconds": 1.0}
    records = [run("good", 0.4), run("good", 0.02), run("bad", 0.5), run("bad", None),
               run("bad", 0.9, "failure"), run("other", 0.9)]
    assert busy_runs(records, ["good", "bad"]) == (2, 4)  # failed and other versions left out
    assert busy_said(2, 4) == (
        "2 of 4 runs on a busy machine (other processes took over 10% of their CPUs: "
        "results.other_cpu_share): a quieter machine narrows the interval")
    assert busy_said(0, 4) == ""


def test_a_check_left_inconclusive_on_a_busy_machine_says_so(
        repo8: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bisection's check that stays inconclusive says why, the busy runs among the
    reasons (the newcomer's 568 s bisection ended without saying the machine was busy)."""
    import argparse

    from dlbs.bisect import driver
    from dlbs.bisect.errors import BisectError
    from dlbs.bisect.session import Session

    class Busy:
        busy = (5, 6)

        def __call__(self, rounds: int) -> tuple[dict[int, float], dict[int, float]]:
            return {0: 1.0, 1: 1.2, 2: 0.85}, {0: 1.1, 1: 0.9, 2: 1.05}
    monkeypatch.setattr(driver, "measure_step", lambda *args: Busy())
    repo, revisions = repo8
    bisector = driver.Bisector(
        driver.Request(repo, revisions[0], revisions[-1], [3]),
        Session(argparse.Namespace(), tmp_path / "out", lambda args: []), lambda line: None)
    with pytest.raises(BisectError) as raised:
        bisector.run()
    said = str(raised.value)
    assert "is not confidently slower" in said
    assert "5 of 6 runs on a busy machine" in said and "a quieter machine" in said
