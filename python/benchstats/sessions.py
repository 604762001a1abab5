"""Comparisons of runs measured in several sessions: the session shift estimated from the data
where a side has two or more sessions, an assumed one where it has one.

A session (one ``dlbs run`` of a plan) shifts every run in it alike: what the machine did
between sessions (clocks, placement, neighbours, thermal state) is not averaged out by more
runs of the same session. The model of a side's log run times is one-way random effects,
``y_sr = mu + u_s + e_sr`` with ``u_s ~ N(0, tau^2)`` per session and ``e_sr ~ N(0, sigma^2)``
per run. Its mean over ``k`` sessions varies by ``tau^2 / k + sigma^2 / (k n)``:

- ``k >= 2``: the session is the unit (Kalibera & Jones 2013, *Rigorous benchmarking in
  reasonable time*, ISMM: repetitions at the level where the variance is). The side's value is
  the mean of its session means, its squared error the sample variance of the session means
  over ``k`` on ``k - 1`` degrees of freedom: Hartung & Knapp's (2001, Stat. Med. 20)
  random-effects variance with equal weights, which needs no estimate of ``tau^2`` and holds
  for any. It is floored at the runs' own (fixed-effect) variance, Roever, Knapp & Friede's
  (2015, BMC Med. Res. Methodol. 15:99) correction: two or three session means that happen to
  agree must not give an interval narrower than the runs inside them allow.
- ``k == 1``: the shift of one session cannot be told from the code's speed. An assumed
  between-session variance (``session_var``, from ``--session_cv`` or its default) is added
  to the runs' own, as a known variance (no degrees of freedom).
- ``known=True`` (the user gave the between-session CV, known from repeated sessions): every
  side takes ``session_var / k`` as known and the runs' variance within sessions, pooled, as
  estimated: more degrees of freedom than the estimate from ``k`` session means, valid only
  as far as the CV given is.

The two sides combine as Welch's t does (Satterthwaite's degrees of freedom over the
estimated parts). With no session shift this costs degrees of freedom (``k - 1`` a side, not
``n k - 1``); that is the price of not assuming the shift. The sides' session shifts are
taken as independent of each other; a shift shared by every cell of a table makes the cells'
errors move together, which Benjamini-Hochberg tolerates (positive dependence: Benjamini &
Yekutieli 2001, Ann. Stat. 29). Pure: numbers in, :class:`~benchstats.compare.LogDiff` out.
Its coverage and false verdicts are measured by ``benchmarks/sim_sessions.py``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from benchstats.compare import LogDiff

__all__ = ["KNOWN_DF_QUANTILE", "SideMean", "session_log_diff", "side_mean"]

#: With the between-session variance ``known`` (``--session_cv``), Satterthwaite's degrees of
#: freedom are computed with each side's runs' variance at the upper end of this quantile of its
#: chi-square (the variance the true one lies under 3 times in 4), the interval's error left as
#: estimated. Computed at the estimate itself, a low estimate gives both a narrow interval and
#: many degrees of freedom: with one session and 3 runs a side at run CV 3% and the true CV of
#: 1% given, 0.55% of cells fell beyond the 99.75% interval BH uses with 20 cells (0.25%
#: allowed) and 12% of 20-cell A/A tables got a verdict (an independent review of issue 56,
#: 2026-11-29). At this quartile 0.12-0.21% over run CV 1-3% x session CV 0.5-3% (3 and 5 runs);
#: the runs' own degrees of freedom alone gave 0.00-0.02% and found a 10% change in 0-6% of cells
#: where Satterthwaite's found 27-99% (this quartile: 12-89%).
KNOWN_DF_QUANTILE = 0.25
_Z_LOW = -0.6744897501960817  # the standard normal's KNOWN_DF_QUANTILE quantile


@dataclass(frozen=True)
class SideMean:
    """One side's mean log run time, its squared standard error, the degrees of freedom of
    the estimated part of that error (``inf`` when the error is wholly assumed, ``nan`` when
    unknown) and the number of sessions it came from."""

    mean: float
    var: float
    df: float
    sessions: int


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _var(values: Sequence[float]) -> float:
    centre = _mean(values)
    return math.fsum((v - centre) ** 2 for v in values) / (len(values) - 1)


def _within(sessions: Sequence[Sequence[float]]) -> float:
    """The runs' variance inside sessions, pooled over the sessions with two or more runs
    (``nan`` when none has)."""
    spread = [(len(s) - 1) * _var(s) for s in sessions if len(s) >= 2]
    dof = sum(len(s) - 1 for s in sessions if len(s) >= 2)
    return math.fsum(spread) / dof if dof else math.nan


def side_mean(sessions: Sequence[Sequence[float]], session_var: float,
              known: bool = False) -> SideMean:
    """A side's mean log run time over its ``sessions`` (each a list of positive run times)
    with its error: the session means' spread where there are two or more sessions (floored
    at the runs' own error) unless the between-session variance is ``known``, else the runs'
    own error plus the assumed ``session_var``."""
    logs = [[math.log(t) for t in s] for s in sessions if s]
    if not logs:
        return SideMean(math.nan, math.nan, math.nan, 0)
    if len(logs) == 1:
        runs = logs[0]
        if len(runs) < 2:
            return SideMean(_mean(runs), math.nan, math.nan, 1)
        return SideMean(_mean(runs), _var(runs) / len(runs) + session_var, len(runs) - 1, 1)
    k = len(logs)
    means = [_mean(s) for s in logs]
    within = _within(logs)
    fixed = within * math.fsum(1.0 / len(s) for s in logs) / k ** 2 if not math.isnan(within) \
        else 0.0
    if known:
        if math.isnan(within):
            return SideMean(_mean(means), math.nan, math.nan, k)
        return SideMean(_mean(means), fixed + session_var / k,
                        sum(len(s) - 1 for s in logs), k)
    return SideMean(_mean(means), max(_var(means) / k, fixed), k - 1, k)


def session_log_diff(base: Sequence[Sequence[float]], new: Sequence[Sequence[float]],
                     session_var: float, known: bool = False) -> LogDiff:
    """``mean(log base) - mean(log new)`` (> 0: new is faster) over runs grouped by session,
    with its standard error and Satterthwaite's degrees of freedom (:func:`side_mean` per side;
    ``session_var`` is the assumed between-session variance on the log scale, used only by a
    side of one session unless ``known``). ``nan`` error when a side has one run in one
    session."""
    nan = math.nan
    if any(t <= 0 for s in (*base, *new) for t in s):
        return LogDiff(nan, nan, nan)
    b, n = side_mean(base, session_var, known), side_mean(new, session_var, known)
    diff = b.mean - n.mean
    if math.isnan(b.var) or math.isnan(n.var):
        return LogDiff(diff, nan, nan)
    total = b.var + n.var
    parts = [(_estimated(side, session_var, known), side.df) for side in (b, n)]
    at = total  # the squared error the degrees of freedom are computed at
    if known:  # at the runs' variance's upper quartile: see KNOWN_DF_QUANTILE
        upper = [(part * dof / _chi2_low(dof), dof) for part, dof in parts]
        at += math.fsum(up - part for (up, _), (part, _) in zip(upper, parts))
        parts = upper
    estimated = math.fsum(part ** 2 / dof for part, dof in parts)
    df = at ** 2 / estimated if estimated > 0 else math.inf
    return LogDiff(diff, math.sqrt(total), df)


def _chi2_low(df: float) -> float:
    """The ``KNOWN_DF_QUANTILE`` quantile of a chi-square on ``df`` degrees of freedom
    (Wilson & Hilferty's cube-root normal approximation: 4.2% low at 1 degree of freedom,
    1.8% high at 2, under 1% from 4)."""
    h = 2.0 / (9.0 * df)
    return df * max(1.0 - h + _Z_LOW * math.sqrt(h), 1e-6) ** 3


def _estimated(side: SideMean, session_var: float, known: bool) -> float:
    """The part of a side's squared error estimated from its runs (the rest is assumed)."""
    if side.sessions == 1 or known:
        return side.var - session_var / side.sessions
    return side.var
