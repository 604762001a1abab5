"""Reading series from the runs' summary columns (no JSON facts): what ``history`` and
``regressions`` read for many series, and the window of newest code versions that
``regressions --latest`` judges, chosen in SQL so that its cost follows the window, not the
history (from the ``points`` table of revision 0005 where the filters allow, else from the
runs).

Every function here answers only filters on indexed facts (:data:`dlbs.db.schema.INDEXED`)
and returns None otherwise: then the caller reads the runs (``dlbs.db.queries``).

This module reads; it writes nothing.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, case, func, or_, select, tuple_, type_coerce
from sqlalchemy.types import TypeDecorator

from dlbs.db import points as db_points
from dlbs.db import pointvalue
from dlbs.db.connection import Room
from dlbs.db.faults import guarded
from dlbs.db.queries import column_value
from dlbs.db.schema import INDEXED, exclusions, runs
from dlbs.db.series import OK_STATUS

_STATUS = db_points.STATUS
_HAS_VERSION = db_points.HAS_VERSION
_usable = db_points.usable
#: Points a query asks for at once (two bound parameters each).
CHUNK = 400


class _IsoDate(TypeDecorator[datetime]):
    """SQLite's stored ``DateTime`` text (``YYYY-MM-DD HH:MM:SS.ffffff``, as SQLAlchemy writes
    it) read with :meth:`datetime.fromisoformat` (C) instead of the dialect's regular
    expression: the same values, several times faster over tens of thousands of rows."""
    impl = String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)


class Summary(Room):
    """The summary reads of one open database."""

    #: The summary columns :meth:`light_rows` gives, in its tuples' order (the exclusion reason
    #: comes in after ``code_version``).
    LIGHT = ("id", "comparability_key", "date", "throughput", "time_mean", "time_ci_low",
             "time_ci_high", "code_version", "status", "ess")

    @guarded("the query")
    def light_rows(self, filters: Mapping[str, Any] | None = None, since: datetime | None = None
                   ) -> list[tuple[Any, ...]] | None:
        """The runs of :meth:`~dlbs.db.queries.Queries.runs` from the summary columns only (no
        JSON facts), oldest first, as tuples ``(id, comparability_key, date, throughput,
        time_mean, time_ci_low, time_ci_high, code_version, exclusion reason or None, status,
        ess)``; ``since``: only runs of that date or later. None when a filter needs the facts
        (then read the runs). What history and regressions read for many series."""
        conditions = _indexed(filters, since)
        if conditions is None:
            return None
        return self._light(self._light_select().where(*conditions))

    def _light_select(self) -> Any:
        """The columns of :meth:`light_rows` in their order, the exclusion's reason joined."""
        columns: list[Any] = [runs.c[name] for name in self.LIGHT]
        if self.db.backend == "sqlite":  # tens of thousands of dates a query
            columns[2] = type_coerce(runs.c.date, _IsoDate()).label("date")
        columns.insert(8, exclusions.c.reason)
        return select(*columns).select_from(
            runs.outerjoin(exclusions, exclusions.c.run_id == runs.c.id))

    def _light(self, stmt: Any) -> list[tuple[Any, ...]]:
        with self.db.engine.connect() as conn:
            rows = [tuple(row) for row in conn.execute(stmt)]
        rows.sort(key=pointvalue.oldest_first)
        return rows

    @guarded("the query")
    def newest_point_rows(self, filters: Mapping[str, Any] | None, metric_column: str,
                          points: int, since: datetime | None = None
                          ) -> list[tuple[Any, ...]] | None:
        """:meth:`light_rows` of the ``points`` newest code versions of each series that hold
        a usable run not excluded (status ok, ``metric_column`` finite and > 0), newest by the
        first such run (date, then id), and of one more version of a series that has no such
        version (so every series is there): what ``regressions --latest`` judges, read with
        the window chosen in SQL, so its cost follows the window, not the history. None when
        a filter needs the facts."""
        conditions = _indexed(filters, since)
        if conditions is None:
            return None
        by_series = _series_conditions(filters, since)
        if by_series is not None:  # the window from the points table (revision 0005)
            chosen = db_points.window(self.db.backend, metric_column, by_series, points)
        else:
            chosen = _window_from_runs(conditions, metric_column, points)
        stmt = (self._light_select()
                .join(chosen, and_(runs.c.comparability_key == chosen.c.k,
                                   runs.c.code_version == chosen.c.v))
                .where(*conditions))
        return self._light(stmt)

    @guarded("the query")
    def newest_points(self, filters: Mapping[str, Any] | None, metric_column: str,
                      count: int) -> list[tuple[Any, ...]] | None:
        """The points :meth:`newest_point_rows` would make of its runs, read from the
        ``points`` table with their statistics (revision 0006) as ``(comparability key,
        *dlbs.db.points.POINT_COLUMNS)``, each series' oldest first; NaN where the table holds
        NULL. None when a filter is not a series column, or when a point of the window has
        no statistics kept (then read the runs)."""
        by_series = _series_conditions(filters, None)
        if by_series is None or not self.db.keeps_points:
            return None
        stmt = db_points.window_points(self.db.backend, metric_column, by_series, count)
        nan = math.nan
        with self.db.engine.connect() as conn:
            found = [(k, v, first, live, n, value, nan if low is None else low,
                      nan if high is None else high, nan if se is None else se)
                     for k, v, first, live, n, value, low, high, se in conn.execute(stmt)]
        # a point kept without statistics (its runs overflow them, or an older dlbs wrote the
        # row while this one upgraded the database): the runs are read instead
        return None if any(row[4] is None or row[5] is None for row in found) else found

    @guarded("the query")
    def ok_runs_at(self, points: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[int]]:
        """The ids of the runs that ended ok at each ``(comparability key, code version)``:
        the runs of a point read from the ``points`` table, which keeps only the first."""
        out: dict[tuple[str, str], list[int]] = {}
        wanted = list(dict.fromkeys(points))
        with self.db.engine.connect() as conn:
            for start in range(0, len(wanted), CHUNK):
                stmt = (select(runs.c.id, runs.c.comparability_key, runs.c.code_version)
                        .where(tuple_(runs.c.comparability_key, runs.c.code_version)
                               .in_(wanted[start:start + CHUNK]), runs.c.status == OK_STATUS)
                        .order_by(runs.c.id))
                for run_id, key, version in conn.execute(stmt):
                    out.setdefault((key, version), []).append(run_id)
        return out

    @guarded("the query")
    def code_versions(self, filters: Mapping[str, Any] | None) -> list[str] | None:
        """The distinct code versions of the runs matching indexed ``filters`` (None when a
        filter needs the facts)."""
        conditions = _indexed(filters)
        if conditions is None:
            return None
        with self.db.engine.connect() as conn:
            return [v for (v,) in conn.execute(select(runs.c.code_version).where(*conditions)
                                               .distinct()) if v is not None]

    @guarded("the query")
    def run_classes(self, filters: Mapping[str, Any] | None, metric_column: str,
                    since: datetime | None = None) -> list[tuple[Any, bool, bool, int]] | None:
        """How many matching runs there are by ``(status, has a usable metric value, has a
        code version)``: the counts of the runs left out, without reading the runs."""
        conditions = _indexed(filters, since)
        if conditions is None:
            return None
        by_series = _series_conditions(filters, since)
        if by_series is not None:  # from the counts kept at ingest (revision 0005)
            with self.db.engine.connect() as conn:
                return db_points.run_classes(conn, by_series, metric_column)
        has_value = case((_usable(runs.c[metric_column]), 1), else_=0)
        has_axis = case((_HAS_VERSION, 1), else_=0)
        stmt = (select(_STATUS, has_value, has_axis, func.count())
                .where(*conditions).group_by(_STATUS, has_value, has_axis))
        with self.db.engine.connect() as conn:
            return [(status, bool(v), bool(a), int(n)) for status, v, a, n in conn.execute(stmt)]


def _indexed(filters: Mapping[str, Any] | None, since: datetime | None = None
             ) -> list[Any] | None:
    """The SQL conditions of filters on indexed facts (and of ``since``: runs of that date
    or later); None when a filter needs the facts."""
    conditions = [] if since is None else [runs.c.date >= since]
    for key, value in (filters or {}).items():
        column = INDEXED.get(key)
        sql_value = column_value(column, value) if column else None
        if column is None or sql_value is None:
            return None
        conditions.append(runs.c[column] == sql_value)
    return conditions


def _series_conditions(filters: Mapping[str, Any] | None, since: datetime | None
                       ) -> list[Any] | None:
    """The filters as conditions on ``series`` when the tables of revision 0005 can answer
    (every filter a series column, no ``since``), else None: then the runs are read."""
    if since is not None:
        return None
    return db_points.series_conditions(filters or {}, INDEXED, column_value)


def _window_from_runs(conditions: list[Any], metric_column: str, points: int) -> Any:
    """The window's (series, version) pairs computed over every matching run (a filter on
    a fact that is not a series column, or ``since``)."""
    usable = [_STATUS == "ok", _usable(runs.c[metric_column]), _HAS_VERSION]
    live = case((exclusions.c.run_id.is_(None), 1), else_=0)
    pair = (runs.c.comparability_key, runs.c.code_version)
    # each version's first run: the oldest by date, then id, undated last (as the points
    # table and a history order them)
    oldest = func.row_number().over(partition_by=pair, order_by=(
        runs.c.date.is_(None), runs.c.date, runs.c.id))
    each = (select(runs.c.comparability_key.label("k"), runs.c.code_version.label("v"),
                   runs.c.date.label("first_date"), runs.c.id.label("first_id"),
                   func.max(live).over(partition_by=pair).label("live"),
                   oldest.label("n"))
            .select_from(runs.outerjoin(exclusions, exclusions.c.run_id == runs.c.id))
            .where(*conditions, *usable)).cte("each")
    found = select(each.c.k, each.c.v, each.c.first_date, each.c.first_id, each.c.live) \
        .where(each.c.n == 1).cte("found")
    rank = func.row_number().over(
        partition_by=(found.c.k, found.c.live),
        order_by=(found.c.first_date.is_(None).desc(), found.c.first_date.desc(),
                  found.c.first_id.desc()))
    ranked = select(found.c.k, found.c.v, found.c.live, rank.label("rank")).cte("ranked")
    return select(ranked.c.k, ranked.c.v).where(or_(
        and_(ranked.c.live == 1, ranked.c.rank <= points),
        and_(ranked.c.live == 0, ranked.c.rank <= 1))).cte("chosen")
