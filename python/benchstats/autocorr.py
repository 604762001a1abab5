"""The interval of the mean of one autocorrelated series: long-run variance, effective sample
size, integrated autocorrelation time (numpy; no tuning to the workload).

Method: **Geyer's initial monotone sequence estimator** (Geyer 1992, *Practical Markov chain
Monte Carlo*, Statistical Science 7(4)). The variance of the mean of a stationary series is
``sigma2 / n`` with the long-run variance ``sigma2 = gamma_0 + 2 sum_k gamma_k``. The sums of
adjacent pairs of autocovariances, ``Gamma_m = gamma_2m + gamma_2m+1``, are positive and
decreasing for a reversible process; the estimator sums the sample pairs up to the first one
that is not positive, each replaced by the smallest before it. Two corrections for short
series, both conservative:

* the sample autocovariances about the sample mean are each biased down by about
  ``sigma2 / n`` (Priestley 1981, *Spectral Analysis and Time Series*, sec. 5.3), so a sum
  over ``w = 2 L + 1`` lags (``L`` the last lag used) is low by a factor ``1 - w / n``: the
  estimate is divided by it (and when ``w`` is over ``n / 2`` the series is too short for its
  correlation: no interval);
* ``tau = sigma2 / gamma_0`` is at least 1: negative correlation (alternating iteration
  times) is not trusted to narrow the interval.

``ess = n / tau`` and ``autocorr_time = tau`` are the point estimates. The **interval** is
built on a conservative autocorrelation time ``tau_w``, the larger of ``tau`` and the AR(1)
time at the one-sided 99% upper bound of the lag-1 autocorrelation (Bartlett's standard
error), because the intervals that undercover are exactly those of series whose correlation
looked smaller than it was: ``mean +- t(df) sqrt(tau_w s2 / n)`` with ``df = n / tau_w - 1`` (fewer for heavy tails:
:func:`kurtosis_df`, since issue 30)
and the sample variance about the sample mean divided by ``1 - tau_w / n`` (it is low by
about ``tau / n`` of itself). There is **no interval** under ``MIN_N`` (50) iterations, when ``n / tau_w`` is under
``MIN_ESS`` (2: one degree of freedom), when Geyer's sum needs more than half the series, or
when the interval would reach zero. A higher floor selects the series whose correlation was
underestimated: gated at 10 effective samples, AR(1) phi = 0.9 at n = 100 got an interval
in 1% of series and those covered 46%; with the conservative width, the floor of 2 and at
least ``MIN_N`` iterations, 19% get one and those cover 90% (``scripts/sim_series.py``,
docs/measurements/report-statistics.md). The price is width
on independent series: 31% wider than the exact t interval at n = 100, 14% at n = 400, 8% at
n = 1000 (``scripts/sim_series.py``), coverage 97-98% instead of 95%.
:mod:`benchstats.steady` withholds the interval further (a window that is not steady, heavy
tails in a short window).
The estimator is O(n log n) (autocovariances by FFT).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchstats.tdist import CONFIDENCE, t_critical

#: Fewest effective samples, at the conservative autocorrelation time, for an interval of the
#: mean (justified in the module's docstring and docs/measurements/report-statistics.md).
MIN_ESS = 2.0
#: Fewest iterations for an interval of the mean, whatever they look like: fewer cannot show
#: a correlation time of 20 (AR(1) phi = 0.9), and the few such series that look independent
#: get an interval that covers less than it says (docs/measurements/report-statistics.md).
MIN_N = 50
#: The short reasons an interval is withheld, as ``results.ci_withheld`` gives them (the
#: notes say more): these four here, and :mod:`benchstats.steady` adds "not steady",
#: "heavy tails" and "not finite".
TOO_FEW, TOO_CORRELATED, TOO_SPREAD, NO_ITERATIONS = (
    "too few iterations", "too correlated", "too spread", "no iterations")
#: A sum over more lags than this fraction of the series is not trusted (no interval).
MAX_LAG_FRACTION = 0.5
#: The interval's conservative autocorrelation time uses this one-sided upper bound of the
#: lag-1 autocorrelation (z of 99%).
GATE_Z = 2.326


@dataclass(frozen=True)
class MeanInterval:
    """The mean of a series, its long-run variance and its 95% interval (or why none)."""

    n: int
    mean: float
    sigma2: float           # long-run variance (NaN when it cannot be estimated)
    autocorr_time: float    # integrated autocorrelation time tau = sigma2 / gamma_0 (>= 1)
    ess: float              # effective sample size n / tau
    ess_low: float          # n / tau_w, the conservative count the interval is built on
    low: float              # NaN when there is no interval (``note`` says why)
    high: float
    note: str = ""
    reason: str = ""        # the note in a few words (``REASONS``); "" when there is an interval


def autocovariance(values: np.ndarray) -> np.ndarray:
    """Sample autocovariances about the mean, divisor ``n``, lags ``0 .. n-1`` (by FFT)."""
    n = len(values)
    centred = values - values.mean()
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, size)
    return np.fft.irfft(spectrum * np.conj(spectrum), size)[:n] / n


def geyer_variance(values: np.ndarray) -> tuple[float, float, int]:
    """Geyer's initial monotone sequence estimate: ``(sigma2, gamma_0, last lag used)``;
    ``sigma2`` is uncorrected (see the module's docstring for the corrections)."""
    acov = autocovariance(values)
    gamma0 = float(acov[0])
    pairs = len(acov) // 2
    if gamma0 <= 0 or pairs == 0:
        return 0.0, max(gamma0, 0.0), 0
    sums = acov[0:2 * pairs:2] + acov[1:2 * pairs:2]
    positive = sums > 0
    count = int(np.argmin(positive)) if not positive.all() else pairs
    count = max(count, 1)  # Gamma_0 = gamma_0 + gamma_1 is kept even when not positive
    monotone = np.minimum.accumulate(sums[:count])
    return float(-gamma0 + 2.0 * monotone.sum()), gamma0, 2 * count - 1


def _ar1(r: float) -> float:
    return math.inf if r >= 1.0 else (1.0 + r) / (1.0 - r)


def ar1_times(values: np.ndarray, gamma0: float) -> tuple[float, float]:
    """The autocorrelation time ``(1 + r) / (1 - r)`` of an AR(1) with the lag-1
    autocorrelation ``r`` of ``values``, corrected for its small-sample bias
    ``-(1 + 3 r) / n`` (Marriott & Pope 1954, Biometrika 41), and the same at ``r``'s upper
    bound ``r + GATE_Z sqrt((1 - r^2) / n)`` (Bartlett's standard error); ``inf`` when ``r >= 1``."""
    n = len(values)
    centred = values - values.mean()
    r = float(np.dot(centred[:-1], centred[1:])) / n / gamma0
    r = min(r + (1.0 + 3.0 * r) / n, 1.0)
    upper = r + GATE_Z * math.sqrt(max(1.0 - r * r, 0.0) / n)
    return _ar1(r), _ar1(upper)


def autocorr_times(values: np.ndarray) -> tuple[float, float, float, int]:
    """``(gamma_0, tau, tau_gate, width)``: the variance, the autocorrelation time (the larger
    of Geyer's, bias-corrected, and the AR(1)'s, at least 1), the larger one the gate of the
    interval uses (the AR(1)'s at the upper bound of the lag-1 autocorrelation) and the number
    of lags Geyer's sum used (``2 L + 1``). ``gamma_0 = 0`` for a constant series."""
    raw, gamma0, last_lag = geyer_variance(values)
    n = len(values)
    if gamma0 <= 0:
        return 0.0, 1.0, 1.0, 1
    width = 2 * last_lag + 1
    ar1, ar1_upper = ar1_times(values, gamma0)
    tau = max(raw / gamma0 / max(1.0 - width / n, 1e-9), ar1, 1.0)
    return gamma0, tau, max(tau, ar1_upper), width


def _too_short(n: int, mean: float, note: str, reason: str) -> MeanInterval:
    return MeanInterval(n, mean, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan,
                        note, reason)


def _shortfall(n: int, tau: float, gate: float, width: int, min_ess: float,
               least: int = MIN_N) -> str:
    if not math.isfinite(gate):
        return (f"series too short for its correlation: the {n} iterations have an effective "
                f"sample size of 0.0 at the upper bound of their lag-1 autocorrelation (it "
                f"reaches 1: they may move like a trend; {n / tau:.1f} at the point estimate), "
                f"and an interval needs {min_ess:g} there; run several times longer")
    want = math.ceil(max(min_ess * gate, width / MAX_LAG_FRACTION, n + 1, least))
    if n / gate < min_ess:
        why = (f"the {n} iterations have an effective sample size of {n / gate:.1f} at the "
               f"upper bound of their lag-1 autocorrelation (autocorrelation time {gate:.1f}; "
               f"{n / tau:.1f} at the point estimate {tau:.1f}), and an interval needs "
               f"{min_ess:g} there")
    else:
        why = (f"the autocorrelation of the {n} iterations reaches lag {(width - 1) // 2}, over "
               f"{MAX_LAG_FRACTION:g} of the series (effective sample size {n / tau:.1f})")
    return (f"series too short for its correlation: {why}; about {want} iterations would "
            "give one")


def kurtosis_df(values: np.ndarray) -> float:
    """Degrees of freedom of the sample variance of ``values`` for their tails: ``(n - 1) /
    (1 + g2 / 2)`` with ``g2`` the sample excess kurtosis, at least 0 (Box 1953, *Non-normality
    and tests on variances*, Biometrika 40: a variance estimate behaves like a chi-square on
    that many degrees of freedom). A few stalls carry the variance of a short window, which is
    then known from those few: the t quantile must say so (t3 noise with 2% stalls of 3-10x
    at n = 400 covered 94% on ``n / tau - 1`` degrees of freedom, 98% on these). Normal times
    are unchanged (``g2`` about 0)."""
    centred = values - values.mean()
    m2 = float(np.mean(centred * centred))
    if m2 <= 0:
        return math.inf
    excess = max(float(np.mean(centred ** 4)) / (m2 * m2) - 3.0, 0.0)
    return (len(values) - 1) / (1.0 + excess / 2.0)


def mean_interval(window: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE,
                  min_ess: float = MIN_ESS, df_cap: float = math.inf,
                  least: int = MIN_N) -> MeanInterval:
    """The mean of ``window``, its effective sample size and its interval, or the reason why
    there is no interval (``note``: the series is too short for its correlation, and roughly
    how many iterations would give one). ``df_cap``: the interval's degrees of freedom at most
    this (:func:`benchstats.robust.clustered_df`: stalls that come in runs). ``least``: the
    fewest iterations the caller's own rules give an interval at (:mod:`benchstats.steady`:
    ``robust.TAIL_MIN_N``), so a note never names a count that would still be withheld (issue
    56: 'needs at least 50' for a window the tail rule withholds under 80)."""
    values = np.asarray(window, dtype=float)
    n = len(values)
    if n == 0:
        return _too_short(0, math.nan, "no iterations", NO_ITERATIONS)
    mean = float(values.mean())
    if n < MIN_N:
        why = "fewer cannot show their own correlation"
        if least > MIN_N:
            why = (f"fewer than {MIN_N} cannot show their own correlation, fewer than {least} "
                   "cannot judge their tail unless slow iterations caught carry the spread")
        return _too_short(n, mean, f"{n} iterations: an interval of the mean needs at least "
                          f"{max(MIN_N, least)} ({why})", TOO_FEW)
    gamma0, tau, gate, width = autocorr_times(values)
    if gamma0 <= 0:  # every value equal: the mean is exact
        return MeanInterval(n, mean, 0.0, 1.0, float(n), float(n), mean, mean)
    # a trend (infinite autocorrelation time) has no effective sample size: NaN, not n / inf
    sigma2, ess, ess_low = tau * gamma0, (n / tau if math.isfinite(tau) else math.nan), n / gate
    if width > MAX_LAG_FRACTION * n or ess_low < min_ess:
        note = _shortfall(n, tau, gate, width, min_ess, least)
        return MeanInterval(n, mean, sigma2, tau, ess, ess_low, math.nan, math.nan, note,
                            TOO_CORRELATED)
    # the sample variance about the sample mean is low by about tau / n of itself
    variance = gate * gamma0 / (1.0 - gate / n)
    df = max(min(math.floor(ess_low - 1.0), math.floor(kurtosis_df(values)),
                 math.floor(min(df_cap, float(n)))), 1)
    half = t_critical(df, confidence) * math.sqrt(variance / n)
    if half >= mean > 0:  # a normal-theory interval reaching zero describes nothing real
        note = (f"interval would reach zero (half-width {half:.4g} >= mean {mean:.4g}): the "
                f"times are too spread for {n} iterations")
        return MeanInterval(n, mean, sigma2, tau, ess, ess_low, math.nan, math.nan, note,
                            TOO_SPREAD)
    return MeanInterval(n, mean, sigma2, tau, ess, ess_low, mean - half, mean + half)
