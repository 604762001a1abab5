"""Robust companions of the mean of one series: the median with its order-statistic interval,
and the count of outliers (numpy).

* **Median interval**: the distribution-free interval between two order statistics
  ``x_(j) <= median <= x_(n+1-j)``, ``j`` the largest rank with ``P(Binomial(m, 1/2) < j)
  <= 2.5%`` (e.g. Hollander, Wolfe & Chicken 2014, *Nonparametric Statistical Methods*,
  sec. 3.6). It assumes independent observations; under autocorrelation the count of
  observations below the median varies more, by the autocorrelation time ``tau_I`` of the
  indicator ``x_i <= median`` (its long-run variance is what the median's asymptotic variance
  depends on). So the binomial is taken on the effective size ``m = n / tau_I`` and its rank
  levels ``j / m`` are scaled to ``n`` (rounded outwards): exact for independent series, an
  approximation (of the same asymptotic order as the mean's interval) otherwise. Under
  ``MIN_EFFECTIVE`` (6: the smallest ``m`` whose widest interval reaches 95%) there is none.
* **Outliers**: observations farther from the median than ``OUTLIER_MADS`` scaled median
  absolute deviations (MAD x 1.4826, the SD of a normal sample; Leys et al. 2013, J. Exp.
  Soc. Psychol. 49(4) recommend 2.5-3; 3 here).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from benchstats.autocorr import MAX_LAG_FRACTION, MIN_ESS, MIN_N, autocorr_times
from benchstats.tdist import CONFIDENCE, t_critical

#: Outliers lie beyond this many scaled MADs from the median.
OUTLIER_MADS = 3.0
#: Normal-consistency factor of the MAD.
MAD_SCALE = 1.4826
#: Fewest effective observations an order-statistic interval needs at 95%.
MIN_EFFECTIVE = 6
#: Above this effective size the binomial rank is found by its normal approximation.
EXACT_UP_TO = 2000


def binomial_rank(m: int, confidence: float = CONFIDENCE) -> int:
    """The largest ``j`` (1-based, 0 when none) with ``P(Binomial(m, 1/2) < j) <=
    (1 - confidence) / 2``: ``x_(j)`` and ``x_(m+1-j)`` bound the median."""
    tail = (1.0 - confidence) / 2.0
    if m > EXACT_UP_TO:
        z = math.sqrt(2.0) * _erfinv(1.0 - 2.0 * tail)
        return max(0, math.floor(m / 2.0 - z * math.sqrt(m) / 2.0 - 0.5) + 1)
    log_half = m * math.log(0.5)
    total, j = 0.0, 0
    while j <= m:
        total += math.exp(math.lgamma(m + 1) - math.lgamma(j + 1) - math.lgamma(m - j + 1)
                          + log_half)
        if total > tail:
            return j
        j += 1
    return m


def _erfinv(y: float) -> float:
    low, high = 0.0, 6.0
    for _ in range(100):
        mid = (low + high) / 2.0
        low, high = (mid, high) if math.erf(mid) < y else (low, mid)
    return (low + high) / 2.0


def median_interval(window: Sequence[float] | np.ndarray,
                    confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """``(median, low, high)`` of ``window``; ``low``/``high`` NaN when there is no interval."""
    values = np.sort(np.asarray(window, dtype=float))
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    median = float(np.median(values))
    if n >= 3 and too_correlated(np.asarray(window, dtype=float)):
        return median, math.nan, math.nan
    if n < MIN_N:
        return median, math.nan, math.nan
    below = (np.asarray(window, dtype=float) <= median).astype(float)
    # conservative, as the mean's: the indicator's autocorrelation time, and at least the
    # values' own at the upper bound of their lag-1 autocorrelation
    tau = max(autocorr_times(below)[1], autocorr_times(np.asarray(window, dtype=float))[2])
    effective = math.floor(n / tau)
    if effective >= n:  # independent: the exact binomial ranks
        j = binomial_rank(n, confidence)
        return (median, math.nan, math.nan) if j < 1 else (
            median, float(values[j - 1]), float(values[n - j]))
    if n / tau < MIN_ESS:
        return median, math.nan, math.nan
    # correlated: the normal approximation of the rank on the effective size, widened by
    # Student's t on its degrees of freedom as the mean's interval is
    half = t_critical(max(math.floor(n / tau - 1.0), 1), confidence) * math.sqrt(n * tau) / 2.0
    rank = math.floor(n / 2.0 - half)  # 1-based, outwards
    if rank < 1:
        return median, math.nan, math.nan
    return median, float(values[rank - 1]), float(values[n - rank])


def too_correlated(values: np.ndarray) -> bool:
    """Whether the series is too short for its correlation: the gate of the mean's interval
    (:func:`benchstats.autocorr.mean_interval`: effective sample size under ``MIN_ESS`` at the
    upper bound of the lag-1 autocorrelation, or Geyer's sum over more than half the series).
    The indicator's own autocorrelation time is estimated as poorly there (phi = 0.9, n = 100:
    78% of series got a median interval and those covered 76%), so there is no interval."""
    gamma0, _, gate, width = autocorr_times(values)
    n = len(values)
    return gamma0 > 0 and (n / gate < MIN_ESS or width > MAX_LAG_FRACTION * n)


def count_outliers(window: Sequence[float] | np.ndarray) -> int:
    """Observations beyond ``OUTLIER_MADS`` scaled MADs of the median (with a MAD of 0, every
    observation off the median)."""
    values = np.asarray(window, dtype=float)
    if len(values) == 0:
        return 0
    median = np.median(values)
    spread = MAD_SCALE * np.median(np.abs(values - median))
    return int(np.count_nonzero(np.abs(values - median) > OUTLIER_MADS * spread))


#: Share of a normal sample beyond ``OUTLIER_MADS`` (3) standard deviations.
NORMAL_OUTLIER_RATE = 0.0027
#: Outlier counts whose probability under normal times is below this are heavy tails.
HEAVY_TAIL_ALPHA = 0.01
#: Fewest iterations whose mean gets an interval when the window has heavy tails.
HEAVY_MIN_N = 200


def binomial_tail(n: int, k: int, p: float) -> float:
    """``P(Binomial(n, p) >= k)``."""
    if k <= 0:
        return 1.0
    below = math.fsum(math.exp(math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1)
                               + j * math.log(p) + (n - j) * math.log1p(-p))
                      for j in range(min(k, n + 1)))
    return max(0.0, 1.0 - below)


def heavy_tail_note(window: Sequence[float] | np.ndarray) -> str:
    """Why the window's mean gets no interval for its tails, or ``""``: more outliers
    (``count_outliers``) than normal times would give (binomial tail under
    ``HEAVY_TAIL_ALPHA``) in fewer than ``HEAVY_MIN_N`` iterations. Rare stalls (t3 noise with
    2% stalls of 3-10x) make the mean of a short window swing with the count of stalls it
    caught: the interval covered 64% at 50 iterations and 81% at 100 (docs/reports.md)."""
    n = len(window)
    outliers = count_outliers(window)
    if n >= HEAVY_MIN_N or binomial_tail(n, outliers, NORMAL_OUTLIER_RATE) >= HEAVY_TAIL_ALPHA:
        return ""
    return (f"heavy tails: {outliers} of {n} iterations lie beyond {OUTLIER_MADS:g} scaled MADs "
            f"of the median (normal times would give about {n * NORMAL_OUTLIER_RATE:.1f}); the "
            f"mean of so few is carried by the stalls it happened to catch, and an interval "
            f"of it needs at least {HEAVY_MIN_N} iterations (the median's interval holds)")
