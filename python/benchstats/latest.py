"""Is the newest point of a history a change? The newest run of each configuration (a nightly,
a pull request's run) judged against the points before it, the question a CI gate asks.

:func:`benchstats.find_changes` cannot answer it: a change needs ``MIN_SIDE`` points after it.
Here the newest usable point ``y_new`` (log value) is compared with the ``window`` usable
points before it, with the weights of :mod:`benchstats.changepoints` (each point's own
variance plus the between-point variance ``tau^2`` estimated from those history points): the
history's weighted mean ``m`` has variance ``1/W``; the new point, as a new draw of the same
process, varies by ``s_new^2 + tau^2`` (its own interval and a new session's offset). The
difference ``d = y_new - m`` has the standard error
``sqrt(max(1, q) (1/W + tau^2) + s_new^2)``, ``q`` the weighted scatter of the history
(Hartung & Knapp's widening, as in the confirmation step), with Student's t on ``k - 1``
degrees of freedom (``k`` history points): a prediction interval (e.g. Hahn & Meeker 1991,
*Statistical Intervals*, ch. 4). The p-value is two-sided; a caller judging many
configurations at once controls the error over them (``benchstats.compare.judge``,
Benjamini-Hochberg). A change is confirmed only when, in addition, the whole 95% interval of
``new/old - 1`` lies beyond ``+-min_change`` (Criterion's rule). Not judged with fewer than
``MIN_HISTORY`` history points. Valid while the history is stationary (no drift, no change
inside the window: then the between-point variance absorbs it and the test is conservative).
That is ``method="weighted"``, the method until issue 56.

``method="pooled"`` (the default from issue 56, item 5, until its review) frames the question
as a test and estimates the newest point's spread from the whole window, not from its own few
runs:

* **the runs' spread, pooled**: the run variance (on the log scale) of every point of two or
  more runs in the window, the newest included, pooled over their ``n - 1`` degrees of freedom
  (about 40 at 3 runs a point, against the newest point's own 2); a point's own variance is
  that over its runs. The newest point keeps its own run variance when it is inconsistent
  with the pool (F test, upper tail under 1%): a noisy newest run is not hidden. Points of
  one run (no run spread) keep the variance their own interval gives.
* **the points' spread**: the sample variance ``S^2`` of the history's log values (``k - 1``
  degrees of freedom), after a stated outlier rule: a point more than 3.5 scaled MADs from the
  history's median is left out (a session that went wrong would otherwise widen every
  verdict). The session offsets' variance is ``tau^2 = max(0, S^2 - mean own variance)``;
  the newest point, a new draw, varies by ``tau^2 + s_new^2`` and the history's mean by
  ``S^2 / k``: ``d = y_new - mean`` has the standard error
  ``sqrt(tau^2 + s_new^2 + S^2 / k)``, Student's t on ``k - 1`` degrees of freedom (the
  classical prediction interval).
* **the rule**: a test of the null hypothesis "the change lies within ``+-min_change``"
  (a minimum-effect test; Murphy & Myors 1999): ``p_beyond`` is the probability, at the
  boundary, of a change at least as far from the band's centre as the one seen (two-sided:
  with ``min_change = 0`` it is the plain p-value). The point is ``beyond`` when
  ``p_beyond < 0.05``; ``regressions --latest`` rejects by Benjamini-Hochberg over the
  series' ``p_beyond`` at ``--alpha``. Against Criterion's rule (the whole 95% interval
  beyond ``min_change``, a one-sided test at 2.5% against the boundary) this is a one-sided
  test at 5%: the 95% interval shown may reach inside the band of a change reported.

``method="prediction"`` (the default since the review of issue 56, item 5) keeps ``pooled``'s
spread (the runs' pooled spread, the points' own after the outlier rule, the newest's own when
the F test finds it noisier) and changes the rule: the test is of **no change**, two-sided, on
the prediction interval's degrees of freedom (Welch-Satterthwaite over the estimates the
variance is made of: the history's spread on ``k - 1``, the runs' pool, the newest point's own
``n - 1`` when kept), at ``alpha`` (``ALPHA``, 1.5%: 0.75% a direction, so the test alone
claims a regression without a change in under 1 history of 100); ``--min-change`` is then a
floor on the *estimate*: a change is ``beyond`` when ``p_value < alpha`` and
``|new/old - 1| >= min_change``. The p-value shown is the one that decides. ``detectable``
is the drop this history's spread lets the test find ``POWER`` (4 times in 5) of the time,
judged alone at ``alpha``: a history whose ``detectable`` exceeds ``GOAL_DROP`` cannot keep
the issue's promise (10% drops found 4 times in 5), and the gate says so instead of passing
it silently.

Why the rule changed: the test against the band cannot find 80% of 10% drops once the newest
point's total noise (session offset plus runs' noise over 3 runs) passes about 2.2%: the drop
lies ``0.054 / sd`` standard deviations from the band's edge (log scale), and a one-sided 5%
test needs 2.49 of them for 80% even with the variance known (a statistician's review: 73%
at run CV 2% with session offsets of 2%, 70% at 3% with 1.5%). The test of no change needs
``0.105 / sd`` to reach 3.27 (0.75% one-sided, the variance known; 3.59 with 19 degrees of
freedom): 80% up to a total noise of about 2.9%; run CV 3% with offsets of 2% is 2.7%. Beyond
that no test of the newest point alone keeps both goals (80% of 10% drops, at most 2 false
alarms in 100 histories): measured figures in docs/database.md (``scripts/sim_latest.py
--grid``).

Why ``pooled`` replaced ``weighted``: Criterion's rule finds at most 82.6% of 10% drops at 3
runs a point even with the variance known (``scripts/sim_latest.py --ceiling --runs 3 3``).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from benchstats.changepoints import (
    _floats,
    _point_variances,
    _usable,
    between_variance,
    between_variances,
)
from benchstats.tdist import incomplete_beta, t_cdf, t_critical

#: Fewest history points a newest point is judged against.
MIN_HISTORY = 5
#: History points used (the most recent usable ones before the newest).
WINDOW = 20
#: The methods (see the module's docstring); the first is the default.
METHODS = ("prediction", "pooled", "weighted")
#: ``prediction``: the two-sided level of one history's test of no change (the gate's
#: ``--alpha`` default: 0.75% a direction; with the sessions that go wrong, a regression
#: claimed without a change in at most 1.5 histories of 100 over the grid of docs/database.md).
ALPHA = 0.015
#: ``prediction``: the share of drops of ``detectable`` found, judged alone at ``alpha``.
POWER = 0.80
#: The drop the gate is meant to find ``POWER`` of the time at 3 runs a point (issue 56): a
#: history whose ``detectable`` drop is larger is said to be too noisy for it.
GOAL_DROP = 0.10
#: ``pooled``: a newest point's run variance this unlikely under the pool is its own.
INCONSISTENT = 0.01
#: ``pooled``: a history point this many scaled MADs from the median is left out.
OUTLIER_MADS = 3.5
#: ``pooled``: the level of the single-configuration verdict (``p_beyond`` below it).
LEVEL = 0.05


@dataclass(frozen=True)
class Latest:
    """The newest point against its history."""

    index: int                 # the newest usable point (its index in the history)
    change: float              # new / old - 1
    ci: tuple[float, float]    # 95% interval of ``change``
    p_value: float             # two-sided, this configuration alone
    history: int               # history points it was judged against
    direction: str             # regression | improvement (of the point estimate)
    verdict: str               # beyond (see ``method``) | within
    # pooled: the minimum-effect test's p-value, H0 "the change lies within +-min_change"
    # (weighted: NaN, its verdict is the interval's)
    p_beyond: float = math.nan
    method: str = "weighted"   # pooled: p_beyond < LEVEL; weighted: the interval beyond
    # pooled: the history points the outlier rule left out (indexes, as ``index``); the
    # ``history`` points judged against are the others
    left_out: tuple[int, ...] = ()
    # prediction: the test's degrees of freedom, and the drop (new/old - 1 > 0 lower) found
    # POWER of the time at this spread, judged alone at the level given (NaN: other methods)
    df: float = math.nan
    detectable: float = math.nan

    @property
    def too_noisy(self) -> bool:
        """Is this history too noisy to find a ``GOAL_DROP`` drop ``POWER`` of the time?"""
        return self.detectable > GOAL_DROP


@dataclass(frozen=True)
class LatestSearch:
    latest: Latest | None
    not_judged: str | None = None


def judge_latest(values: Sequence[float] | np.ndarray, se: Sequence[float] | np.ndarray,
                 n_runs: Sequence[float] | np.ndarray | None = None, *,
                 window: int = WINDOW, min_change: float = 0.05,
                 excluded: Iterable[int] | None = None,
                 higher_is_better: bool = True, method: str = METHODS[0],
                 alpha: float = ALPHA) -> LatestSearch:
    """The newest usable point of a history against the ``window`` before it (see the
    module's docstring). Same inputs as :func:`benchstats.find_changes`; ``alpha``: the
    level of ``prediction``'s verdict and ``detectable``."""
    _check_method(method)
    ready = _prepared(values, se, n_runs, window, min_change, excluded)
    if isinstance(ready, LatestSearch):
        return ready
    if method == "prediction":
        return _judged_prediction(ready, min_change, higher_is_better, alpha)
    if method == "pooled":
        return _judged_pooled(ready, min_change, higher_is_better)
    return _judged(ready, between_variance(ready.hist_y, ready.hist_s2), min_change,
                   higher_is_better)


def judge_latest_many(histories: Sequence[tuple[Sequence[float] | np.ndarray,
                                                Sequence[float] | np.ndarray,
                                                Sequence[float] | np.ndarray | None]], *,
                      window: int = WINDOW, min_change: float = 0.05,
                      higher_is_better: bool = True, method: str = METHODS[0],
                      alpha: float = ALPHA) -> list[LatestSearch]:
    """:func:`judge_latest` of many ``(values, se, n_runs)`` histories, the same results
    (``weighted``: their between-point variances estimated together,
    :func:`between_variances`)."""
    _check_method(method)
    ready = [_prepared(values, se, n_runs, window, min_change, None)
             for values, se, n_runs in histories]
    if method == "prediction":
        return [one if isinstance(one, LatestSearch)
                else _judged_prediction(one, min_change, higher_is_better, alpha)
                for one in ready]
    if method == "pooled":
        return [one if isinstance(one, LatestSearch)
                else _judged_pooled(one, min_change, higher_is_better) for one in ready]
    todo = [one for one in ready if isinstance(one, _Prepared)]
    tau2 = iter(between_variances([(one.hist_y, one.hist_s2) for one in todo]))
    return [one if isinstance(one, LatestSearch)
            else _judged(one, next(tau2), min_change, higher_is_better) for one in ready]


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"judge_latest: method {method!r}: give one of {', '.join(METHODS)}")


def p_beyond(d: float, se: float, df: float, min_change: float) -> float:
    """The p-value of the null hypothesis "the change lies within ``+-min_change``" for a log
    change ``d`` with standard error ``se`` (Student's t on ``df``): the band
    ``[log(1 - min_change), log(1 + min_change)]`` has centre ``c`` and half-width ``h``;
    at its boundary, the probability of a log change at least ``|d - c|`` from ``c``.
    ``min_change = 0``: the two-sided p-value of ``d``."""
    low, high = math.log1p(-min_change), math.log1p(min_change)
    centre, half = (low + high) / 2.0, (high - low) / 2.0
    far = abs(d - centre)
    if se <= 0:
        return 0.0 if far > half else 1.0
    if half == 0.0:  # the two tails are one by symmetry: one incomplete beta, not two
        return min(max(2.0 * t_cdf(-far / se, df), 0.0), 1.0)
    p = t_cdf((half - far) / se, df) + t_cdf((-far - half) / se, df)
    return min(max(p, 0.0), 1.0)


@dataclass(frozen=True)
class _Prepared:
    """A history ready to judge: its newest point's index, log values and variances."""

    newest: int
    kept: np.ndarray      # the window's indexes in the history given, the newest last
    y: np.ndarray
    s2: np.ndarray
    runs: np.ndarray      # runs a point (NaN: unknown)
    run_var: np.ndarray   # the variance of a point's runs' log values (NaN: unknown)

    @property
    def hist_y(self) -> np.ndarray:
        return self.y[:-1]

    @property
    def hist_s2(self) -> np.ndarray:
        return self.s2[:-1]


def _prepared(values: Sequence[float] | np.ndarray, se: Sequence[float] | np.ndarray,
              n_runs: Sequence[float] | np.ndarray | None, window: int, min_change: float,
              excluded: Iterable[int] | None) -> _Prepared | LatestSearch:
    if min_change < 0 or window < MIN_HISTORY:
        raise ValueError(f"judge_latest: needs min_change >= 0 and window >= {MIN_HISTORY}")
    vals = _floats(values, len(values), "values")
    ses, runs = _floats(se, vals.size, "se"), _floats(n_runs, vals.size, "n_runs")
    keep = _usable(vals, excluded)
    if keep.size < MIN_HISTORY + 1:
        return LatestSearch(None, f"{max(keep.size - 1, 0)} history points before the newest, "
                                  f"fewer than {MIN_HISTORY}")
    keep = keep[-(window + 1):]
    vals, ses, runs = vals[keep], ses[keep], runs[keep]
    with np.errstate(invalid="ignore"):
        run_var = np.where((runs >= 2) & (ses >= 0), (ses / vals) ** 2 * runs, np.nan)
    return _Prepared(int(keep[-1]), keep, np.log(vals), _point_variances(vals, ses, runs),
                     runs, run_var)


def _judged(ready: _Prepared, tau2: float, min_change: float,
            higher_is_better: bool) -> LatestSearch:
    y, s2 = ready.y, ready.s2
    hist_y, hist_s2 = ready.hist_y, ready.hist_s2
    w = 1.0 / np.maximum(hist_s2 + tau2, 1e-12)
    total = float(np.sum(w))
    mean = float(np.sum(w * hist_y)) / total
    k = hist_y.size
    q = float(np.sum(w * (hist_y - mean) ** 2)) / (k - 1)
    se_d = math.sqrt(max(1.0, q) * (1.0 / total + tau2) + float(s2[-1]))
    d = float(y[-1]) - mean
    df = k - 1
    half = t_critical(df) * se_d
    low, high = math.expm1(d - half), math.expm1(d + half)
    p = 2.0 * (1.0 - t_cdf(abs(d) / se_d, df)) if se_d > 0 else (0.0 if d else 1.0)
    better = (d > 0) == higher_is_better
    beyond = low > min_change or high < -min_change
    return LatestSearch(Latest(ready.newest, math.expm1(d), (low, high), min(max(p, 0.0), 1.0),
                               k, "improvement" if better else "regression",
                               "beyond" if beyond else "within", method="weighted"))


@dataclass(frozen=True)
class _Spread:
    """``pooled``'s and ``prediction``'s parts of ``d = y_new - mean``: the history's spread
    ``S^2`` of ``k`` points (``k - 1`` degrees of freedom), the mean own variance ``own`` of
    its points and the newest point's ``newest`` (with ``newest_df``; ``pooled_newest``: both
    from the runs' pool, so that their difference has the pool's degrees of freedom)."""

    d: float
    k: int
    spread: float
    own: float
    newest: float
    newest_df: float
    pooled_newest: bool
    inside: np.ndarray

    @property
    def tau2(self) -> float:
        return max(0.0, self.spread - self.own)

    @property
    def se(self) -> float:
        return math.sqrt(self.tau2 + self.newest + self.spread / self.k)

    @property
    def df(self) -> float:
        """Welch-Satterthwaite's degrees of freedom of ``se^2`` as a sum of the independent
        estimates it is made of: with session offsets, ``S^2 (1 + 1/k)`` and the newest's
        own variance less the history's (which cancel when both come from the pool, as
        they do at the same runs a point); without, ``S^2 / k`` and the newest's own."""
        k = self.k
        if self.tau2 > 0 and self.pooled_newest:
            terms = [(self.spread * (1.0 + 1.0 / k), k - 1.0),
                     (self.newest - self.own, self.newest_df)]
        elif self.tau2 > 0:
            terms = [(self.spread * (1.0 + 1.0 / k), k - 1.0), (-self.own, k - 1.0),
                     (self.newest, self.newest_df)]
        else:
            terms = [(self.spread / k, k - 1.0), (self.newest, self.newest_df)]
        total = sum(value for value, _ in terms)
        parts = sum(value * value / df for value, df in terms)
        return max(total * total / parts, 1.0) if parts > 0 else k - 1.0


def _spread(ready: _Prepared) -> _Spread:
    """The runs' pooled spread, the points' own spread after the outlier rule."""
    s2, newest_df, pooled_newest = _pooled_own_variances(ready)
    inside = _inside(ready.hist_y)
    hist_y, hist_s2 = ready.hist_y[inside], s2[:-1][inside]
    k = hist_y.size
    mean = float(np.mean(hist_y))
    spread = float(np.sum((hist_y - mean) ** 2)) / (k - 1)
    return _Spread(float(ready.y[-1]) - mean, k, spread, float(np.mean(hist_s2)),
                   float(s2[-1]), newest_df if newest_df > 0 else k - 1.0, pooled_newest,
                   inside)


def _judged_pooled(ready: _Prepared, min_change: float, higher_is_better: bool) -> LatestSearch:
    """``method="pooled"`` (the module's docstring): the runs' pooled spread, the points'
    own spread after the outlier rule, the minimum-effect test on ``k - 1`` degrees of
    freedom."""
    part = _spread(ready)
    se_d, d, df, k = part.se, part.d, part.k - 1, part.k
    half = t_critical(df) * se_d
    p = p_beyond(d, se_d, df, 0.0)
    beyond = p_beyond(d, se_d, df, min_change)
    better = (d > 0) == higher_is_better
    return LatestSearch(Latest(ready.newest, math.expm1(d),
                               (math.expm1(d - half), math.expm1(d + half)), p, k,
                               "improvement" if better else "regression",
                               "beyond" if beyond < LEVEL else "within", beyond, "pooled",
                               tuple(int(i) for i in ready.kept[:-1][~part.inside])))


def _judged_prediction(ready: _Prepared, min_change: float, higher_is_better: bool,
                       alpha: float) -> LatestSearch:
    """``method="prediction"`` (the module's docstring): ``pooled``'s spread, the test of no
    change at ``alpha`` on Welch-Satterthwaite's degrees of freedom, ``min_change`` a floor
    on the estimate, and the drop found ``POWER`` of the time."""
    part = _spread(ready)
    se_d, d, df = part.se, part.d, part.df
    # the quantiles on df floored to a tenth: cached (t_quantile), a hair wider, not slower
    tenth = max(math.floor(df * 10.0) / 10.0, 1.0)
    half = t_critical(tenth) * se_d
    p = p_beyond(d, se_d, df, 0.0)
    change = math.expm1(d)
    beyond = p < alpha and abs(change) >= min_change
    better = (d > 0) == higher_is_better
    return LatestSearch(Latest(ready.newest, change,
                               (math.expm1(d - half), math.expm1(d + half)), p, part.k,
                               "improvement" if better else "regression",
                               "beyond" if beyond else "within", p, "prediction",
                               tuple(int(i) for i in ready.kept[:-1][~part.inside]),
                               df, detectable_drop(se_d, tenth, alpha, min_change)))


def detectable_drop(se: float, df: float, alpha: float, min_change: float,
                    power: float = POWER) -> float:
    """The relative drop (0.1: 10% lower) that ``prediction``'s rule finds ``power`` of the
    time for a log change with standard error ``se`` on ``df`` degrees of freedom, judged
    alone at ``alpha``: the larger of what the test needs (the t critical value plus the
    power's normal quantile, widened for the estimated spread as a noncentral t is, Cohen
    1988) and what the estimate's floor ``min_change`` needs."""
    z = NormalDist().inv_cdf(power)
    crit = t_critical(df, 1.0 - alpha)
    test = (crit + z * math.sqrt(1.0 + crit * crit / (2.0 * df))) * se
    floor = -math.log1p(-min_change) + z * se
    return -math.expm1(-max(test, floor))


def _pooled_own_variances(ready: _Prepared) -> tuple[np.ndarray, float, bool]:
    """Each point's own variance of its log value: its runs' pooled variance over its runs
    where it has two or more (the newest keeps its own when inconsistent with the pool), the
    variance its interval gives otherwise (one run, or runs unknown); the newest's degrees
    of freedom (the pool's, its own runs' ``n - 1``, or 0: from its interval) and whether
    its variance is the pool's."""
    known = np.isfinite(ready.run_var)
    df = ready.runs[known] - 1.0
    if df.sum() <= 0:
        return ready.s2, 0.0, False
    pooled = float(np.sum(df * ready.run_var[known]) / df.sum())
    s2 = np.where(known, pooled / np.where(known, ready.runs, 1.0), ready.s2)
    if not known[-1]:
        return s2, 0.0, False
    if _inconsistent(float(ready.run_var[-1]), float(ready.runs[-1]) - 1.0,
                     pooled, float(df.sum())):
        s2[-1] = ready.run_var[-1] / ready.runs[-1]
        return s2, float(ready.runs[-1]) - 1.0, False
    return s2, float(df.sum()), bool(known.all())


def _inconsistent(own: float, own_df: float, pooled: float, pooled_df: float) -> bool:
    """Is a run variance ``own`` above ``pooled`` beyond chance (F test, upper tail under
    ``INCONSISTENT``)? The pool includes ``own``: a conservative test, as wanted."""
    if own <= pooled or pooled <= 0:
        return own > pooled
    x = own_df * (own / pooled)
    tail = 1.0 - incomplete_beta(own_df / 2.0, pooled_df / 2.0, x / (x + pooled_df))
    return tail < INCONSISTENT


def _inside(y: np.ndarray) -> np.ndarray:
    """Which of the history's points lie within ``OUTLIER_MADS`` scaled MADs of its median
    (all of them when the MAD is 0 or the rule would leave fewer than ``MIN_HISTORY``)."""
    centre = _median(y)
    mad = 1.4826 * _median(np.abs(y - centre))
    keep = np.abs(y - centre) <= OUTLIER_MADS * mad
    if mad <= 0 or int(keep.sum()) < MIN_HISTORY:
        return np.ones(y.size, dtype=bool)
    return keep


def _median(x: np.ndarray) -> float:
    """np.median's value without its per-call overhead (twice per history judged)."""
    ordered = np.sort(x)
    middle = ordered.size // 2
    return float(ordered[middle]) if ordered.size % 2 else \
        float((ordered[middle - 1] + ordered[middle]) / 2.0)
