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
* **The tail of a short window** (issue 56): whether the mean of a window under 200
  iterations gets an interval, judged by its tail: given when a few caught stalls carry the
  variance (:func:`carried_by_few`), withheld when the window is too short to judge its tail
  (:func:`short_tail_note`) or its tail is heavy without such stalls (:func:`heavy_tail_note`:
  outliers counted on the log of the times, fast ones on the times themselves). From 200 to
  799 iterations a heavy-tailed window that caught no stall is withheld too
  (:func:`clean_heavy_note`: stalls in bursts are rarer events), and stalls that come in
  runs are counted in events (:func:`clustered_df`; issue 56, the third review).
  Proven by ``benchmarks/bench_short_run_stalls.py`` (docs/reliability.md).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from benchstats.autocorr import MAX_LAG_FRACTION, MIN_ESS, MIN_N, autocorr_times, kurtosis_df
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


def count_outliers(window: Sequence[float] | np.ndarray, side: int = 0,
                   mads: float = OUTLIER_MADS) -> int:
    """Observations beyond ``mads`` scaled MADs of the median (with a MAD of 0, every
    observation off the median); ``side`` -1 counts the fast ones only, 1 the slow ones."""
    values = np.asarray(window, dtype=float)
    if len(values) == 0:
        return 0
    median = np.median(values)
    spread = MAD_SCALE * np.median(np.abs(values - median))
    off = values - median if side == 0 else side * (values - median)
    return int(np.count_nonzero((np.abs(off) if side == 0 else off) > mads * spread))


#: Share of a normal sample beyond ``OUTLIER_MADS`` (3) standard deviations.
NORMAL_OUTLIER_RATE = 0.0027
#: Share of outliers a window's tail may show in a short window without its mean being in
#: doubt, counted on the log of the times: that of normal times (issue 56, second pass). It
#: was 1% on the times themselves, where lognormal times of CV 30% show about 1.7% and of CV
#: 53% about 5% (all slow: they lost half their short intervals); on the log scale lognormal
#: times are normal, and moderate outliers above the normal rate say the noise has heavy
#: tails (t3 noise without a stall passed the 1% test in a third of 100-iteration windows,
#: whose means miss the rarer stalls: coverage 91-92% with AR(1) noise or a warm-up).
TOLERATED_OUTLIER_RATE = NORMAL_OUTLIER_RATE
#: Outlier counts whose probability at ``TOLERATED_OUTLIER_RATE`` is below this are heavy
#: tails (2 or more in 100 iterations). The asymptotic rate would find that in 3.1% of normal
#: windows; measured, a window's own median and MAD being noisy, it is 9.7-15.2% of normal
#: windows of 100 iterations and 4.4-9.1% of 150 at CV 2-10% (2026-11-29, 4,000 windows a
#: cell, an independent review found 10.2-15.3%): those lose their interval to "heavy tails".
HEAVY_TAIL_ALPHA = 0.05
#: Outliers a window of normal times shows in 100 iterations on average, measured as above:
#: 0.46-0.66 on the log scale, 0.21-0.24 fast ones; what the heavy-tail note compares with.
#: Counted as :func:`tail_outliers` does since the third review (slow ones on the log scale,
#: fast ones on the times): 0.25-0.45 (CV 2-20%, 800 windows a cell, 2026-11-29).
NORMAL_WINDOW_OUTLIERS = (0.35, 0.23)
#: Fast outliers (below the median) whose count has a probability under normal times below
#: this are heavy tails too: a stall only slows an iteration, so iterations far faster than
#: the median say the noise itself has heavy tails (t3), with slower ones to come.
FAST_TAIL_ALPHA = 0.05
#: Fewest iterations whose mean gets an interval when the window has heavy tails.
HEAVY_MIN_N = 200
#: Fewest iterations whose tail a window can judge (issue 56): under it the interval is given
#: only when the window's variance is carried by slow iterations it caught (``CARRIED_DF``).
#: 60 until 2026-11-29: at 60-75 iterations the heavy-tail test let through quiet windows
#: that caught no stall, and the intervals printed covered 88-93% (t3 + 2% stalls), 87-90%
#: with AR(1) noise; at 80 they cover 94.5-97.5% (docs/reliability.md).
TAIL_MIN_N = 80
#: Box's degrees of freedom of the window's variance (:func:`benchstats.autocorr.kurtosis_df`)
#: at most this: a few slow iterations carry it, and the t quantile on so few (t(8) = 2.31,
#: t(2) = 4.30) makes the interval as wide as the stalls it caught (they covered 95-100%).
CARRIED_DF = 8.0
#: An iteration at least this many times the window's median is a stall caught
#: (:func:`caught_stalls`): the slowest a t3 noise of CV 5% reaches in 100,000 iterations is
#: about 1.4x; the issue's stalls are 2-4x and 3-10x.
STALL_FACTOR = 2.0
#: Fewest iterations whose mean gets an interval when the window has heavy tails and caught no
#: stall (issue 56, the third review): stalls in bursts of 4 consecutive iterations, 2% of
#: them, are events 4 times rarer than independent ones, missing from 37% of 200-iteration
#: windows and 13% of 400 (1.8% of 800, as 2% independent stalls from 200): the intervals of
#: the heavy-tailed windows that caught none covered 0%, and 58.7% of those printed at 200
#: (docs/reliability.md).
CLEAN_HEAVY_MIN_N = 4 * HEAVY_MIN_N
#: Outliers (:func:`tail_outliers`) a normal window shows, the rate the test from
#: ``HEAVY_MIN_N`` holds them to: measured 0.15-0.30 in 100 at 200-600 iterations (CV 2-20%,
#: 800 windows a cell, 2026-11-29) against 0.27 asymptotically; 0.4 puts the count at 3 of
#: 200, 5 of 400 (normal windows flagged 1.6-3.6% at 200, 0.1-2.2% at 400; t3 noise without
#: a stall 97.7% and 100%).
WINDOW_OUTLIER_RATE = 0.004


def binomial_tail(n: int, k: int, p: float) -> float:
    """``P(Binomial(n, p) >= k)``."""
    if k <= 0:
        return 1.0
    below = math.fsum(math.exp(math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1)
                               + j * math.log(p) + (n - j) * math.log1p(-p))
                      for j in range(min(k, n + 1)))
    return max(0.0, 1.0 - below)


def heavy_tail_note(window: Sequence[float] | np.ndarray) -> str:
    """Why the window's mean gets no interval for its tails, or ``""``: under
    ``HEAVY_MIN_N`` iterations, more outliers (``count_outliers`` on :func:`tail_scale`) than
    normal times give (binomial tail at ``TOLERATED_OUTLIER_RATE`` under ``HEAVY_TAIL_ALPHA``)
    or more fast outliers than normal times give (under ``FAST_TAIL_ALPHA``), unless a few
    slow iterations carry the variance (Box's degrees of freedom at most ``CARRIED_DF``).

    Why this way round (issue 56): with t3 noise and 2% stalls of 3-10x, a window that caught
    stalls has few degrees of freedom and an interval wide enough to cover (95-100% at 50-150
    iterations); a window that caught none has a mean below the process's, and no interval of
    it covers. The old rule withheld every window with outliers, the first kind, and printed
    the second: its intervals covered 25-46% at 50-100 iterations. A heavy tail whose slow
    iterations do not stand out (t3 noise, none of the stalls) announces slower ones rarer
    than the window has caught: that window is withheld.

    The slow outliers are counted on the log of the times (:func:`tail_scale`), the fast ones on
    the times themselves (issue 56, second pass; both sides on the log until the third review,
    :func:`tail_outliers`). From ``HEAVY_MIN_N`` iterations, :func:`clean_heavy_note`. A right-skewed time that is no stall
    (lognormal: a multiplicative noise) is symmetric there: on the times, lognormal times of
    CV 53% (sigma 0.5) show about 5% outliers, all slow, and lost the interval in 48% of
    100-iteration windows (their intervals covered 96%). A stall of 3-10x is an outlier on
    either scale, and t3 noise of CV 5% has the same tails on both. Fast outliers stay on the
    times: the log stretches the fast side of normal times (which then lost 4 points at 100
    iterations), while it is on the times that a fast outlier says the noise is heavy."""
    n = len(window)
    if n >= HEAVY_MIN_N:
        return clean_heavy_note(window)
    if carried_by_few(window):
        return ""
    outliers = tail_outliers(window)
    fast = count_outliers(window, side=-1)
    scale = " (slow ones on a log scale)" if _positive(np.asarray(window, dtype=float)) else ""
    if (binomial_tail(n, outliers, TOLERATED_OUTLIER_RATE) >= HEAVY_TAIL_ALPHA
            and binomial_tail(n, fast, NORMAL_OUTLIER_RATE / 2) >= FAST_TAIL_ALPHA):
        return ""
    return (f"heavy tails: {outliers} of {n} iterations lie beyond {OUTLIER_MADS:g} scaled MADs "
            f"of the median{scale} and {fast} "
            f"that far below it (windows of normal times show about "
            f"{n * NORMAL_WINDOW_OUTLIERS[0] / 100:.1f} and "
            f"{n * NORMAL_WINDOW_OUTLIERS[1] / 100:.1f}); such "
            f"a tail has slower iterations, rarer than {n} can show, and the mean of a window "
            f"that caught none of them is below the process's: an interval of it needs at "
            f"least {HEAVY_MIN_N} iterations (the median's interval holds)")


def clean_heavy_note(window: Sequence[float] | np.ndarray) -> str:
    """Why a window of ``HEAVY_MIN_N`` to ``CLEAN_HEAVY_MIN_N`` iterations gets no interval,
    or ``""``: it caught no stall (:func:`caught_stalls`) and shows more outliers
    (:func:`tail_outliers`) than normal windows do (binomial tail at ``WINDOW_OUTLIER_RATE``
    under ``HEAVY_TAIL_ALPHA``). Such a tail (t3 noise) is what the windows of a process whose
    stalls come in bursts look like when they caught no burst, and bursts are rarer events
    than single stalls (issue 56, the third review); a window that caught a stall is judged
    as before (its interval reflects what it caught)."""
    n = len(window)
    if n >= CLEAN_HEAVY_MIN_N or n < HEAVY_MIN_N or caught_stalls(window):
        return ""
    outliers = tail_outliers(window)
    if binomial_tail(n, outliers, WINDOW_OUTLIER_RATE) >= HEAVY_TAIL_ALPHA:
        return ""
    return (f"heavy tails and no stall caught: {outliers} of {n} iterations lie beyond "
            f"{OUTLIER_MADS:g} scaled MADs of the median (normal windows show about "
            f"{n * WINDOW_OUTLIER_RATE:.1f}) and none is {STALL_FACTOR:g}x the median; such a "
            f"tail comes with stalls, and stalls that come in bursts are rare events a window "
            f"of {n} may miss, leaving its mean below the process's: an interval needs a "
            f"caught stall or at least {CLEAN_HEAVY_MIN_N} iterations (the median's interval "
            f"holds)")


def tail_outliers(window: Sequence[float] | np.ndarray) -> int:
    """The outliers :func:`heavy_tail_note` counts: the slow ones on :func:`tail_scale` (the
    log of the times: lognormal noise is symmetric there) and the fast ones on the times
    themselves (the log stretches the fast side of normal times: normal times of CV 20%
    showed 2 outliers or more on the log scale in 38% of 100-iteration windows, 4% this way;
    issue 56, the third review)."""
    return (count_outliers(tail_scale(window), side=1)
            + count_outliers(np.asarray(window, dtype=float), side=-1))


def stall_runs(window: Sequence[float] | np.ndarray) -> list[int]:
    """The lengths of the runs of consecutive iterations at least ``STALL_FACTOR`` times the
    window's median, in order (none when the median is not positive)."""
    values = np.asarray(window, dtype=float)
    median = float(np.median(values)) if len(values) else 0.0
    if median <= 0:
        return []
    edges = np.diff(np.concatenate(([0], (values >= STALL_FACTOR * median).astype(int), [0])))
    return [int(length) for length in np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)]


def longest_stall_run(window: Sequence[float] | np.ndarray) -> int:
    """The most consecutive iterations at least ``STALL_FACTOR`` times the window's median (0
    when none)."""
    return max(stall_runs(window), default=0)


def bursts_note(window: Sequence[float] | np.ndarray) -> str:
    """What to add to the note of a window whose interval is withheld when its stalls come in
    runs (:func:`longest_stall_run` of 2 or more), or ``""``."""
    runs = stall_runs(window)
    if max(runs, default=0) < 2:
        return ""
    if len(runs) == 1:
        return (f"its stalls came in one burst ({runs[0]} iterations in a row at least "
                f"{STALL_FACTOR:g}x the median), counted as one event: a longer run would "
                "catch more of them")
    return (f"its stalls came in bursts ({sum(runs)} iterations at least {STALL_FACTOR:g}x the "
            f"median in {len(runs)} runs of up to {max(runs)} in a row), each counted as one "
            "event: a longer run would catch more of them")


def clustered_df(window: Sequence[float] | np.ndarray) -> float:
    """Box's degrees of freedom (:func:`benchstats.autocorr.kurtosis_df`) of the window's
    variance counted in stall events rather than stalled iterations: when stalls come in runs
    (:func:`longest_stall_run` of 2 or more: a burst, or a stall whose slowness fades over a
    few iterations), the least of those of the means of blocks of that many consecutive
    iterations over the blocks' alignments; infinite otherwise. One stall that slows 3
    iterations is one event, not three: counted in iterations, the t quantile was too small
    and the intervals of windows that caught one such event missed (issue 56, the third
    review: 89% covered at 150 iterations)."""
    values = np.asarray(window, dtype=float)
    size = longest_stall_run(values)
    if size < 2:
        return math.inf
    least = math.inf
    for start in range(size):
        count = (len(values) - start) // size
        if count >= 3:
            blocks = values[start:start + count * size].reshape(count, size).mean(axis=1)
            least = min(least, kurtosis_df(blocks))
    return least


def caught_stalls(window: Sequence[float] | np.ndarray) -> int:
    """Iterations at least ``STALL_FACTOR`` times the window's median (0 when the median is not
    positive)."""
    values = np.asarray(window, dtype=float)
    if len(values) == 0:
        return 0
    median = float(np.median(values))
    return 0 if median <= 0 else int(np.count_nonzero(values >= STALL_FACTOR * median))


def tail_scale(window: Sequence[float] | np.ndarray) -> np.ndarray:
    """The scale on which :func:`heavy_tail_note` counts a window's outliers: the log of the
    times when every time is positive (a multiplicative noise is symmetric there), else the
    times themselves."""
    values = np.asarray(window, dtype=float)
    return np.log(values) if _positive(values) else values


def _positive(values: np.ndarray) -> bool:
    return len(values) > 0 and bool((values > 0).all())


def carried_by_few(window: Sequence[float] | np.ndarray) -> bool:
    """Whether a few stalls carry the window's variance: Box's degrees of freedom
    (:func:`benchstats.autocorr.kurtosis_df`) at most ``CARRIED_DF`` and a stall caught
    (:func:`caught_stalls`). Without the second condition 6.5% of 100-iteration t3 windows
    that caught no stall were carried by one large t3 value and printed intervals that missed
    the mean with stalls (issue 56, the third review)."""
    values = np.asarray(window, dtype=float)
    return (min(kurtosis_df(values), clustered_df(values)) <= CARRIED_DF
            and caught_stalls(values) > 0)


def short_tail_note(window: Sequence[float] | np.ndarray) -> str:
    """Why a window under ``TAIL_MIN_N`` iterations gets no interval, or ``""``: it cannot
    judge its tail (2% stalls are missing from 20% of 80-iteration windows, and such a window
    looks like any quiet one), unless it caught slow iterations that carry its variance."""
    n = len(window)
    if n >= TAIL_MIN_N or carried_by_few(window):
        return ""
    return (f"{n} iterations: too few to judge the tail (a slow iteration rarer than 1 in {n} "
            f"may be missing, and its share of the mean with it); an interval needs at least "
            f"{TAIL_MIN_N}, or slow iterations caught that carry the spread")
