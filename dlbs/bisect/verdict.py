"""One step's verdict: good against a candidate, measured in interleaved rounds until the
verdict is confident.

The statistics are those of ``dlbs report --compare-by`` (``dlbs.reports.verdicts.judge_table``,
one cell judged at ``alpha``), with one difference: the step's test is Yuen's t on the log run
times trimmed by ``TRIM`` (20%) at each end (``--trim 0``: Welch's t, the report's), or with
``--paired`` the trimmed mean of the rounds' log ratios. A few slow runs (a neighbour's
burst) are trimmed away: with 5% of runs 1.2-1.5x slow, Welch's t found the culprit of a 5%
slowdown in 13.6% of simulated bisections (16 commits), its interval widened by them; the
trimmed test in 95.0% (benchmarks/bench_bisect.py, docs/bisect.md). Under
:func:`fewest_trimmed` runs a side (5) nothing is trimmed, and a look gives no verdict. This
module only says what a bisection asks of them. The question of a step is which side of the
threshold ``1 + t`` the candidate's slowdown lies on, ``t`` being half the regression between
good and bad (or ``--min-change``): ``slower`` when the whole interval of candidate / good
lies above it, ``same`` when the whole interval lies below it, else more rounds.

Looking again after more rounds is a new chance of a wrong verdict, so the level of each look
is ``alpha`` over the number of looks the schedule allows (Bonferroni): the chance of any wrong
verdict in a step stays below ``alpha``. After the last look a straddling interval is
``inconclusive``, said as such; the search then leaves that revision out.

Pure: run times in, ``Judgement`` out; the measuring is the caller's ``measure(rounds)``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from benchstats import TRIM

from dlbs.bisect.errors import SkipRevision
from dlbs.bisect.search import INCONCLUSIVE, SAME, SKIP, SLOWER, Judgement
from dlbs.reports.verdicts import MIN_RUNS, Policy, Runs, judge_table

#: Rounds of the first look, and the most rounds a step may measure.
FIRST_ROUNDS, MAX_ROUNDS = 3, 48
#: The check measures until its interval's lower end lies above ``1 +`` this share of the
#: slowdown it measured: the threshold (half that slowdown) then rests on a slowdown known to
#: within a third. At a half (the old rule), an early lucky estimate set the threshold near
#: the bad revisions' level and left them inconclusive: with the trimmed test at run CV 2%,
#: 96.9% right culprits against 97.8% at two thirds, for 14% more rounds (16 commits, 1000
#: trials: benchmarks/bench_bisect.py --methods half,new; docs/bisect.md).
CHECK_PRECISION = 2.0 / 3.0
#: The error level of a step's verdict (split over its looks).
ALPHA = 0.05
#: What a session measured: successful run times (ms) of good and of the candidate, by round
#: (``exp.repeat_index``).
Times = Mapping[int, float]
Measure = Callable[[int], tuple[Times, Times]]


def round_schedule(first: int = FIRST_ROUNDS, most: int = MAX_ROUNDS) -> list[int]:
    """The rounds after which a step looks: ``first``, then half as many again each time (at
    least 2 more), ending at ``most`` (3, 5, 8, 12, 18, 27, 41, 48 by default; the most rounds are
    reached only by steps still inconclusive: benchmarks/bench_bisect.py, docs/bisect.md)."""
    if first < MIN_RUNS or most < first:
        raise ValueError(f"rounds: need {MIN_RUNS} <= first ({first}) <= most ({most})")
    looks = [first]
    while looks[-1] < most:
        looks.append(min(most, looks[-1] + max(2, math.ceil(looks[-1] / 2))))
    return looks


def describe_test(paired: bool = False, trim: float = TRIM) -> str:
    """The test a step uses, in words (the command's output and its notes say it)."""
    if trim:
        return (f"the {trim:.0%}-trimmed mean of the rounds' log ratios (runs paired by round)"
                if paired else f"Yuen's t on the log run times, {trim:.0%} trimmed at each end")
    return "the paired t by round" if paired else "Welch's t on the log run times"


def decide(good: Times, candidate: Times, threshold: float, alpha: float = ALPHA,
           paired: bool = False, trim: float = TRIM) -> Judgement:
    """The verdict of one look: ``slower`` (the whole interval of candidate / good above ``1 +
    threshold``), ``same`` (the whole interval below it) or ``inconclusive``; the interval is
    ``judge_table``'s for one cell at ``alpha`` within one session, on runs trimmed by
    ``trim`` (:func:`describe_test`)."""
    policy = Policy(min_change=threshold, alpha=alpha, correction="none", apart=False,
                    paired=paired, trim=trim)
    (cell,), _ = judge_table([Runs(base=good, new=candidate)], policy)
    speedup, low, high = (None if v is None else float(v)  # type: ignore[arg-type]
                          for v in cell[:3])
    word = cell[4]
    runs = (len(good), len(candidate))
    if speedup is None or low is None or high is None:
        return Judgement(INCONCLUSIVE, None if speedup is None else 1.0 / speedup,
                         note=f"no interval: {word}", runs=runs)
    ratio, r_low, r_high = 1.0 / speedup, 1.0 / high, 1.0 / low
    if word == "slower":
        verdict = SLOWER
    elif r_high < 1.0 + threshold:
        verdict = SAME
    else:
        verdict = INCONCLUSIVE
    if verdict != INCONCLUSIVE and min(runs) < fewest_trimmed(trim):
        # nothing is trimmed yet: the interval is Welch's, and three runs of a side all slow
        # (1 in 8,000 at 5% slow runs) would be a confident wrong verdict: wait for a trim
        return Judgement(INCONCLUSIVE, ratio, r_low, r_high, runs=runs,
                         note=untrimmed_note(trim))
    return Judgement(verdict, ratio, r_low, r_high, runs=runs)


def fewest_trimmed(trim: float) -> int:
    """The fewest runs a side from which ``trim`` trims a run from each end (5 at 20%); 0
    without trimming."""
    return math.ceil(1.0 / trim - 1e-9) if trim > 0 else 0


def untrimmed_note(trim: float) -> str:
    """Why a look under :func:`fewest_trimmed` runs a side gives no verdict."""
    return (f"no verdict under {fewest_trimmed(trim)} runs a side: the {trim:.0%}-trimmed "
            f"test trims nothing yet")


def judge_in_rounds(measure: Measure, threshold: float, schedule: Sequence[int],
                    alpha: float = ALPHA, paired: bool = False,
                    can_pair: bool = True, trim: float = TRIM) -> Judgement:
    """Measure and look after each number of rounds of ``schedule`` (``measure(rounds)``
    returns the runs of all rounds so far) until ``slower`` or ``same``; ``inconclusive``
    after the last look, with why and the options that would help (``can_pair``: the caller
    has ``--paired``); ``skip`` when ``measure`` raises ``SkipRevision``."""
    level = alpha / len(schedule)
    judgement = Judgement(INCONCLUSIVE)
    for rounds in schedule:
        try:
            good, candidate = measure(rounds)
        except SkipRevision as err:
            return Judgement(SKIP, rounds=rounds, note=str(err))
        judgement = _with_rounds(decide(good, candidate, threshold, level, paired, trim),
                                 rounds)
        if judgement.verdict in (SLOWER, SAME):
            return judgement
    if judgement.note == untrimmed_note(trim):
        return _with_note(judgement, f"still inconclusive after {schedule[-1]} rounds: "
                                     f"give --max-rounds {fewest_trimmed(trim)} or more, or "
                                     f"--trim 0 (Welch's t)")
    return _with_note(judgement, f"still inconclusive after {schedule[-1]} rounds "
                                 f"(interval straddles {1 + threshold:.4f}): "
                                 f"{why_inconclusive(judgement, threshold, schedule[-1], paired or not can_pair)}")


def why_inconclusive(judgement: Judgement, threshold: float, rounds: int,
                     paired: bool) -> str:  # paired: already paired, or no --paired to give
    """Why a step stayed inconclusive, and the options that would help: the interval's width
    beside its distance from ``1 + threshold`` (the spread of the runs), and the rounds that
    would narrow it enough (a t interval narrows as 1/sqrt(runs), so the rounds needed grow
    with the square of width / distance)."""
    low, high, ratio = judgement.low, judgement.high, judgement.ratio
    pairing = "" if paired else ", or pair runs by round (--paired) when a round's runs share load"
    if low is None or high is None or ratio is None:
        return (f"no interval (too few successful runs); give more rounds a step "
                f"(--rounds, --max-rounds above {rounds}){pairing}")
    half = (high - low) / 2
    distance = abs(ratio - (1.0 + threshold))
    if distance <= half / 10:  # the slowdown sits at the threshold: no rounds settle it
        return (f"its ratio {ratio:.4f} sits at the threshold {1 + threshold:.4f}: the runs' "
                f"spread is not the cause; set the threshold apart from it (--min-change)")
    needed = math.ceil(rounds * (half / distance) ** 2)
    return (f"interval {low:.4f}-{high:.4f} is {high - low:.1%} wide, {half / distance:.1f}x "
            f"its distance from the threshold (the runs spread too much: a busy machine, "
            f"a noisy benchmark); about --max-rounds {needed} would settle it{pairing}")


def check_in_rounds(measure: Measure, schedule: Sequence[int], alpha: float = ALPHA,
                    paired: bool = False, trim: float = TRIM,
                    precision: float = CHECK_PRECISION) -> Judgement:
    """The check of bad against good: ``slower`` at threshold 0, measured until its interval
    is also clear of ``precision`` (``CHECK_PRECISION``, two thirds) of its slowdown, so that the threshold
    the search uses (half the slowdown) comes from a slowdown known to within a third of it
    (stopping at the first
    interval clear of 1 would take the luckiest early estimate, too large, and put the
    threshold near the bad revisions' level). ``same`` (bad confidently faster) stops it; a
    slowdown still imprecise after the last look is ``slower`` with a note, and what the
    first look sees as nothing is ``inconclusive``."""
    level = alpha / len(schedule)
    judgement = Judgement(INCONCLUSIVE)
    for rounds in schedule:
        judgement = _with_rounds(decide(*measure(rounds), 0.0, level, paired, trim), rounds)
        if judgement.verdict == SAME or (judgement.verdict == SLOWER
                                         and _precise(judgement, precision)):
            return judgement
    if judgement.verdict == SLOWER:
        return _with_note(judgement, "the slowdown is imprecise after the last look: its "
                                     f"interval reaches below 1 + {precision:.2g} of the slowdown")
    return _with_note(judgement, f"still inconclusive after {schedule[-1]} rounds")


def _precise(judgement: Judgement, precision: float) -> bool:
    ratio, low = judgement.ratio, judgement.low
    return ratio is not None and low is not None and low > 1.0 + (ratio - 1.0) * precision


def _with_rounds(judgement: Judgement, rounds: int) -> Judgement:
    return Judgement(judgement.verdict, judgement.ratio, judgement.low, judgement.high,
                     rounds, judgement.note, judgement.runs)


def with_note(judgement: Judgement, note: str) -> Judgement:
    """The judgement with ``note`` added to its own (unchanged when ``note`` is empty)."""
    return _with_note(judgement, note) if note else judgement


def _with_note(judgement: Judgement, note: str) -> Judgement:
    note = f"{judgement.note}; {note}" if judgement.note else note
    return Judgement(judgement.verdict, judgement.ratio, judgement.low, judgement.high,
                     judgement.rounds, note, judgement.runs)


def threshold_from_check(check: Judgement) -> float:
    """Half the regression good -> bad measured by the check step: the midpoint between the
    two levels a candidate can have."""
    if check.ratio is None or check.ratio <= 1.0:
        raise ValueError("the check found no slowdown")
    return (check.ratio - 1.0) / 2.0
