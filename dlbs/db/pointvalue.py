"""The value, 95% interval and standard error of one point of a history, from its runs'
summary columns: one definition for the histories read from the runs (``dlbs.db.history``)
and for the statistics the ``points`` table keeps at ingest (``dlbs.db.points``), so that the
two give the same numbers bit for bit (the same operations on the runs in the same order).

A point of two or more runs (the one estimator, :mod:`benchstats.estimate`): the geometric mean of their values, its t interval on the log
scale and its standard error ``value * sd / sqrt(n)`` of the log values (runs are the unit).
The mean and variance of the log values are computed from their exact sums (:class:`LogSums`:
the count, the sum and the sum of squares as integers, no rounding) and rounded once, so they
are the same whatever the order of the runs and whether the sums were kept and added to at
each ingest (``points.log_sums``) or made from all the runs at once.
A point of one run: the run's own interval (throughput: samples over the time interval; time:
the time interval), its standard error the half-width on the log scale over the quantile the
benchmark used (Student's t on ``results.ess - 1`` degrees of freedom), or NaN when unknown.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from benchstats.estimate import LogSums, estimate_of_sums, log_sums
from benchstats.tdist import t_critical

Z95 = 1.959964
#: The columns of a light row, by position (``dlbs.db.summary.Summary.light_rows``): run id,
#: comparability key, date, throughput, time_mean, time_ci_low, time_ci_high, code_version,
#: the exclusion's reason (None: not excluded), status, ess.
ID, KEY, DATE, THROUGHPUT, TIME_MEAN, CI_LOW, CI_HIGH, VERSION, REASON, STATUS, ESS = range(11)
#: Kept here for the callers that import them from this module.
__all__ = [
    "LogSums",
    "log_sums",
    "of_rows",
    "oldest_first",
    "one_run_se",
    "over_runs",
    "over_sums",
]


def oldest_first(row: tuple[Any, ...]) -> tuple[bool, datetime, int]:
    """A light row's place in a history: by date, then id; undated runs last (the order of
    ``Store.light_rows`` and of each point's runs in the ``points`` table)."""
    date = row[DATE]
    return date is None, date or datetime.min, row[ID]


def over_runs(values: Sequence[float]) -> tuple[float, float, float, float]:
    """Geometric mean of two or more runs' values, its 95% t interval on the log scale and
    its standard error (``value * sd / sqrt(n)`` of the log values)."""
    return over_sums(log_sums(values))


def over_sums(sums: LogSums) -> tuple[float, float, float, float]:
    """:func:`over_runs` from the exact sums of the runs' log values (two or more): the one
    estimator of :mod:`benchstats.estimate`."""
    found = estimate_of_sums(sums)
    return found.value, found.low, found.high, found.se


def one_run_se(value: float, low: float, high: float, ess: Any) -> float:
    """The standard error of one run's value from its 95% interval: the half-width on the
    log scale over the quantile the benchmark used (Student's t on ``ess - 1`` degrees of
    freedom, as ``benchstats.autocorr`` builds it; 1.96 when the run has no ``results.ess``,
    e.g. a custom metric's own interval)."""
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
        return math.nan
    quantile = Z95
    if isinstance(ess, (int, float)) and not isinstance(ess, bool) and math.isfinite(ess) \
            and ess >= 2:
        quantile = t_critical(max(math.floor(ess - 1.0), 1), 0.95)
    return value * (math.log(high) - math.log(low)) / (2 * quantile)


def of_rows(rows: Sequence[tuple[Any, ...]], column: int) -> tuple[float, float, float, float]:
    """``(value, low, high, se)`` of the point of ``rows`` (light rows, each with a usable
    value in ``column``: :data:`THROUGHPUT` or :data:`TIME_MEAN`; oldest first)."""
    if len(rows) == 1:
        row = rows[0]
        value = float(row[column])
        low = high = math.nan
        if row[CI_LOW] is not None and row[CI_HIGH] is not None and row[CI_LOW] > 0:
            if column == THROUGHPUT and row[TIME_MEAN] is not None:
                low, high = value * row[TIME_MEAN] / row[CI_HIGH], \
                    value * row[TIME_MEAN] / row[CI_LOW]
            elif column == TIME_MEAN:
                low, high = float(row[CI_LOW]), float(row[CI_HIGH])
        return value, low, high, one_run_se(value, low, high, row[ESS])
    return over_runs([float(row[column]) for row in rows])
