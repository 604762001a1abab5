"""Steady state and precision of a series of iteration times: the analysis both programs use.

:func:`analyze` finds the warm-up, then describes the steady window: its mean with an interval
valid for autocorrelated series (:mod:`benchstats.autocorr`: Geyer's initial monotone sequence,
or no interval and a note when the series is too short for its correlation), whether the
window has one mean (:mod:`benchstats.stationarity`: Schruben / Heidelberger-Welch), and the
robust companions (:mod:`benchstats.robust`: median with its order-statistic interval,
outliers beyond 3 scaled MADs).

* **Warm-up: MSER** (White 1997; MSER-5, Franklin & White 2008). For every candidate number of
  leading observations ``d`` to drop, MSER(d) = sum of squared deviations of what is left from
  its mean, divided by (n - d)^2: the squared standard error of the truncated mean. The ``d``
  that minimises it balances bias (keeping slow start-up iterations) against variance
  (dropping data). Hoad, Robinson & Davies (2010, "Automating warm-up length estimation",
  J. Oper. Res. Soc.) compared 42 warm-up methods and recommended MSER-5. It runs on batch
  means of 5 observations when the series has at least ``MSER5_MIN`` of them (batching damps
  single outliers) and on the raw observations otherwise (a benchmark of 10 iterations has
  only 2 batches of 5). As usual for MSER, only truncations in the first half are allowed; a
  minimum on that boundary, or a steady window shorter than ``MIN_WINDOW``, means no steady
  state was found (the run was too short or kept drifting).
  **Outliers are not a warm-up**: MSER's squared deviations let one stall of 3x in the middle
  of a run pay for cutting everything before it (at n = 400 with t3 noise and 2% stalls, MSER
  cut a "warm-up" from 41% of stationary runs). So MSER runs on the series clipped to the
  median +- ``CLIP_MADS`` scaled MADs of its second half (the half MSER never cuts, so the
  reference is the steady level): a stall weighs at most a few standard deviations, while a
  warm-up, many iterations above the steady level, still moves the batch means.
* **Withheld** (:func:`withhold`, issue 30): no interval of the mean, with the reason
  (``ci_note``, and ``ci_withheld`` in a few words), when the window is not steady, is under
  80 iterations without caught stalls carrying its spread, or has heavy tails without such
  stalls in under 200 iterations or without a caught stall in under 800
  (:mod:`benchstats.robust`, issue 56), besides the reasons
  of :func:`benchstats.autocorr.mean_interval`.
* The batch-means interval (:func:`batch_means_ci`, Flegal & Jones 2010) is kept for callers;
  the interval of :func:`analyze` is Geyer's (batch means of floor(sqrt(n)) covered 68% at
  phi = 0.9 and n = 100).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchstats.autocorr import NO_ITERATIONS, TOO_FEW, TOO_SPREAD, MeanInterval, mean_interval
from benchstats.robust import (
    MAD_SCALE,
    TAIL_MIN_N,
    bursts_note,
    clustered_df,
    count_outliers,
    heavy_tail_note,
    median_interval,
    short_tail_note,
)
from benchstats.stationarity import is_stationary, late_shift
from benchstats.tdist import CONFIDENCE, t_critical

#: MSER batches of this many observations (MSER-5) ...
MSER_BATCH = 5
#: ... when the series has at least this many; below, MSER on the raw observations.
MSER5_MIN = 50
#: The cut is the earliest truncation whose MSER statistic is within this fraction of the
#: minimum: the statistic is itself an estimate, and on a flat stretch the plain minimum drifts
#: towards the end of the search, dropping good data. Whether a steady state was found is still
#: judged on the plain minimum: judged on the cut, a slow warm-up lasting the whole run was
#: called steady (5% flagged instead of 100% at 400 iterations in simulations).
TOLERANCE = 0.1
#: A steady window needs at least this many observations to count as "found".
MIN_WINDOW = 5
#: The reasons :func:`analyze` adds to those of :mod:`benchstats.autocorr` (``ci_withheld``).
NOT_STEADY, HEAVY_TAILS, NOT_FINITE = "not steady", "heavy tails", "not finite"
#: Why a window MSER found steady was not tested for one mean (``Steady.untested``): Schruben's
#: test needs 10 effective iterations (:mod:`benchstats.stationarity`).
UNTESTED = TOO_FEW
#: MSER sees the series clipped to the median +- this many scaled MADs of its second half.
CLIP_MADS = 3.0


@dataclass(frozen=True)
class Steady:
    """What :func:`analyze` found in a series of iteration times."""

    warmup: int            # leading observations dropped as warm-up
    steady: bool           # no change found: see :func:`analyze` (``untested``: not tested)
    window: list[float]    # the observations used for the statistics (after ``warmup``)
    mean: float            # mean of ``window``
    ci_low: float          # 95% CI of the mean; NaN when there is none (``ci_note`` says why)
    ci_high: float
    ess: float = math.nan            # effective sample size of the window
    autocorr_time: float = math.nan  # integrated autocorrelation time of the window
    ci_note: str = ""                # why there is no interval, and what would give one
    stationary: bool | None = None   # Schruben's test on the window (None: not run)
    median: float = math.nan
    median_low: float = math.nan     # order-statistic 95% interval of the median
    median_high: float = math.nan
    outliers: int = 0                # beyond 3 scaled MADs of the median (robust.py)
    ci_withheld: str = ""            # ``ci_note`` in a few words ("not steady", "heavy
                                     # tails", "too few iterations"...); "" with an interval
    untested: str = ""               # why a window MSER found steady was not tested for one
                                     # mean ("too few iterations"); "" when it was, or not steady

    @property
    def precision(self) -> float:
        """Relative half-width of the CI (half-width / mean); NaN when unknown."""
        if math.isnan(self.ci_low) or not self.mean > 0:
            return math.nan
        return (self.ci_high - self.ci_low) / 2.0 / self.mean


def _batch_means(values: Sequence[float], size: int, from_end: bool = False) -> list[float]:
    """Means of consecutive batches of ``size``; leftovers are dropped at the start when
    ``from_end`` (the part nearest the warm-up), else at the end."""
    count = len(values) // size
    start = len(values) - count * size if from_end else 0
    return [math.fsum(values[start + i * size:start + (i + 1) * size]) / size
            for i in range(count)]


def mser_statistics(values: Sequence[float] | np.ndarray, limit: int) -> list[float]:
    """MSER(d) for every truncation ``d`` in ``0 .. limit`` (``limit`` at most ``n - 2``): the
    sum of squared deviations of ``values[d:]`` from their mean over ``(n - d)^2``."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    limit = min(limit, n - 2)
    if limit <= 0:
        return [0.0]
    x = x - x.mean()  # suffix sums of centred values: no cancellation
    suffix = np.cumsum(x[::-1])[::-1][:limit + 1]
    suffix_sq = np.cumsum((x * x)[::-1])[::-1][:limit + 1]
    left = n - np.arange(limit + 1, dtype=float)
    return list(np.maximum(suffix_sq - suffix * suffix / left, 0.0) / (left * left))


def _earliest_near_minimum(stats: Sequence[float]) -> int:
    best = min(stats)
    return next(d for d, stat in enumerate(stats) if stat <= best * (1.0 + TOLERANCE))


def mser(values: Sequence[float], limit: int) -> int:
    """The earliest truncation ``d`` in ``0 .. limit`` whose MSER statistic is within
    ``TOLERANCE`` of the smallest; ``limit`` is at most ``len(values) - 2``."""
    return _earliest_near_minimum(mser_statistics(values, limit))


def clip_bounds(values: np.ndarray) -> tuple[float, float]:
    """The median +- ``CLIP_MADS`` scaled MADs of the second half of ``values`` (infinite
    when that spread is 0)."""
    second = values[len(values) // 2:]
    centre = float(np.median(second))
    spread = MAD_SCALE * float(np.median(np.abs(second - centre)))
    if spread <= 0:
        return -math.inf, math.inf
    return centre - CLIP_MADS * spread, centre + CLIP_MADS * spread


def _batched(values: np.ndarray, size: int) -> np.ndarray:
    count = len(values) // size
    return values[:count * size].reshape(count, size).mean(axis=1) if size > 1 else values


def _minimum_at_boundary(stats: list[float], half: int) -> bool:
    return half > 0 and len(stats) == half + 1 and stats.index(min(stats)) == half


#: Whether a minimum on MSER's search boundary is also looked for on the raw (unclipped)
#: series: clipped, a slow warm-up lasting the whole run flattens and its minimum moves off
#: the boundary (88% instead of >= 95% flagged at n = 30 in test_steady.py).
BOUNDARY_RAW = True


def warmup_length(times: Sequence[float]) -> tuple[int, bool]:
    """Observations to drop as warm-up, and whether the rest is a steady window (MSER/-5 on
    the clipped series, see the module's docstring).

    The search covers the first half of the series. The cut is the earliest truncation within
    ``TOLERANCE`` of the minimum; whether a steady state was found is judged on the plain
    minimum, as in White's MSER: a minimum on the boundary of the search means the series was
    still changing (the tolerance would otherwise step back from that boundary and hide a slow
    warm-up that lasts the whole run). A window under ``MIN_WINDOW`` is not steady either.
    Clipped, the first slow iterations of a short warm-up look alike and the tolerance may
    stop the cut among them: the cut is then extended over the slow (above the clip)
    iterations that follow it, within the first half (slow iterations up to that boundary:
    no steady state).
    """
    raw = np.asarray(times, dtype=float)
    low, high = clip_bounds(raw)
    n = len(raw)
    size = MSER_BATCH if n >= MSER5_MIN else 1
    stats = mser_statistics(_batched(np.clip(raw, low, high), size), n // size // 2)
    cut = _earliest_near_minimum(stats) * size
    at_boundary = _minimum_at_boundary(stats, n // size // 2)
    if BOUNDARY_RAW:
        at_boundary = at_boundary or _minimum_at_boundary(
            mser_statistics(_batched(raw, size), n // size // 2), n // size // 2)
    while cut < n // 2 and raw[cut] > high:
        cut += 1
    at_boundary = at_boundary or (n > 1 and cut >= n // 2 and raw[n // 2 - 1] > high)
    steady = not at_boundary and n - cut >= MIN_WINDOW
    return cut, steady


def batch_means_ci(window: Sequence[float],
                   confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Confidence interval of the mean of ``window`` by non-overlapping batch means of
    floor(sqrt(n)) observations (Flegal & Jones 2010); ``(nan, nan)`` with fewer than 2
    batches. Not the interval of :func:`analyze` (see the module's docstring)."""
    n = len(window)
    if n < 2:
        return math.nan, math.nan
    size = max(1, math.isqrt(n))
    means = _batch_means(window, size, from_end=True)
    count = len(means)
    if count < 2:
        return math.nan, math.nan
    centre = math.fsum(window) / n
    grand = math.fsum(means) / count
    var = math.fsum((m - grand) ** 2 for m in means) / (count - 1)
    half = t_critical(count - 1, confidence) * math.sqrt(var / count)
    return centre - half, centre + half


def analyze(times: Sequence[float]) -> Steady:
    """Find the warm-up, then describe the steady window: mean and its interval (or why none),
    effective sample size, stationarity, median and its interval, outliers.

    ``steady`` is Schruben's test on the window where it can be run, else MSER's verdict (a
    minimum on the boundary of its search: still changing). When MSER's minimum is on the
    boundary, the test also runs on the whole series: a drift makes MSER cut half the run,
    and the half left holds half the drift (a 10% drift over 100 iterations at 3% noise was
    flagged in 83% of runs on the window alone, 92% with both). A stationary run flagged on
    MSER's boundary alone is not flagged when both tests pass. The whole series is tested too
    when the iterations MSER dropped are faster than the window (a median below it): a warm-up
    is slow, and a rising drift made MSER cut its first part (a +5% drift over 100 iterations
    at CV 3% was given an interval in 10% of runs, which covered its end level in none).

    Where MSER found a steady state and the test cannot run (under 10 effective iterations: a
    quarter of independent series of 30, and a late step makes the times look correlated),
    ``untested`` says so: MSER searches only the first
    half and is blind to a step after it (21 x 300 ms then 9 x 600 ms was called steady,
    issue 58), so its verdict alone is no steady state (``steady`` stays true: nothing was
    found against it, and the interval is withheld for too few iterations anyway).
    """
    values = [float(t) for t in times]
    if not values:
        return Steady(0, False, [], math.nan, math.nan, math.nan, ci_note="no iterations",
                      ci_withheld=NO_ITERATIONS)
    bad = sum(not math.isfinite(v) for v in values)
    if bad:  # a NaN or infinite time is no measurement: no statistic would mean anything
        return Steady(0, False, [], math.nan, math.nan, math.nan,
                      ci_note=f"{bad} of {len(values)} iteration times are not finite numbers "
                      "(NaN or infinite): no statistics", ci_withheld=NOT_FINITE)
    warmup, found = warmup_length(values)
    window = values[warmup:]
    interval = mean_interval(window, df_cap=clustered_df(window), least=TAIL_MIN_N)
    stationary = is_stationary(window) if len(window) >= MIN_WINDOW else None
    # a "warm-up" faster than the window is no warm-up: the times rose (a drift), and the cut
    # took half of it away (issue 56, the third review)
    faster = warmup > 0 and float(np.median(values[:warmup])) < float(np.median(window))
    rose = False
    if (not found or faster) and stationary is not False and is_stationary(values) is False:
        stationary = False  # MSER's minimum on its boundary and a trend over the whole run
        rose = found
    steady = found if stationary is None else stationary
    # untested: MSER alone is blind to a step after its search; the cheap check may still
    # catch one in the last third (it can only say "changed", never "steady")
    shifted = steady and stationary is None and late_shift(window) is True
    steady = steady and not shifted
    median, median_low, median_high = median_interval(window)
    low, high, note, reason = withhold(interval, window, steady, stationary, shifted=shifted,
                                       rose=warmup if rose else 0)
    if reason == TOO_SPREAD and bursts_note(window):
        note += f"; {bursts_note(window)}"
    if reason == NOT_STEADY:  # the median of a window that moves is no more one figure
        median_low = median_high = math.nan
    return Steady(warmup, steady, window, interval.mean, low, high, ess=interval.ess,
                  autocorr_time=interval.autocorr_time, ci_note=note,
                  stationary=stationary, median=median, median_low=median_low,
                  median_high=median_high, outliers=count_outliers(window),
                  ci_withheld=reason,
                  untested=UNTESTED if steady and stationary is None else "")


def not_steady_note(stationary: bool | None, window: int, shifted: bool = False,
                    rose: int = 0) -> str:
    """Why the window is not steady, in words (``stationary``: Schruben's verdict;
    ``shifted``: :func:`benchstats.stationarity.late_shift` caught a step; ``rose``: the
    leading iterations the warm-up search dropped, faster than the window, whose whole run
    Schruben's test rejects)."""
    if rose:
        return (f"not steady: the times rose over the run (its first {rose} iterations, "
                f"faster than the {window} after them, are no warm-up, and Schruben's test "
                "rejects one mean over the whole run: a drift, the machine or the run "
                "changed), so an interval of the mean would describe no one speed; rerun on "
                "a quiet machine or longer")
    if shifted:
        return (f"not steady: the last third of the {window}-iteration window moved (its "
                "median beyond 3 scaled MADs from the rest's: a step, the machine or the run "
                "changed), too few iterations for Schruben's test; rerun on a quiet machine "
                "or longer")
    if stationary is False:
        return (f"not steady: Schruben's test rejects one mean over the {window}-iteration "
                "window (a drift or a step: the machine or the run changed under it), so an "
                "interval of its mean would describe no one speed; rerun on a quiet machine "
                "or longer")
    return ("not steady: no steady state found (the times kept changing over the warm-up "
            "search, the first half of the run), so an interval of the mean would describe "
            "no one speed; rerun longer or on a quiet machine")


def withhold(interval: MeanInterval, window: list[float], steady: bool,
             stationary: bool | None, shifted: bool = False,
             rose: int = 0) -> tuple[float, float, str, str]:
    """The interval of the mean as given, or withheld: ``(low, high, note, reason)``.

    Withheld (NaN, with the note and the short reason) when the window is not steady (the
    interval of a mean that moves describes no one speed; before issue 30 it was given with
    ``results.steady_state=false`` beside it and nothing said), when it is too short to judge
    its tail (under ``robust.TAIL_MIN_N`` iterations and no caught stalls carry its spread:
    :func:`benchstats.robust.short_tail_note`, issue 56), when it has heavy tails in fewer
    than ``robust.HEAVY_MIN_N`` iterations (:func:`benchstats.robust.heavy_tail_note`), or for
    the reasons of :func:`benchstats.autocorr.mean_interval`."""
    if not steady:
        note = not_steady_note(stationary, len(window), shifted, rose)
        if interval.note:
            note += f"; also {interval.note}"
        return math.nan, math.nan, note, NOT_STEADY
    if math.isnan(interval.low):
        return interval.low, interval.high, interval.note, interval.reason
    short = short_tail_note(window)
    if short:
        return math.nan, math.nan, short, TOO_FEW
    heavy = heavy_tail_note(window)
    if heavy:
        return math.nan, math.nan, heavy, HEAVY_TAILS
    return interval.low, interval.high, "", ""
