"""How many timed iterations: a fixed count, or until a precision is reached (sequential).

Responsibility: the stop rule's arithmetic. Between chunks of timed iterations it decides
whether to go on and how many more to time, reading only the iteration times it is given, so
under torchrun every rank takes the same decision from the same (all-reduced) times and no rank
is left waiting in a collective. It runs no model, writes nothing and warns about nothing: the
caller passes a ``chunk(n)`` callable that times ``n`` iterations, and says in its own words
why a run stopped (the benchmark's ``run/stop_rule.py``).

The stopping rule is the classic fixed-width sequential procedure (Chow & Robbins 1965; for
dependent series, Glynn & Whitt 1992): stop when the 95% confidence interval of the mean,
here Geyer's over the MSER steady window (:mod:`benchstats.steady`), is narrower than the
target relative half-width. Stopping when an estimated width first falls under a target
selects the runs whose variance happened to be underestimated, so coverage at the stop falls
below the interval's (76% at CV 10% and a 5% target, 43% at phi = 0.9, before issue 19). The
rule therefore may stop only once the window holds ``MIN_STOP_ESS`` effective samples: the
first looks, where the variance estimate is poorest, cannot stop the run
(``scripts/sim_series.py``: coverage at the stop in docs/measurements/report-statistics.md).

Nor may it stop on a window that has shown a tail before ``MIN_STOP_N`` iterations (issue
30), nor on any window before ``QUIET_STOP_N`` (issue 56). Rare stalls (garbage collection, OS
jitter: 2% of iterations 3-10x slow) are invisible to a short window: 73 iterations catch none
in 23% of runs, look like quiet normal times, meet a 5% target and give an interval that
misses the mean, while the runs that did catch a stall go on. The stop selected those runs
and covered 84% (2-4x stalls: 88%). A floor of 200 iterations on every run gave 93%, but made
a quiet run (independent times, 5% target) do about twice the work of a fixed count with the
same promise. The floor now depends on what the run has seen (:func:`stop_floor`): 200 once
the window holds an outlier beyond 3.5 scaled MADs (either side: the t3 noise that comes
with the stalls shows one in 94% of 100-iteration windows, independent normal times in 11%),
100 otherwise (a window of 100 misses 2% stalls in 13% of runs, and its t3 noise shows no
such outlier in 6% of those). And it may stop only once the variance is known from
``MIN_STOP_TAILS_DF`` degrees of freedom for its tails (Box's, :func:`tails_df`), as the mean
from ``MIN_STOP_ESS`` effective samples: a run that caught few of its stalls has its variance carried
by those few and looks precise too early (issue 56). Coverage at the stop for the stalls:
94.95% over 2,000 runs, 93.15% with the rule before issue 56; figures in
docs/reliability.md (``benchmarks/bench_short_run_stalls.py``). An upper confidence
bound on the variance (chi-square on Box's degrees of freedom) was tried and dropped: it
bought under a point of coverage for 60% more iterations.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchstats.autocorr import kurtosis_df
from benchstats.robust import HEAVY_MIN_N, count_outliers
from benchstats.steady import analyze

#: Seconds of timed work at most when a precision target is set without ``--max_time``.
DEFAULT_MAX_TIME = 600.0
#: Effective sample size the steady window needs before the rule may stop
#: (docs/measurements/report-statistics.md:
#: 30 keeps coverage at the stop at about 95% iid and 90%+ at phi = 0.5 for CV 10%, 5% target).
MIN_STOP_ESS = 30.0
#: Degrees of freedom of the variance for its tails (:func:`tails_df`) the window needs
#: before the rule may stop: 20 covered 95.0% at the stop for 2% stalls of 3-10x (median
#: 1234 iterations) and 96.2% for 2-4x (549); 30 gave 94.2% (1234) and 96.8% (823), 10 gave
#: 93.4% (1123) and 95.6% (366); without it 91.4% (1168) and 94.6% (292); 500 runs each,
#: ``scripts/sim_series.py``'s seeds.
MIN_STOP_TAILS_DF = 20.0
#: Fewest iterations in the steady window before the rule may stop once it has shown a tail:
#: a shorter one may have caught none of the rare stalls that carry the mean (module
#: docstring, issues 30 and 56).
MIN_STOP_N = HEAVY_MIN_N
#: Outliers beyond ``TAIL_SIGN_MADS`` scaled MADs (either side) that count as a sign of a
#: tail for :func:`stop_floor`: 3.5, not the outliers' 3, because the MAD of a short window is
#: itself noisy: 33% of 100 independent normal times have one beyond 3 (11% beyond 3.5, 3%
#: beyond 4), t3 noise 98% (94%, 87%).
TAIL_SIGNS, TAIL_SIGN_MADS = 1, 3.5
#: Fewest iterations before a run that has shown no tail may stop: 2% stalls are missing from
#: 13% of 100-iteration windows, and t3 noise shows no sign in 6% of them (floors of 80 and 90
#: let 10 and 6 of 1,000 stall runs stop early, every one a miss: 92.7% and 93.0% covered
#: instead of 93.4%).
QUIET_STOP_N = 100

Chunk = Callable[[int], list[float]]


@dataclass(frozen=True)
class StopRule:
    """``num_batches`` timed iterations at least; then, with a ``target`` precision, more until
    it is met; never more than ``max_time`` seconds of timed work (0: no limit)."""

    num_batches: int
    target: float = 0.0
    max_time: float = 0.0

    @property
    def limit(self) -> float:
        """Seconds of timed work allowed (0: none), with the default cap for a target."""
        if self.max_time > 0:
            return self.max_time
        return DEFAULT_MAX_TIME if self.target > 0 else 0.0


def stop_floor(window: list[float]) -> int:
    """Fewest iterations the steady window must hold before the rule may stop: ``MIN_STOP_N``
    once the window has shown any sign of a tail (``TAIL_SIGNS`` or more outliers beyond 3
    scaled MADs, either side), else ``QUIET_STOP_N`` (issue 56): a quiet run stops when its
    interval is narrow enough, as a fixed count with the same promise would."""
    signs = count_outliers(window, mads=TAIL_SIGN_MADS)
    return MIN_STOP_N if signs >= TAIL_SIGNS else QUIET_STOP_N


def tails_df(window: list[float]) -> float:
    """Degrees of freedom of the window's variance for its tails (Box 1953,
    :func:`benchstats.autocorr.kurtosis_df`; ``inf`` for fewer than 2 values): the stop
    needs ``MIN_STOP_TAILS_DF`` of them, as it needs ``MIN_STOP_ESS`` effective samples. A run that caught
    few of its rare stalls has its variance carried by those few, looks precise too early
    and stops with a mean below the process's (issue 56)."""
    return kurtosis_df(np.asarray(window, dtype=float)) if len(window) > 1 else math.inf


def next_for_target(times: list[float], target: float) -> tuple[int, bool]:
    """Iterations to add to reach ``target``, and whether it is already met (never on a
    window shorter than :func:`stop_floor`: then as many more as it lacks, at most
    doubling)."""
    found = analyze(times)
    n = len(times)
    enough = found.ess >= MIN_STOP_ESS and tails_df(found.window) >= MIN_STOP_TAILS_DF
    floor = stop_floor(found.window)
    if found.steady and enough and found.precision <= target:
        short = floor - len(found.window)
        return (0, True) if short <= 0 else (min(short, n), False)
    if len(found.window) < floor == MIN_STOP_N:
        # a tail shown under the floor: half again, as while its interval was withheld (issue
        # 30); sized from the wide interval of a few caught stalls, the looks fell elsewhere
        # and the stop covered 92.0% instead of 93.2% (2,000 runs of 2% stalls)
        return max(1, n // 2), False
    if not found.steady or not enough or math.isnan(found.precision):
        return max(1, n // 2), False  # warming up, or too few effective samples: half again
    needed = math.ceil(n * (found.precision / target) ** 2) - n
    return min(max(needed, max(1, n // 10)), n), False


def within_time(want: int, times: list[float], limit: float) -> int:
    """Cap ``want`` so the timed work stays within ``limit`` seconds (at least 1)."""
    if not limit or not times:
        return want
    spent = math.fsum(times)
    per_iteration = spent / len(times)
    room = int((limit - spent) / per_iteration) if per_iteration > 0 else want
    return max(1, min(want, room))


def run_until(chunk: Chunk, rule: StopRule) -> tuple[list[float], bool]:
    """Time chunks until ``rule`` says stop; return the times and whether the target was met
    (``False`` when there is no target). A run stopped by the time limit is judged on the
    times it has, so a last chunk that reached the target counts as met."""
    times: list[float] = []
    limit = rule.limit
    while True:
        out_of_time = bool(limit and times and math.fsum(times) >= limit)
        if len(times) < rule.num_batches and not out_of_time:
            want = rule.num_batches - len(times)
            if limit and not times:  # learn the iteration time before committing to a count
                want = 1
        elif rule.target > 0:
            want, met = next_for_target(times, rule.target)
            if met or out_of_time:
                return times, met
        else:
            return times, False
        times += chunk(within_time(want, times, limit))
