"""Statistics of repeated measurements without scipy: Student-t quantiles, confidence intervals,
the coefficient of variation, and Welch's confidence interval of a ratio of two means.

The t quantile inverts the Student-t CDF, which is computed from the regularised incomplete beta
function (continued fraction, Lentz's method), by bisection; results are cached per degrees of
freedom. Pure functions on numbers; nothing here knows about logs or tables.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

#: Confidence level of every interval in the reports.
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


@lru_cache(maxsize=4096)
def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile (0.5 < p < 1) of Student's t with ``df`` > 0 degrees of freedom."""
    if not 0.5 <= p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0.5 <= p < 1 and df > 0, got p={p}, df={df}")
    low, high = 0.0, 2.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(100):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if t_cdf(mid, df) < p else (low, mid)
        if high - low < 1e-10 * max(1.0, high):
            break
    return 0.5 * (low + high)


def t_critical(df: float, confidence: float = CONFIDENCE) -> float:
    """Two-sided critical value: half-width of a ``confidence`` interval in standard errors."""
    return t_quantile(round(0.5 + confidence / 2.0, 12), float(df))


@dataclass(frozen=True)
class Summary:
    """Statistics of one sample: size, mean, median, std, CI of the mean, CV."""

    n: int
    mean: float
    median: float
    std: float
    ci_low: float
    ci_high: float
    cv: float


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """Summarise a sample; with one value the spread and interval are NaN."""
    n = len(values)
    if n == 0:
        nan = math.nan
        return Summary(0, nan, nan, nan, nan, nan, nan)
    ordered = sorted(values)
    mean = sum(ordered) / n
    half = n // 2
    median = ordered[half] if n % 2 else 0.5 * (ordered[half - 1] + ordered[half])
    if n < 2:
        return Summary(n, mean, median, math.nan, math.nan, math.nan, math.nan)
    std = math.sqrt(sum((v - mean) ** 2 for v in ordered) / (n - 1))
    margin = t_critical(n - 1, confidence) * std / math.sqrt(n)
    cv = std / mean if mean else math.nan
    return Summary(n, mean, median, std, mean - margin, mean + margin, cv)


@dataclass(frozen=True)
class Ratio:
    """``new / base`` ratio of two means with its confidence interval (NaN when unknown)."""

    ratio: float
    ci_low: float
    ci_high: float
    df: float


def _log_mean_variance(s: Summary) -> float:
    """Variance of log(mean) by the delta method: std^2 / (n * mean^2)."""
    return (s.std ** 2) / (s.n * s.mean ** 2)


def ratio_of_means(base: Summary, new: Summary, confidence: float = CONFIDENCE) -> Ratio:
    """Welch-t confidence interval of ``new.mean / base.mean``, computed on the log scale."""
    if not (base.mean > 0 and new.mean > 0):
        return Ratio(math.nan, math.nan, math.nan, math.nan)
    ratio = new.mean / base.mean
    if base.n < 2 or new.n < 2 or math.isnan(base.std) or math.isnan(new.std):
        return Ratio(ratio, math.nan, math.nan, math.nan)
    var_b, var_n = _log_mean_variance(base), _log_mean_variance(new)
    total = var_b + var_n
    if total == 0:
        return Ratio(ratio, ratio, ratio, math.inf)
    # Welch-Satterthwaite degrees of freedom of the two variance components.
    df = total ** 2 / (var_b ** 2 / (base.n - 1) + var_n ** 2 / (new.n - 1))
    margin = t_critical(df, confidence) * math.sqrt(total)
    log_ratio = math.log(ratio)
    return Ratio(ratio, math.exp(log_ratio - margin), math.exp(log_ratio + margin), df)
