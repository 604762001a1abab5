"""Comparisons of two sets of runs, and verdicts controlled over a whole table.

A comparison is a difference of mean log run times (a ratio of geometric means) with its
standard error and degrees of freedom (:class:`LogDiff`): Welch's (unpaired, any number of runs
a side) or paired by round (the runs of one round of an interleaved session), or their trimmed
forms (Yuen's t on trimmed mean log times; the trimmed mean of the rounds' log ratios), which a
few slow runs do not disarm (``dlbs bisect``: docs/bisect.md). The run is the
unit: one number per process, as Kalibera & Jones (2013, *Rigorous benchmarking in reasonable
time*, ISMM) put repetitions at the level where the variance is. A variance known from outside
the runs (between sessions: the two sides were measured apart) is added to each side.

A verdict is a test of "the change is within +-band" (Criterion's rule: the whole interval
beyond the band): :func:`band_p_value` is the smallest error level at which the two-sided
interval lies outside the band. Over a table the p-values are adjusted by Benjamini & Hochberg
(1995, JRSS B 57) or Holm (1979, Scand. J. Statist. 6) in :func:`judge`, which also gives the
one confidence level at which every cell's interval agrees with its verdict (Benjamini &
Yekutieli 2005, JASA 100: false-coverage-statement-rate intervals after BH selection).
Pure functions on numbers; nothing here knows about logs or tables.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from benchstats.samples import Ratio, summarize
from benchstats.tdist import t_cdf, t_critical, t_quantile

__all__ = [
    "CORRECTIONS",
    "TRIM",
    "Judgement",
    "LogDiff",
    "band_p_value",
    "interval",
    "judge",
    "paired_log_diff",
    "paired_trimmed_log_diff",
    "ratio_of_means",
    "runs_needed",
    "trimmed_log_diff",
    "welch_log_diff",
]

#: Multiple-comparison corrections: Benjamini-Hochberg (false discovery rate), Holm
#: (family-wise error rate), none (each cell at ``alpha``).
CORRECTIONS: tuple[str, ...] = ("bh", "holm", "none")
#: Share of each side's runs trimmed from each end by the trimmed comparisons: Wilcox's
#: (2012, *Introduction to Robust Estimation and Hypothesis Testing*, 3rd ed., sec. 5.3)
#: default, robust to a few slow runs while losing little power on normal data.
TRIM = 0.2
#: Above these degrees of freedom the normal distribution stands in for Student's t.
_NORMAL_DF = 1e6


@dataclass(frozen=True)
class LogDiff:
    """``mean(log base) - mean(log new)`` (> 0: new is faster), its standard error and
    degrees of freedom (``nan`` when unknown: fewer than two values a side or pairs)."""

    diff: float
    se: float
    df: float


def _logs(values: Sequence[float]) -> list[float]:
    return [math.log(v) for v in values]


def welch_log_diff(base: Sequence[float], new: Sequence[float],
                   extra_var: float = 0.0) -> LogDiff:
    """Welch's difference of mean log run times; ``extra_var`` (a variance on the log scale
    known from outside, e.g. between sessions) is added to each side's mean with infinite
    degrees of freedom (Welch-Satterthwaite over the estimated parts only)."""
    nan = math.nan
    if not base or not new or min(*base, *new) <= 0:
        return LogDiff(nan, nan, nan)
    sb, sn = summarize(_logs(base)), summarize(_logs(new))
    diff = sb.mean - sn.mean
    if sb.n < 2 or sn.n < 2:
        return LogDiff(diff, nan, nan)
    var_b, var_n = sb.std ** 2 / sb.n, sn.std ** 2 / sn.n
    total = var_b + var_n + 2.0 * extra_var
    estimated = var_b ** 2 / (sb.n - 1) + var_n ** 2 / (sn.n - 1)
    df = total ** 2 / estimated if estimated > 0 else math.inf
    return LogDiff(diff, math.sqrt(total), df)


def paired_log_diff(pairs: Sequence[tuple[float, float]], extra_var: float = 0.0) -> LogDiff:
    """The mean of per-pair log ratios (base, new of one round) with the paired t's standard
    error and ``pairs - 1`` degrees of freedom (Student 1908)."""
    nan = math.nan
    if not pairs or min(min(p) for p in pairs) <= 0:
        return LogDiff(nan, nan, nan)
    ratios = summarize([math.log(b) - math.log(n) for b, n in pairs])
    if ratios.n < 2:
        return LogDiff(ratios.mean, nan, nan)
    var = ratios.std ** 2 / ratios.n
    total = var + 2.0 * extra_var
    df = (ratios.n - 1) * total ** 2 / var ** 2 if var > 0 else math.inf
    return LogDiff(ratios.mean, math.sqrt(total), df)


def _trimmed(values: Sequence[float], trim: float) -> tuple[float, float, int]:
    """The ``trim``-trimmed mean of ``values``, their winsorized variance (``n - 1`` in the
    denominator) and the count ``h`` left after trimming ``floor(trim n)`` from each end."""
    ordered = sorted(values)
    n = len(ordered)
    g = math.floor(trim * n)
    kept = ordered[g:n - g]
    winsorized = [ordered[g]] * g + kept + [ordered[n - g - 1]] * g
    centre = math.fsum(winsorized) / n
    spread = math.fsum((v - centre) ** 2 for v in winsorized) / (n - 1) if n > 1 else math.nan
    return math.fsum(kept) / len(kept), spread, len(kept)


def trimmed_log_diff(base: Sequence[float], new: Sequence[float], trim: float = TRIM,
                     extra_var: float = 0.0) -> LogDiff:
    """Yuen's (1974, Biometrika 61) difference of ``trim``-trimmed mean log run times with its
    standard error and Welch-type degrees of freedom: each side's squared error is ``(n - 1)
    s_w^2 / (h (h - 1))``, ``s_w^2`` its winsorized variance and ``h`` the runs kept. A few
    slow runs are trimmed away instead of widening the interval (Welch's t on the same runs
    loses most of its power to them); with ``floor(trim n) = 0`` it is Welch's t. On log
    times with symmetric noise the trimmed means' difference is the log ratio of the sides'
    typical run times. ``extra_var`` as :func:`welch_log_diff`."""
    nan = math.nan
    if not 0.0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim}")
    if not base or not new or min(*base, *new) <= 0:
        return LogDiff(nan, nan, nan)
    (mean_b, var_b, h_b), (mean_n, var_n, h_n) = (_trimmed(_logs(v), trim) for v in (base, new))
    diff = mean_b - mean_n
    if h_b < 2 or h_n < 2:
        return LogDiff(diff, nan, nan)
    d_b = (len(base) - 1) * var_b / (h_b * (h_b - 1))
    d_n = (len(new) - 1) * var_n / (h_n * (h_n - 1))
    total = d_b + d_n + 2.0 * extra_var
    estimated = d_b ** 2 / (h_b - 1) + d_n ** 2 / (h_n - 1)
    df = total ** 2 / estimated if estimated > 0 else math.inf
    return LogDiff(diff, math.sqrt(total), df)


def paired_trimmed_log_diff(pairs: Sequence[tuple[float, float]], trim: float = TRIM,
                            extra_var: float = 0.0) -> LogDiff:
    """The ``trim``-trimmed mean of per-pair log ratios (base, new of one round) with Tukey &
    McLaughlin's (1963, Sankhya A 25) standard error, ``s_w^2 / ((1 - 2 trim)^2 n)`` in the
    exact-count form ``(n - 1) s_w^2 / (h (h - 1))`` that :func:`trimmed_log_diff` uses, on
    ``h - 1`` degrees of freedom; with ``floor(trim n) = 0`` it is the paired t."""
    nan = math.nan
    if not 0.0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim}")
    if not pairs or min(min(p) for p in pairs) <= 0:
        return LogDiff(nan, nan, nan)
    mean, var, kept = _trimmed([math.log(b) - math.log(n) for b, n in pairs], trim)
    if kept < 2:
        return LogDiff(mean, nan, nan)
    own = (len(pairs) - 1) * var / (kept * (kept - 1))
    total = own + 2.0 * extra_var
    df = (kept - 1) * total ** 2 / own ** 2 if own > 0 else math.inf
    return LogDiff(mean, math.sqrt(total), df)


def _critical(df: float, confidence: float) -> float:
    if df > _NORMAL_DF:
        return NormalDist().inv_cdf(0.5 + confidence / 2.0)
    return t_critical(df, confidence)


def interval(d: LogDiff, confidence: float) -> Ratio:
    """The ratio base/new (geometric means) with its two-sided ``confidence`` interval."""
    if math.isnan(d.diff):
        return Ratio(math.nan, math.nan, math.nan, math.nan)
    ratio = math.exp(d.diff)
    if math.isnan(d.se):
        return Ratio(ratio, math.nan, math.nan, math.nan)
    if d.se == 0:
        return Ratio(ratio, ratio, ratio, d.df)
    margin = _critical(d.df, confidence) * d.se
    return Ratio(ratio, math.exp(d.diff - margin), math.exp(d.diff + margin), d.df)


def band_p_value(d: LogDiff, band: float) -> float:
    """The smallest error level at which the two-sided interval of ``d`` lies wholly outside
    ``1 +/- band`` (on the log scale: beyond +-log(1 + band)); ``nan`` without an interval.

    It is the p-value of "the change is within the band" against "beyond it, on the side
    seen": 2 P(T > (|diff| - log(1 + band)) / se), at most 1.
    """
    if math.isnan(d.se) or math.isnan(d.diff):
        return math.nan
    distance = abs(d.diff) - math.log1p(band)
    if d.se == 0:
        return 0.0 if distance > 0 else 1.0
    x = distance / d.se
    tail = 1.0 - (NormalDist().cdf(x) if d.df > _NORMAL_DF else t_cdf(x, d.df))
    return min(1.0, 2.0 * tail)


@dataclass(frozen=True)
class Judgement:
    """Which cells get a verdict, and the confidence level of the intervals that agree with
    it (every judged cell's interval at this level lies beyond the band exactly when it is
    rejected)."""

    rejected: list[bool]
    confidence: float


def judge(p_values: Sequence[float], alpha: float = 0.05, correction: str = "bh") -> Judgement:
    """Reject "within the band" for the cells whose p-values survive ``correction`` at
    ``alpha``; ``nan`` p-values (cells without an interval) are not judged and not counted.

    - ``bh``: Benjamini-Hochberg step-up: R = max{i: p_(i) <= i alpha / m}; the intervals
      are at 1 - max(R, 1) alpha / m (Benjamini & Yekutieli 2005's FCR-adjusted level; every
      cell not selected has p > R alpha / m, so its interval reaches into the band).
    - ``holm``: Holm's step-down: reject while p_(i) <= alpha / (m - i + 1); the intervals are
      at 1 - alpha / (m - max(R, 1) + 1), the level of the last step taken.
    - ``none``: each cell at ``alpha``.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, not {correction!r}")
    judged = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    m, rejected = len(judged), [False] * len(p_values)
    if correction == "none" or m == 0:
        level = alpha
        count = sum(p <= alpha for p, _ in judged)
    elif correction == "bh":
        count = max((k for k, (p, _) in enumerate(judged, 1) if p <= k * alpha / m), default=0)
        level = max(count, 1) * alpha / m
    else:
        count = next((k - 1 for k, (p, _) in enumerate(judged, 1)
                      if p > alpha / (m - k + 1)), m)
        level = alpha / (m - max(count, 1) + 1)
    for p, i in judged:
        rejected[i] = p <= level if correction == "none" else p <= level and count > 0
    return Judgement(rejected, 1.0 - level)


def runs_needed(d: LogDiff, base_var: float, new_var: float, effect: float, band: float,
                confidence: float, power: float = 0.8, extra_var: float = 0.0,
                most: int = 1000) -> int | None:
    """A planning figure: runs per side that would put the interval (at ``confidence``) beyond
    ``1 + band`` with ``power`` if the true change were ``effect`` and the runs varied as the
    observed ones (``base_var``, ``new_var``: variances of the log run times) -- the normal
    formula with Student-t quantiles at Welch's degrees of freedom for n runs a side. ``None``
    when ``effect`` is not beyond the band, no spread is known, or ``extra_var`` (a variance
    that more runs do not shrink) alone keeps the interval in the band; capped at ``most``.
    """
    distance = math.log1p(effect) - math.log1p(band)
    if distance <= 0 or math.isnan(base_var) or math.isnan(new_var) or math.isnan(d.diff):
        return None

    def settles(n: int) -> bool:
        var_b, var_n = base_var / n, new_var / n
        estimated = (var_b ** 2 + var_n ** 2) / (n - 1)
        total = var_b + var_n + 2.0 * extra_var
        df = total ** 2 / estimated if estimated > 0 else math.inf
        df = math.floor(df * 10.0) / 10.0 if df < _NORMAL_DF else df  # cached quantiles;
        # rounding down is the cautious side (wider quantiles)
        return (_critical(df, confidence) + _one_sided(df, power)) * math.sqrt(total) <= distance

    if not settles(most):
        return None
    low, high = 1, most  # settles(high); the smallest n that settles is in (low, high]
    while high - low > 1:  # more runs never widen the interval: bisect
        middle = (low + high) // 2
        low, high = (low, middle) if settles(middle) else (middle, high)
    return high


def _one_sided(df: float, p: float) -> float:
    return NormalDist().inv_cdf(p) if df > _NORMAL_DF else t_quantile(p, df)


def ratio_of_means(mean_a: float, sd_a: float, n_a: int, mean_b: float, sd_b: float, n_b: int,
                   confidence: float = 0.95) -> Ratio:
    """``mean_a / mean_b`` of two independent samples of runs with its interval on the log
    scale by the delta method (var log mean ~ CV^2 / n) and Welch-Satterthwaite degrees of
    freedom; ``nan`` bounds below two runs a side or without a spread (Welch 1947)."""
    nan = math.nan
    if not (mean_a > 0 and mean_b > 0):
        return Ratio(nan, nan, nan, nan)
    ratio = mean_a / mean_b
    if n_a < 2 or n_b < 2 or math.isnan(sd_a) or math.isnan(sd_b):
        return Ratio(ratio, nan, nan, nan)
    var_a, var_b = (sd_a / mean_a) ** 2 / n_a, (sd_b / mean_b) ** 2 / n_b
    total = var_a + var_b
    estimated = var_a ** 2 / (n_a - 1) + var_b ** 2 / (n_b - 1)
    df = total ** 2 / estimated if estimated > 0 else math.inf
    return interval(LogDiff(math.log(ratio), math.sqrt(total), df), confidence)
