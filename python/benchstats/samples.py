"""Statistics across runs (the reports' repeated measurements): confidence intervals, the
coefficient of variation, Welch's confidence interval of a ratio of geometric means, and the
runs a comparison needs.

Student-t quantiles come from :mod:`benchstats.tdist` (one definition, shared with the
benchmark's series analysis). Pure functions on numbers; nothing here knows about logs or
tables.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from benchstats.tdist import CONFIDENCE, t_critical, t_quantile

__all__ = ["MAX_RUNS", "Ratio", "Summary", "runs_for_power", "summarize", "welch_log_ratio"]


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
    """A ratio with its confidence interval and degrees of freedom (NaN when unknown)."""

    ratio: float
    ci_low: float
    ci_high: float
    df: float


def _log_summaries(base: Sequence[float], new: Sequence[float]) -> tuple[Summary, Summary]:
    """Summaries of the logs of two samples of positive values (run times)."""
    return summarize([math.log(v) for v in base]), summarize([math.log(v) for v in new])


def welch_log_ratio(base: Sequence[float], new: Sequence[float],
                    confidence: float = CONFIDENCE) -> Ratio:
    """``mean(log base) - mean(log new)`` as a ratio: the geometric-mean ratio base/new with
    its Welch-t confidence interval (NaN interval below two values a side or a value <= 0).

    Run times are positive and their spread is multiplicative, so the logs are the natural
    scale; the interval of the difference of mean logs, exponentiated, bounds the ratio.
    """
    if not base or not new or min(base) <= 0 or min(new) <= 0:
        return Ratio(math.nan, math.nan, math.nan, math.nan)
    sb, sn = _log_summaries(base, new)
    ratio = math.exp(sb.mean - sn.mean)
    if sb.n < 2 or sn.n < 2:
        return Ratio(ratio, math.nan, math.nan, math.nan)
    var_b, var_n = sb.std ** 2 / sb.n, sn.std ** 2 / sn.n
    total = var_b + var_n
    if total == 0:
        return Ratio(ratio, ratio, ratio, math.inf)
    df = total ** 2 / (var_b ** 2 / (sb.n - 1) + var_n ** 2 / (sn.n - 1))
    margin = t_critical(df, confidence) * math.sqrt(total)
    return Ratio(ratio, ratio * math.exp(-margin), ratio * math.exp(margin), df)


def runs_for_power(base: Sequence[float], new: Sequence[float], effect: float,
                   margin: float = 0.0, power: float = 0.8,
                   confidence: float = CONFIDENCE) -> int | None:
    """Runs per side that would put the interval beyond ``1 + margin`` for a true change of
    ``effect`` (relative, e.g. 0.05) with ``power``, from the pooled spread of the log run
    times; ``None`` without two values a side or when ``effect`` is not above ``margin``.

    The normal-approximation formula n = 2 (z_a + z_b)^2 s^2 / d^2, with Student-t quantiles
    at n's own degrees of freedom (2n - 2) in place of the normal ones: with the few runs a
    comparison has, the normal quantiles promise more power than the t interval delivers.
    """
    if len(base) < 2 or len(new) < 2 or effect <= margin or min(*base, *new) <= 0:
        return None
    sb, sn = _log_summaries(base, new)
    pooled = ((sb.n - 1) * sb.std ** 2 + (sn.n - 1) * sn.std ** 2) / (sb.n + sn.n - 2)
    distance = math.log1p(effect) - math.log1p(margin)
    z = NormalDist()
    runs = _runs(z.inv_cdf(0.5 + confidence / 2) + z.inv_cdf(power), pooled, distance)
    while runs < MAX_RUNS:
        df = 2 * runs - 2
        if _runs(t_critical(df, confidence) + t_quantile(power, df), pooled, distance) <= runs:
            break
        runs += 1
    return runs


#: ``runs_for_power`` stops counting here (a difference that needs more is not worth it).
MAX_RUNS = 1000


def _runs(quantiles: float, variance: float, distance: float) -> int:
    """n = 2 (quantiles)^2 variance / distance^2, at least 2."""
    return max(2, math.ceil(2 * quantiles ** 2 * variance / distance ** 2))
