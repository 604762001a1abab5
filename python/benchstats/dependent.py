"""Intervals of latency statistics of requests that queue behind each other (issue 55, item 3).

Requests of one serving run are no independent draws: a request that waits behind a busy
server makes the next one wait too, so their TTFT, TPOT and end-to-end latency are
correlated in send order, and the classical intervals (Student's t for the mean, the
order-statistic interval for a quantile, :mod:`benchstats.quantiles`) are too narrow (a
simulated M/M/1 server at 80% load: the p50 interval held the true value in 25-37% of runs,
labelled 95%; ``benchmarks/sim_latency_intervals.py``).

Method: **batch means** (sectioning). The requests, in send order, are cut into ``BATCHES``
consecutive blocks of equal length; when each block is long against the queue's memory the
blocks' statistics are nearly independent, and Student's t over them (``BATCHES - 1``
degrees of freedom) bounds the run's statistic:

* the mean: the blocks' means;
* the ``q`` quantile: the blocks' shares of values at or under the run's quantile ``Q``
  (the indicator ``1{x <= Q}``, whose mean is ``q``) give an interval ``q +- h`` of the
  share, and the run's ``q - h`` and ``q + h`` quantiles bound ``Q`` (the interval of a
  quantile from the interval of the distribution function at it).

An interval is **withheld** (``why``) where it cannot be had: fewer than ``MIN_N`` requests;
fewer than ``MIN_TAIL`` values expected beyond the quantile in a block (a p99 needs 2,000
requests); blocks that are still correlated (von Neumann's ratio of the block statistics
below its one-sided ``GATE`` point: the queue's memory is long against a block); a run that
drifts (Schruben's test on the ranks, :mod:`benchstats.stationarity`: the queue filled from
empty, or kept growing).

Status (2026-11-28, ``benchmarks/sim_latency_intervals.py --trials 200``): a candidate, not
used by ``serving.summary``. With 1,000 requests at 30-50% load its intervals hold in 79-98%
of the runs where given (10-55% withheld); at 80% load, or with 200 requests, the runs it
does not withhold are the lucky quiet ones and cover 0-90%: the gates cannot see a queue's
memory that is long against the run. No interval at the default 100 requests (``MIN_N``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from benchstats.autocorr import autocorr_times
from benchstats.quantiles import quantile_interval
from benchstats.stationarity import is_stationary
from benchstats.tdist import CONFIDENCE, t_critical

#: Consecutive blocks the requests are cut into (Schmeiser 1982: 10 to 30 batches).
BATCHES = 20
#: Fewest requests for an interval.
MIN_N = 200
#: Fewest values expected beyond (under or over) the quantile in each block.
MIN_TAIL = 1.0
#: One-sided level of the von Neumann test that the block statistics are uncorrelated.
GATE = 0.10
#: Fewest effective draws of the series (Geyer's, at the conservative AR(1) gate,
#: :func:`benchstats.autocorr.autocorr_times`): blocks of ``n / BATCHES`` requests are long
#: against the memory only when the correlation time is a fraction of a block.
MIN_EFFECTIVE = 100.0
TOO_FEW = "too few requests"
TOO_FEW_TAIL = "too few requests for this quantile"
CORRELATED = "requests correlated over a block (the queue's memory is too long for the run)"
NOT_STATIONARY = "not stationary (the queue drifted: it filled from empty or kept growing)"


@dataclass(frozen=True)
class LatencyInterval:
    """A statistic of a run's latencies and its 95% interval, or why there is none."""

    value: float
    low: float          # NaN when withheld
    high: float
    why: str = ""       # "" when there is an interval

    @property
    def withheld(self) -> bool:
        return bool(self.why)


def _withheld(value: float, why: str) -> LatencyInterval:
    return LatencyInterval(value, math.nan, math.nan, why)


def _blocks(array: np.ndarray) -> list[np.ndarray]:
    """``BATCHES`` consecutive blocks of equal length (the last few values left out)."""
    size = len(array) // BATCHES
    return [array[i * size:(i + 1) * size] for i in range(BATCHES)]


def _correlated(stats: np.ndarray) -> bool:
    """Von Neumann's ratio test: the block statistics are positively correlated (lag 1)."""
    spread = float(np.sum((stats - stats.mean()) ** 2))
    if spread <= 0:
        return False
    ratio = float(np.sum(np.diff(stats) ** 2)) / spread
    b = len(stats)
    # under independence the ratio is about normal, mean 2, variance 4 (b - 2) / (b^2 - 1)
    z = (ratio - 2.0) / math.sqrt(4.0 * (b - 2) / (b * b - 1))
    return z < NormalDist().inv_cdf(GATE)


def _drifts(array: np.ndarray) -> bool:
    """Schruben's test on the ranks (heavy tails do not decide it) finds a drift."""
    ranked = np.empty(len(array))
    ranked[np.argsort(array, kind="stable")] = np.arange(len(array), dtype=float)
    return is_stationary(ranked) is False


def _refused(array: np.ndarray, series: np.ndarray, stats: np.ndarray) -> str:
    """Why the blocks of ``series`` (the values or their indicator) cannot carry an
    interval ("" when they can)."""
    if _drifts(array):
        return NOT_STATIONARY
    gamma0, _, gate, width = autocorr_times(series)
    if gamma0 > 0 and (width > len(series) / 2 or len(series) / gate < MIN_EFFECTIVE):
        return CORRELATED
    if _correlated(stats):
        return CORRELATED
    return ""


def mean_latency_interval(values: Sequence[float], confidence: float = CONFIDENCE
                          ) -> LatencyInterval:
    """The mean of ``values`` (in send order) and its batch-means t interval."""
    array = np.asarray(values, dtype=float)
    mean = float(array.mean()) if len(array) else math.nan
    if len(array) < MIN_N:
        return _withheld(mean, TOO_FEW)
    stats = np.array([block.mean() for block in _blocks(array)])
    why = _refused(array, array, stats)
    if why:
        return _withheld(mean, why)
    half = t_critical(BATCHES - 1, confidence) * float(stats.std(ddof=1)) / math.sqrt(BATCHES)
    return LatencyInterval(mean, mean - half, mean + half)


def quantile_latency_interval(values: Sequence[float], q: float,
                              confidence: float = CONFIDENCE) -> LatencyInterval:
    """The ``q`` quantile of ``values`` (in send order) and its interval from the blocks'
    shares of values at or under it."""
    array = np.asarray(values, dtype=float)
    n = len(array)
    value = quantile_interval(list(array), q).value if n else math.nan
    if n < MIN_N:
        return _withheld(value, TOO_FEW)
    if n // BATCHES * min(q, 1.0 - q) < MIN_TAIL:
        return _withheld(value, TOO_FEW_TAIL)
    stats = np.array([float(np.mean(block <= value)) for block in _blocks(array)])
    why = _refused(array, (array <= value).astype(float), stats)
    if why:
        return _withheld(value, why)
    # the share's interval, at least one value either side (a block of shares all alike)
    half = max(t_critical(BATCHES - 1, confidence) * float(stats.std(ddof=1))
               / math.sqrt(BATCHES), 1.0 / n)
    low, high = max(q - half, 0.0), min(q + half, 1.0)
    return LatencyInterval(value, float(np.quantile(array, low)),
                           float(np.quantile(array, high)))
