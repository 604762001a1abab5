"""Student's t distribution without scipy: CDF, quantiles and two-sided critical values.

The t CDF is computed from the regularised incomplete beta function (continued fraction,
Lentz's method) and inverted by Newton's method inside a bracket; quantiles are cached per
degrees of freedom. Only the standard library: the benchmark (in a container with only torch) and the ``dlbs`` reports
share this one definition (:mod:`benchstats`).
"""
from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

#: Confidence level of every interval (benchmark facts and reports).
CONFIDENCE = 0.95


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (Numerical Recipes' ``betacf``)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((qam + 2 * m) * (a + 2 * m)),
                    -(a + m) * (qab + m) * x / ((a + 2 * m) * (qap + 2 * m))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b) for 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student-t cumulative distribution function with ``df`` degrees of freedom."""
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def _t_density(t: float, df: float) -> float:
    """Student-t probability density with ``df`` degrees of freedom."""
    log_scale = (math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0)
                 - 0.5 * math.log(df * math.pi))
    return math.exp(log_scale - (df + 1.0) / 2.0 * math.log1p(t * t / df))


def _first_guess(p: float, df: float) -> float:
    """The normal quantile with the first two terms of its expansion in 1/df (Cornish-Fisher,
    as in Hill's algorithm 396): within a few percent for df >= 3."""
    z = NormalDist().inv_cdf(p)
    return (z + (z ** 3 + z) / (4.0 * df)
            + (5.0 * z ** 5 + 16.0 * z ** 3 + 3.0 * z) / (96.0 * df * df))


@lru_cache(maxsize=65536)
def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile (0.5 < p < 1) of Student's t with ``df`` > 0 degrees of freedom.

    Newton's method on the CDF inside a bracket that always holds the root (a step that
    would leave it bisects instead), from the normal approximation: 2-4 CDF evaluations where
    bisection alone took about 40 (the comparison's planning figure asks for thousands)."""
    if not 0.5 <= p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0.5 <= p < 1 and df > 0, got p={p}, df={df}")
    if p == 0.5:
        return 0.0
    low, high = 0.0, 2.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    t = _first_guess(p, df)
    if not low < t < high:
        t = 0.5 * (low + high)
    for _ in range(200):
        error = t_cdf(t, df) - p
        if error < 0.0:
            low = t
        else:
            high = t
        density = _t_density(t, df)
        step = error / density if density > 0.0 else math.inf
        candidate = t - step
        if not low < candidate < high:
            candidate = 0.5 * (low + high)
        if abs(candidate - t) < 1e-13 * max(1.0, abs(t)) or high - low < 1e-13 * max(1.0, high):
            return candidate
        t = candidate
    return t


def t_critical(df: float, confidence: float = CONFIDENCE) -> float:
    """Two-sided critical value: half-width of a ``confidence`` interval in standard errors."""
    return t_quantile(round(0.5 + confidence / 2.0, 12), float(df))
