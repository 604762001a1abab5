"""benchstats.changepoints: steps found at the right place, in the right direction and with an
interval covering the true size; nothing where nothing changed; Criterion's min_change rule;
short histories not judged; excluded points and wide intervals; determinism; a seeded
simulation with the issue's rates (issue 21)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from benchstats import find_changes
from benchstats.changepoints import between_variance
from benchstats.histories import HistoryCase, histories


def _history(n: int = 80, steps: tuple[tuple[int, float], ...] = ((40, -0.08),),
             cv: float = 0.01, session: float = 0.5, runs: int = 4,
             seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """values, se, n_runs: each point the mean of ``runs`` runs at run CV ``cv`` plus a session
    offset of ``session`` x cv; ``steps``: (first index at the new level, relative size)."""
    rng = np.random.default_rng(seed)
    level = np.zeros(n)
    for at, size in steps:
        level[at:] += math.log1p(size)
    logs = (level + rng.normal(0.0, session * cv, n))[:, None] + rng.normal(0.0, cv, (n, runs))
    samples = np.exp(logs) * 100.0
    return samples.mean(1), samples.std(1, ddof=1) / math.sqrt(runs), np.full(n, float(runs))


@pytest.mark.parametrize("size, higher_is_better, direction", [
    pytest.param(-0.08, True, "regression", id="throughput-drops-8pct-regression"),
    pytest.param(0.10, True, "improvement", id="throughput-rises-10pct-improvement"),
    pytest.param(0.08, False, "regression", id="time-rises-8pct-regression"),
    pytest.param(-0.12, False, "improvement", id="time-drops-12pct-improvement"),
])
def test_a_clear_step_is_found_at_its_place_with_its_direction_and_size(
        size: float, higher_is_better: bool, direction: str) -> None:
    values, se, runs = _history(steps=((40, size),))
    found = find_changes(values, se, runs, higher_is_better=higher_is_better)
    assert found.not_judged is None
    assert len(found.changes) == 1
    change = found.changes[0]
    assert abs(change.first_bad - 40) <= 1 and change.last_good == change.first_bad - 1
    assert change.direction == direction
    assert change.ci[0] <= size <= change.ci[1]
    assert change.ci[0] > 0.05 or change.ci[1] < -0.05
    assert change.p_value <= 0.005
    assert change.mean_after / change.mean_before - 1 == pytest.approx(change.change)


def test_two_steps_are_both_found_in_order() -> None:
    values, se, runs = _history(n=100, steps=((30, -0.08), (70, 0.15)))
    found = find_changes(values, se, runs)
    assert [c.first_bad for c in found.changes] == [30, 70]
    assert [c.direction for c in found.changes] == ["regression", "improvement"]


def test_sixteen_points_are_enough_for_a_large_step() -> None:
    values, se, runs = _history(n=16, steps=((8, -0.2),))
    assert [c.first_bad for c in find_changes(values, se, runs).changes] == [8]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_no_change_gives_no_change(seed: int) -> None:
    values, se, runs = _history(steps=(), seed=seed)
    found = find_changes(values, se, runs, min_change=0.0)
    assert found.not_judged is None and found.changes == [] and found.points == 80


@pytest.mark.parametrize("min_change, reported, verdict", [
    pytest.param(0.05, False, "small", id="3pct-step-inside-5pct-not-reported"),
    pytest.param(0.03, False, "unclear", id="3pct-step-across-3pct-bound-not-reported"),
    pytest.param(0.0, True, "confirmed", id="3pct-step-reported-without-min-change"),
])
def test_a_change_smaller_than_min_change_is_not_reported(min_change: float, reported: bool,
                                                          verdict: str) -> None:
    values, se, runs = _history(steps=((40, -0.03),), cv=0.003)
    found = find_changes(values, se, runs, min_change=min_change)
    assert bool(found.changes) == reported
    judged = found.changes if reported else found.dropped
    assert [c.verdict for c in judged] == [verdict]
    assert abs(judged[0].first_bad - 40) <= 1


@pytest.mark.parametrize("n, excluded, usable", [
    pytest.param(11, None, 11, id="eleven-points"),
    pytest.param(14, [0, 1, 2], 11, id="fourteen-points-three-excluded"),
])
def test_too_short_a_history_is_not_judged(n: int, excluded: list[int] | None,
                                           usable: int) -> None:
    values, se, runs = _history(n=n, steps=((n // 2, -0.3),))
    found = find_changes(values, se, runs, excluded=excluded)
    assert found.changes == [] and found.points == usable
    assert found.not_judged == (f"{usable} usable points, fewer than 12: a change needs 5 "
                                "points on each side and the permutation test 12 in all")


def test_excluded_points_are_skipped_but_keep_their_indexes() -> None:
    values, se, runs = _history(steps=((40, -0.08),))
    values[20:26] *= 1.3  # a broken week: excluded with a reason, kept in the data
    values[38:40] *= 0.5
    found = find_changes(values, se, runs, excluded=[20, 21, 22, 23, 24, 25, 38, 39])
    assert [(c.last_good, c.first_bad) for c in found.changes] == [(37, 40)]
    assert found.points == 72


def test_nan_values_are_skipped_like_excluded_points() -> None:
    values, se, runs = _history(steps=((40, -0.08),))
    values[39] = math.nan
    found = find_changes(values, se, runs)
    assert [(c.last_good, c.first_bad) for c in found.changes] == [(38, 40)]


@pytest.mark.parametrize("wide", [
    pytest.param(range(30, 36), id="six-points-20pct-high-with-50pct-intervals"),
    pytest.param(range(74, 80), id="the-last-six-points-20pct-high-with-50pct-intervals"),
    pytest.param(range(40, 80), id="the-second-half-20pct-high-with-50pct-intervals"),
])
def test_points_with_huge_intervals_do_not_create_a_change(wide: range) -> None:
    values, se, runs = _history(steps=())
    values[list(wide)] *= 1.2
    se[list(wide)] = 0.5 * values[list(wide)]
    assert find_changes(values, se, runs).changes == []
    se[list(wide)] = 0.002 * values[list(wide)]  # the same points, precise: a change
    assert find_changes(values, se, runs).changes


@pytest.mark.parametrize("nan_se, with_runs", [
    pytest.param(slice(None), True, id="all-se-unknown"),
    pytest.param(slice(None), False, id="all-se-and-runs-unknown"),
    pytest.param(slice(0, 80, 3), True, id="every-third-se-unknown"),
])
def test_unknown_standard_errors_still_find_the_step(nan_se: slice, with_runs: bool) -> None:
    values, se, runs = _history(steps=((40, -0.08),))
    se[nan_se] = math.nan
    found = find_changes(values, se, runs if with_runs else None)
    assert [c.first_bad for c in found.changes] == [40]
    assert math.isfinite(found.changes[0].ci[0]) and math.isfinite(found.between_sd)


def test_a_short_pulse_is_found_at_both_edges() -> None:
    values, se, runs = _history(steps=((30, -0.10), (36, 1 / 0.9 - 1)))
    found = find_changes(values, se, runs)
    assert [(c.first_bad, c.direction) for c in found.changes] == [(30, "regression"),
                                                                   (36, "improvement")]


@pytest.mark.parametrize("alpha, smallest_p", [(0.005, 1 / 400), (0.001, 1 / 2000)])
def test_a_smaller_alpha_takes_more_permutations_and_still_finds_a_clear_step(
        alpha: float, smallest_p: float) -> None:
    values, se, runs = _history(steps=((40, -0.08),))
    found = find_changes(values, se, runs, alpha=alpha)
    assert [(c.first_bad, c.p_value) for c in found.changes] == [(40, smallest_p)]


def test_the_same_history_gives_the_same_answer() -> None:
    values, se, runs = _history(n=100, steps=((30, -0.06), (70, 0.04)), cv=0.02, session=1.0)
    assert find_changes(values, se, runs, min_change=0.0) == find_changes(
        values.copy(), se.copy(), runs.copy(), min_change=0.0)


@pytest.mark.parametrize("kwargs, message", [
    pytest.param({"se": [1.0] * 5}, "se has 5 entries, values has 20", id="se-length"),
    pytest.param({"values": [-1.0] + [1.0] * 19}, "values must be positive", id="negative"),
    pytest.param({"excluded": [20]}, "excluded index out of range", id="excluded-range"),
    pytest.param({"alpha": 0.0}, "0 < alpha < 1", id="alpha"),
    pytest.param({"excluded": [True] * 20}, "indexes, not a mask", id="excluded-mask"),
])
def test_bad_input_is_a_one_line_error(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"values": [1.0] * 20, "se": [0.01] * 20, **kwargs}
    with pytest.raises(ValueError, match=message):
        find_changes(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("own, tau, steps", [
    pytest.param(0.01, 0.02, False, id="session-scatter-twice-the-intervals"),
    pytest.param(0.01, 0.02, True, id="the-same-with-steps"),
    pytest.param(0.02, 0.0, False, id="intervals-explain-the-scatter"),
])
def test_the_between_point_spread_is_estimated_beside_the_intervals(own: float, tau: float,
                                                                    steps: bool) -> None:
    rng = np.random.default_rng(7)
    logs = rng.normal(0.0, math.hypot(own, tau), 400)
    if steps:
        logs[100:] += 0.1
        logs[300:] -= 0.2
    estimate = math.sqrt(between_variance(logs, np.full(400, own * own)))
    assert estimate == pytest.approx(tau, abs=0.004)


def _alarms_and_recall(case: HistoryCase, count: int, seed: int,
                       min_change: float) -> tuple[float, float]:
    h = histories(case, count, seed)
    alarms = found = steps = 0
    for s in range(count):
        bad = [c.first_bad for c in find_changes(h.values[s], h.se[s], h.n_runs[s],
                                                 min_change=min_change).changes]
        if not h.truth[s]:
            alarms += len(bad)
        for at, _ in h.truth[s]:
            steps += 1
            found += any(abs(b - at) <= 2 for b in bad)
    return alarms / count, found / max(steps, 1)


@pytest.mark.parametrize("min_change", [0.0, 0.05])
def test_few_false_alarms_over_seeded_histories_without_a_change(min_change: float) -> None:
    alarms, _ = _alarms_and_recall(HistoryCase(steps=(0,)), 200, 11, min_change)
    assert alarms <= 0.02  # the issue asks <= 1 per 100; alpha is 0.005


def test_steps_of_three_run_cvs_are_found() -> None:
    # run CV 1-2%, steps 6-10%: every step >= 3x the run CV (and the session offsets)
    case = HistoryCase(steps=(1, 2), run_cv=(0.01, 0.02), step_size=(0.06, 0.10))
    _, recall = _alarms_and_recall(case, 200, 12, 0.0)
    assert recall >= 0.85
