"""Steady state and precision of a series of iteration times (pure, standard library only).

Two published methods, chosen because they are simple, need no tuning to the workload and are
well studied on exactly this problem (the output of a process that starts in a transient):

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
* **Confidence interval of the mean: non-overlapping batch means** with batch size
  floor(sqrt(n)) (Flegal & Jones 2010, Ann. Statist. 38(2), consistent for dependent series).
  Iteration times are autocorrelated (frequency, caches, a neighbour's load come and go), so
  the plain t interval over iterations is too narrow; batches of sqrt(n) iterations are close
  to independent, and a t interval over their means is valid.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Steady:
    """What :func:`analyze` found in a series of iteration times."""

    warmup: int            # leading observations dropped as warm-up
    steady: bool           # a steady window of useful length was found
    window: list[float]    # the observations used for the statistics (after ``warmup``)
    mean: float            # mean of ``window``
    ci_low: float          # 95% CI of the mean (batch means); NaN when it cannot be computed
    ci_high: float

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


def mser_statistics(values: Sequence[float], limit: int) -> list[float]:
    """MSER(d) for every truncation ``d`` in ``0 .. limit`` (``limit`` at most ``n - 2``): the
    sum of squared deviations of ``values[d:]`` from their mean over ``(n - d)^2``."""
    n = len(values)
    limit = min(limit, n - 2)
    if limit <= 0:
        return [0.0]
    stats = [0.0] * (limit + 1)
    suffix_sum = math.fsum(values[limit:])
    suffix_sq = math.fsum(v * v for v in values[limit:])
    for d in range(limit, -1, -1):  # suffix sums, from the last candidate back: O(n)
        if d < limit:
            suffix_sum += values[d]
            suffix_sq += values[d] * values[d]
        left = n - d
        stats[d] = max(suffix_sq - suffix_sum * suffix_sum / left, 0.0) / (left * left)
    return stats


def _earliest_near_minimum(stats: Sequence[float]) -> int:
    best = min(stats)
    return next(d for d, stat in enumerate(stats) if stat <= best * (1.0 + TOLERANCE))


def mser(values: Sequence[float], limit: int) -> int:
    """The earliest truncation ``d`` in ``0 .. limit`` whose MSER statistic is within
    ``TOLERANCE`` of the smallest; ``limit`` is at most ``len(values) - 2``."""
    return _earliest_near_minimum(mser_statistics(values, limit))


def warmup_length(times: Sequence[float]) -> tuple[int, bool]:
    """Observations to drop as warm-up, and whether the rest is a steady window (MSER/-5).

    The search covers the first half of the series. The cut is the earliest truncation within
    ``TOLERANCE`` of the minimum; whether a steady state was found is judged on the plain
    minimum, as in White's MSER: a minimum on the boundary of the search means the series was
    still changing (the tolerance would otherwise step back from that boundary and hide a slow
    warm-up that lasts the whole run). A window under ``MIN_WINDOW`` is not steady either.
    """
    n = len(times)
    size = MSER_BATCH if n >= MSER5_MIN else 1
    batches = _batch_means(times, size) if size > 1 else list(times)
    half = len(batches) // 2
    stats = mser_statistics(batches, half)
    d = _earliest_near_minimum(stats)
    at_boundary = half > 0 and len(stats) == half + 1 and stats.index(min(stats)) == half
    steady = not at_boundary and n - d * size >= MIN_WINDOW
    return d * size, steady


def batch_means_ci(window: Sequence[float],
                   confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Confidence interval of the mean of ``window`` by non-overlapping batch means of
    floor(sqrt(n)) observations; ``(nan, nan)`` with fewer than 2 batches."""
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
    """Find the warm-up, then the mean and its batch-means CI over the steady window."""
    values = [float(t) for t in times]
    if not values:
        return Steady(0, False, [], math.nan, math.nan, math.nan)
    warmup, steady = warmup_length(values)
    window = values[warmup:]
    low, high = batch_means_ci(window)
    return Steady(warmup, steady, window, math.fsum(window) / len(window), low, high)
