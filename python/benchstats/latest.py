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
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from benchstats.changepoints import (
    _floats,
    _point_variances,
    _usable,
    between_variance,
    between_variances,
)
from benchstats.tdist import t_cdf, t_critical

#: Fewest history points a newest point is judged against.
MIN_HISTORY = 5
#: History points used (the most recent usable ones before the newest).
WINDOW = 20


@dataclass(frozen=True)
class Latest:
    """The newest point against its history."""

    index: int                 # the newest usable point (its index in the history)
    change: float              # new / old - 1
    ci: tuple[float, float]    # 95% interval of ``change``
    p_value: float             # two-sided, this configuration alone
    history: int               # history points it was judged against
    direction: str             # regression | improvement (of the point estimate)
    verdict: str               # beyond (the interval wholly beyond +-min_change) | within


@dataclass(frozen=True)
class LatestSearch:
    latest: Latest | None
    not_judged: str | None = None


def judge_latest(values: Sequence[float] | np.ndarray, se: Sequence[float] | np.ndarray,
                 n_runs: Sequence[float] | np.ndarray | None = None, *,
                 window: int = WINDOW, min_change: float = 0.05,
                 excluded: Iterable[int] | None = None,
                 higher_is_better: bool = True) -> LatestSearch:
    """The newest usable point of a history against the ``window`` before it (see the
    module's docstring). Same inputs as :func:`benchstats.find_changes`."""
    ready = _prepared(values, se, n_runs, window, min_change, excluded)
    if isinstance(ready, LatestSearch):
        return ready
    return _judged(ready, between_variance(ready.hist_y, ready.hist_s2), min_change,
                   higher_is_better)


def judge_latest_many(histories: Sequence[tuple[Sequence[float] | np.ndarray,
                                                Sequence[float] | np.ndarray,
                                                Sequence[float] | np.ndarray | None]], *,
                      window: int = WINDOW, min_change: float = 0.05,
                      higher_is_better: bool = True) -> list[LatestSearch]:
    """:func:`judge_latest` of many ``(values, se, n_runs)`` histories, the same results, with
    their between-point variances estimated together (:func:`between_variances`)."""
    ready = [_prepared(values, se, n_runs, window, min_change, None)
             for values, se, n_runs in histories]
    todo = [one for one in ready if isinstance(one, _Prepared)]
    tau2 = iter(between_variances([(one.hist_y, one.hist_s2) for one in todo]))
    return [one if isinstance(one, LatestSearch)
            else _judged(one, next(tau2), min_change, higher_is_better) for one in ready]


@dataclass(frozen=True)
class _Prepared:
    """A history ready to judge: its newest point's index, log values and variances."""

    newest: int
    y: np.ndarray
    s2: np.ndarray

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
    return _Prepared(int(keep[-1]), np.log(vals[keep]),
                     _point_variances(vals[keep], ses[keep], runs[keep]))


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
                               "beyond" if beyond else "within"))
