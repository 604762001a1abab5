"""Whether the steady window of a series has one mean: Schruben's test, as in
Heidelberger & Welch's stationarity diagnostic (numpy).

Method: Schruben (1982, *Detecting initialization bias in simulation output*, Operations
Research 30(3)); Heidelberger & Welch (1983, *Simulation run length control in the presence
of an initial transient*, Operations Research 31(6); coda's ``heidel.diag``). Under a
stationary mean the scaled partial sums ``B(k/n) = (S_k - k mean) / sqrt(n sigma2)`` of the
window form a Brownian bridge, and the Cramer-von Mises statistic ``T = mean(B^2)`` has a
known distribution (Anderson & Darling 1952, Ann. Math. Statist. 23: 1% point 0.743). A drift,
a step or a slow transient bends the bridge and ``T`` grows.

The long-run variance ``sigma2`` comes from the window with its least-squares line removed
(:func:`benchstats.autocorr.autocorr_times` on the residuals): estimated from the raw window,
a drift inflates it and hides itself (a 10% drift over 100 iterations at 3% noise was flagged
in 15% of runs). The test is at 1%: the issue asks for at most 2% false flags on stationary
series from 100 iterations on. It is not run (``None``) on fewer than ``MIN_TEST``
iterations, or when the residuals' effective sample size is under a floor
(``MIN_TEST_ESS``, 10): there the variance estimate is too poor for a test, and the window is
not tested (:mod:`benchstats.steady`: ``untested``).

Where the test cannot run, :func:`late_shift` still catches a step in the last third (issue 58:
21 x 300 ms then 9 x 600 ms): the last third's median farther from the rest's than
``SHIFT_MADS`` pooled scaled MADs. It can only say "changed", never "steady": a window it does
not flag stays untested. Seeded simulation (4,000 series a cell; tests/benchstats/
test_late_shift.py holds 2,000 a cell to the 5% asked): at 20 iterations it flags 0.15% of
independent normal series and 1.9% of AR(1) phi = 0.5 ones; at 30, 0% and 0.35% (t3 noise
with 2% stalls of 3x: 0.1%; phi = 0.9, whose mean wanders over 30 iterations: 9%). A 20%
step at iteration 21 of 30 with 3% noise is caught always, a 10% one in 60% of runs.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from benchstats.autocorr import autocorr_times

#: :func:`late_shift` flags a last third this many pooled scaled MADs from the rest ...
SHIFT_MADS = 3.0
#: ... in a window of at least this many iterations (a third of fewer is too few medians:
#: 4% of AR(1) phi = 0.5 series of 15 flagged).
SHIFT_MIN_N = 20
#: Scaled MAD: a normal distribution's SD from its MAD.
_MAD_SCALE = 1.4826
#: 1% critical value of the Cramer-von Mises statistic of a Brownian bridge.
CRITICAL = 0.743
#: Fewest iterations the test runs on.
MIN_TEST = 10
#: Fewest effective samples of the residuals (at the upper bound of their lag-1
#: autocorrelation) the test runs on.
MIN_TEST_ESS = 10.0


def schruben_statistic(window: Sequence[float] | np.ndarray) -> float | None:
    """The Cramer-von Mises statistic of the window's scaled partial sums, or ``None`` when
    the window is too short (or too correlated) to test."""
    values = np.asarray(window, dtype=float)
    n = len(values)
    if n < MIN_TEST:
        return None
    index = np.arange(n, dtype=float)
    slope, intercept = np.polyfit(index, values, 1)
    gamma0, tau, gate, _ = autocorr_times(values - (slope * index + intercept))
    if gamma0 <= 0:
        return 0.0 if np.ptp(values) == 0 else math.inf  # a perfect line
    if n / gate < MIN_TEST_ESS:
        return None
    bridge = np.cumsum(values - values.mean()) / math.sqrt(n * tau * gamma0)
    return float(np.mean(bridge ** 2))


def is_stationary(window: Sequence[float] | np.ndarray) -> bool | None:
    """``True``/``False`` by Schruben's test at 1%; ``None`` when it cannot be run."""
    statistic = schruben_statistic(window)
    return None if statistic is None else statistic <= CRITICAL


def late_shift(window: Sequence[float] | np.ndarray) -> bool | None:
    """Whether the last third of ``window`` moved: its median farther than ``SHIFT_MADS``
    pooled scaled MADs (each part about its own median, so the step itself does not widen
    the noise) from the first two thirds'; ``None`` under ``SHIFT_MIN_N`` iterations.
    Medians and MADs, so a few stalls neither make nor hide a shift."""
    values = np.asarray(window, dtype=float)
    n = len(values)
    if n < SHIFT_MIN_N:
        return None
    first, last = values[:n - n // 3], values[n - n // 3:]
    centre_first, centre_last = float(np.median(first)), float(np.median(last))
    spread = _MAD_SCALE * float(np.median(np.concatenate(
        [np.abs(first - centre_first), np.abs(last - centre_last)])))
    return abs(centre_last - centre_first) > SHIFT_MADS * spread
