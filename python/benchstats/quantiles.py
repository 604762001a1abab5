"""Distribution-free intervals of a quantile (p50, p90, p99 of request latencies).

For independent draws, the number of values below the true ``q`` quantile is Binomial(n, q):
the order statistics whose ranks bound that count with the confidence asked for bound the
quantile, whatever the distribution (the classical order-statistic interval; the median's is
:func:`benchstats.robust.median_interval`). Ranks come from the exact binomial for n up to
2,000 and from its normal approximation (``statistics.NormalDist``) above.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from benchstats.tdist import CONFIDENCE

EXACT_UP_TO = 2000


@dataclass(frozen=True)
class QuantileInterval:
    """The sample quantile and its interval (NaN bounds when ``n`` is too small)."""

    value: float
    low: float
    high: float


def _binomial_cdf(n: int, q: float) -> list[float]:
    """P(Binomial(n, q) <= k) for k = 0..n."""
    out, total = [], 0.0
    log_q, log_r = math.log(q), math.log1p(-q)
    for k in range(n + 1):
        total += math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                          + k * log_q + (n - k) * log_r)
        out.append(min(1.0, total))
    return out


def ranks(n: int, q: float, confidence: float = CONFIDENCE) -> tuple[int, int] | None:
    """1-based ranks ``(l, u)`` with ``P(x_(l) <= Q_q <= x_(u)) >= confidence``, or None when
    no such pair exists among ``n`` values (too few for that quantile)."""
    tail = (1.0 - confidence) / 2.0
    if n <= EXACT_UP_TO:
        cdf = _binomial_cdf(n, q)
        # x_(l) <= Q  <=>  at least l values below Q: P(B >= l) = 1 - cdf[l-1]
        lows = [k for k in range(1, n + 1) if cdf[k - 1] <= tail]
        highs = [k for k in range(1, n + 1) if 1.0 - cdf[k - 1] <= tail]
        if not lows or not highs:
            return None
        return max(lows), min(highs)
    z = NormalDist().inv_cdf(1.0 - tail)
    spread = z * math.sqrt(n * q * (1.0 - q))
    low, high = math.floor(n * q - spread), math.ceil(n * q + spread) + 1
    if low < 1 or high > n:
        return None
    return low, high


def quantile_interval(values: Sequence[float], q: float,
                      confidence: float = CONFIDENCE) -> QuantileInterval:
    """The ``q`` quantile of ``values`` (linear interpolation, numpy's default) and its
    distribution-free interval."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return QuantileInterval(math.nan, math.nan, math.nan)
    position = q * (n - 1)
    below = math.floor(position)
    above = min(n - 1, below + 1)
    value = ordered[below] + (ordered[above] - ordered[below]) * (position - below)
    found = ranks(n, q, confidence)
    if found is None:
        return QuantileInterval(value, math.nan, math.nan)
    return QuantileInterval(value, ordered[found[0] - 1], ordered[found[1] - 1])
