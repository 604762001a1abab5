"""The ``series`` and ``points`` tables (``dlbs.db.schema``): what ``regressions --latest``
chooses each series' newest code versions from, at a cost that follows the window, not the
history.

Both are derived from ``runs`` and ``exclusions`` and never edited by hand: every change to
those (a stored run, an exclusion, an inclusion) refreshes the rows of the (series, code
version) pairs it touched, in the same transaction (:func:`refresh`); revision 0005 fills them
from the runs already stored (:func:`fill`). A row of ``points`` is the aggregate the window
query used to compute over every run of the history: the version's first date and first run
among its usable runs, and whether one of them is not excluded.

The window itself (:func:`window`) reads, for each series matching the filters, the newest
rows of ``ix_points_window``: a correlated subquery with a limit on SQLite, a ``LATERAL``
join on PostgreSQL.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from dlbs.db import pointvalue
from dlbs.db.schema import classes, exclusions, points, runs, series

#: The indexed columns a series row holds (each the same for every run of a comparability key).
SERIES_COLUMNS = ("model", "phase", "precision", "batch", "device", "device_count",
                  "framework", "framework_version")
#: The summary columns a window can be chosen for, by their number in ``points.metric``.
METRICS = ("throughput", "time_mean")
#: ``first_date`` of a version none of whose runs has a date: after every date, as the window
#: query has always ordered such a version (newest).
UNDATED = datetime(9999, 12, 31)
#: (series, version) pairs refreshed per statement.
CHUNK = 300

#: A run's status, read so that no index on status alone serves it: the planner then reads
#: the covering ix_runs_key_version (SQLite took ix_runs_status and read every row with its
#: facts). A run without a status counts as one whose status is "".
STATUS = func.coalesce(runs.c.status, "")
#: The run has a code version (the axis of ``--latest``).
HAS_VERSION = and_(runs.c.code_version.is_not(None), runs.c.code_version != "")


def usable(value: Any) -> Any:
    """The summary column ``value`` holds a measurement: finite and > 0 (NULL, NaN, infinity
    and 0 are none), as :func:`dlbs.db.series.why_left_out` judges it."""
    return and_(value > 0, value < 1e308)


def _light_columns() -> list[Any]:
    """A run's columns in the order of a light row (``dlbs.db.pointvalue``'s positions)."""
    return [runs.c.id, runs.c.comparability_key, runs.c.date, runs.c.throughput,
            runs.c.time_mean, runs.c.time_ci_low, runs.c.time_ci_high, runs.c.code_version,
            exclusions.c.reason, runs.c.status, runs.c.ess]


def _usable_runs(metric: int) -> Any:
    """``(series id, *light row)`` of every run usable for metric number ``metric``."""
    return (select(series.c.id, *_light_columns())
            .select_from(runs.join(series, series.c.comparability_key == runs.c.comparability_key)
                         .outerjoin(exclusions, exclusions.c.run_id == runs.c.id))
            .where(STATUS == "ok", usable(runs.c[METRICS[metric]]), HAS_VERSION))


def _nan_null(x: float) -> float | None:
    return None if math.isnan(x) else x


def _point_row(series_id: int, metric: int, version: str, first: tuple[Any, ...], live: bool,
               sums: pointvalue.LogSums, one: tuple[Any, ...] | None) -> dict[str, Any]:
    """The ``points`` row of a (series, version) whose oldest usable run is ``first`` (a light
    row), with a run not excluded (``live``), the exact sums of its runs' log values and, when
    it has one run, that run (``one``: a point of one run is that run's own interval)."""
    kept: dict[str, Any] = {
        "series_id": series_id, "metric": metric, "code_version": version,
        "first_date": first[pointvalue.DATE] or UNDATED, "first_id": first[pointvalue.ID],
        "live": int(live), "runs": None, "value": None, "low": None, "high": None, "se": None,
        "log_sums": sums.text()}
    try:
        if one is not None:
            value, low, high, se = pointvalue.of_rows([one], _COLUMN[metric])
        else:
            value, low, high, se = pointvalue.over_sums(sums)
    except (ArithmeticError, ValueError):
        # runs whose values overflow the statistics (1e60 beside 100; an ess of 1e308):
        # kept without them, so that storing never fails on a run; a window holding such a
        # point is read from its runs (Store.newest_points), where the history says why
        pass
    else:
        kept.update(runs=sums.count, value=value, low=_nan_null(low), high=_nan_null(high),
                    se=_nan_null(se))
    return kept


#: The light row's position of each metric's value.
_COLUMN = (pointvalue.THROUGHPUT, pointvalue.TIME_MEAN)


def _groups(metric: int, found: Iterable[tuple[Any, ...]]
            ) -> dict[tuple[int, str], list[tuple[Any, ...]]]:
    """``(series id, *light row)`` tuples by (series id, version), each oldest first."""
    groups: dict[tuple[int, str], list[tuple[Any, ...]]] = {}
    for row in found:
        groups.setdefault((row[0], row[1 + pointvalue.VERSION]), []).append(row[1:])
    for rows in groups.values():
        rows.sort(key=pointvalue.oldest_first)
    return groups


def _point_rows(metric: int, found: Iterable[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The ``points`` rows of metric number ``metric`` from ``(series id, *light row)``
    tuples (every usable run of each (series, version) they hold): the statistics as
    ``dlbs.db.history`` computes them from the same runs."""
    out = []
    for (series_id, version), rows in _groups(metric, found).items():
        sums = pointvalue.log_sums(float(run[_COLUMN[metric]]) for run in rows)
        out.append(_point_row(series_id, metric, version, rows[0],
                              any(run[pointvalue.REASON] is None for run in rows), sums,
                              rows[0] if len(rows) == 1 else None))
    return out


def refresh(conn: Connection, pairs: Iterable[tuple[str, Any]]) -> None:
    """Recompute the ``points`` rows of the (comparability key, code version) pairs a change
    touched (their series rows exist: :func:`add_series` came first) from all their runs:
    an exclusion or an inclusion (what changes there is whether a run is excluded)."""
    todo = sorted({(key, version) for key, version in pairs if version})
    arrays = conn.dialect.name == "postgresql"
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start:start + CHUNK]
        ids = dict(conn.execute(select(series.c.comparability_key, series.c.id).where(
            _among(series.c.comparability_key, {key for key, _ in chunk}, arrays))).all())
        gone = [(ids[key], version) for key, version in chunk if key in ids]
        if gone:
            conn.execute(delete(points).where(
                _pairs_among(points.c.series_id, points.c.code_version, gone, arrays)))
        for metric in range(len(METRICS)):
            found = conn.execute(_usable_runs(metric).where(_pairs_among(
                runs.c.comparability_key, runs.c.code_version, chunk, arrays))).all()
            rows = _point_rows(metric, found)
            if rows:
                conn.execute(points.insert(), rows)


def add_runs(conn: Connection, run_ids: Sequence[int]) -> None:
    """Add runs just stored (their series rows exist: :func:`add_series` came first) to the
    ``points`` rows of their (series, version) pairs: the new runs and the pairs' rows are
    read, not the pairs' other runs, so an ingest costs what it adds whatever a version
    holds. A point's oldest run, its live flag and its exact sums of logs combine; its
    statistics are computed from the sums (the same numbers as a :func:`refresh`)."""
    arrays = conn.dialect.name == "postgresql"
    for start in range(0, len(run_ids), CHUNK):
        chunk = run_ids[start:start + CHUNK]
        for metric in range(len(METRICS)):
            found = conn.execute(_usable_runs(metric).where(
                _among(runs.c.id, chunk, arrays))).all()
            groups = _groups(metric, found)
            if groups:
                _add_to_points(conn, metric, groups, arrays)


def _add_to_points(conn: Connection, metric: int,
                   groups: Mapping[tuple[int, str], list[tuple[Any, ...]]],
                   arrays: bool) -> None:
    """Combine the new runs ``groups`` (by (series id, version), oldest first) of metric
    number ``metric`` with the ``points`` rows of their pairs, written anew."""
    pairs = sorted(groups)
    mine = and_(points.c.metric == metric,
                _pairs_among(points.c.series_id, points.c.code_version, pairs, arrays))
    old = {(row.series_id, row.code_version): row for row in conn.execute(
        select(points.c.series_id, points.c.code_version, points.c.first_date,
               points.c.first_id, points.c.live, points.c.log_sums).where(mine))}
    column = _COLUMN[metric]
    rows = []
    for pair, new in groups.items():
        sums = pointvalue.log_sums(float(run[column]) for run in new)
        first, live = new[0], any(run[pointvalue.REASON] is None for run in new)
        one = new[0] if len(new) == 1 else None
        had = old.get(pair)
        if had is not None:
            sums = pointvalue.LogSums.parse(had.log_sums).merged(sums)
            one = None  # two runs or more now
            was_first = _light_stub(had.first_id, had.first_date)
            if pointvalue.oldest_first(was_first) < pointvalue.oldest_first(first):
                first = was_first
            live = live or bool(had.live)
        rows.append(_point_row(pair[0], metric, pair[1], first, live, sums, one))
    conn.execute(delete(points).where(mine))
    conn.execute(points.insert(), rows)


def _light_stub(run_id: int, first_date: datetime) -> tuple[Any, ...]:
    """A light row holding only a point's oldest run's id and date (what orders it)."""
    stub: list[Any] = [None] * (pointvalue.ESS + 1)
    stub[pointvalue.ID] = run_id
    stub[pointvalue.DATE] = None if first_date == UNDATED else first_date
    return tuple(stub)


def _among(column: Any, values: Iterable[Any], arrays: bool) -> Any:
    """``column`` holds one of ``values``: ``= ANY(array)`` with ``arrays`` (PostgreSQL: one
    statement text whatever the count, which the driver prepares once), else ``IN (...)``."""
    if arrays:
        return column == any_(bindparam(None, sorted(values), type_=ARRAY(column.type),
                                        unique=True))
    return column.in_(sorted(values))


def _pairs_among(first: Any, second: Any, pairs: Sequence[tuple[Any, Any]],
                 arrays: bool) -> Any:
    """``(first, second)`` is one of ``pairs``; each column's list of values is named too, so
    that the index on the two is searched (a list of pairs alone is a scan on SQLite)."""
    ones = _among(first, {a for a, _ in pairs}, arrays)
    twos = _among(second, {b for _, b in pairs}, arrays)
    if not arrays:
        return and_(ones, twos, tuple_(first, second).in_(pairs))
    both = func.unnest(bindparam(None, [a for a, _ in pairs], type_=ARRAY(first.type),
                                 unique=True),
                       bindparam(None, [b for _, b in pairs], type_=ARRAY(second.type),
                                 unique=True)).table_valued("a", "b").render_derived()
    return and_(ones, twos, tuple_(first, second).in_(select(both.c.a, both.c.b)))


def add_series(conn: Connection, insert: Any, rows: Iterable[Mapping[str, Any]]) -> None:
    """A ``series`` row for each comparability key of ``rows`` (``runs`` rows) not yet known;
    ``insert``: the dialect's insert (``ON CONFLICT DO NOTHING``)."""
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row["comparability_key"]
        if key not in found:
            found[key] = {"comparability_key": key, **{c: row.get(c) for c in SERIES_COLUMNS}}
    if found:
        conn.execute(insert(series).on_conflict_do_nothing(
            index_elements=["comparability_key"]), list(found.values()))


def _flag(condition: Any) -> Any:
    return case((condition, 1), else_=0)


#: The class of a run (``classes``' columns but the count), as SQL computes it.
_CLASS = (STATUS, _flag(usable(runs.c.throughput)), _flag(usable(runs.c.time_mean)),
          _flag(HAS_VERSION))
_CLASS_COLUMNS = ["series_id", "status", "has_throughput", "has_time", "has_version"]


def _classes_of(run_ids: Sequence[int] | None, arrays: bool = False) -> Any:
    """The counts of runs by series and class: of the given runs, or of every stored run
    (``arrays``: :func:`_among`)."""
    stmt = (select(series.c.id, *_CLASS, func.count())
            .select_from(runs.join(series, series.c.comparability_key == runs.c.comparability_key))
            .group_by(series.c.id, *_CLASS))
    return stmt if run_ids is None else stmt.where(_among(runs.c.id, run_ids, arrays))


def add_classes(conn: Connection, insert: Any, run_ids: Sequence[int]) -> None:
    """Count new runs into ``classes`` (their series rows exist); ``insert``: the dialect's
    insert (``ON CONFLICT DO UPDATE``)."""
    for start in range(0, len(run_ids), 500):
        found = conn.execute(_classes_of(run_ids[start:start + 500],
                                         conn.dialect.name == "postgresql")).all()
        if not found:
            continue
        stmt = insert(classes)
        stmt = stmt.on_conflict_do_update(index_elements=_CLASS_COLUMNS,
                                          set_={"runs": classes.c.runs + stmt.excluded.runs})
        conn.execute(stmt, [dict(zip([*_CLASS_COLUMNS, "runs"], row)) for row in found])


def run_classes(conn: Connection, conditions: Sequence[Any], metric_column: str
                ) -> list[tuple[Any, bool, bool, int]]:
    """:meth:`dlbs.db.summary.Summary.run_classes` of the series matching ``conditions`` (on
    ``series``), from the counts."""
    has_value = classes.c.has_throughput if metric_column == "throughput" else classes.c.has_time
    stmt = (select(classes.c.status, has_value, classes.c.has_version, func.sum(classes.c.runs))
            .select_from(classes.join(series, series.c.id == classes.c.series_id))
            .where(*conditions).group_by(classes.c.status, has_value, classes.c.has_version))
    return [(status, bool(v), bool(a), int(n)) for status, v, a, n in conn.execute(stmt)]


def fill(conn: Connection) -> None:
    """``series`` and ``classes`` from every stored run (revision 0005; ``points``: see
    :func:`fill_points`)."""
    first = (select(runs.c.comparability_key, *(func.min(runs.c[c]) for c in SERIES_COLUMNS))
             .group_by(runs.c.comparability_key))
    conn.execute(series.insert().from_select(["comparability_key", *SERIES_COLUMNS], first))
    conn.execute(classes.insert().from_select([*_CLASS_COLUMNS, "runs"], _classes_of(None)))


def fill_points(conn: Connection, series_at_once: int = 2000, sums: bool = True) -> None:
    """The ``points`` rows of every stored run, made anew (revisions 0006 and 0007), a few
    thousand series at a time (the summary columns of their runs in memory at once);
    ``sums``: with the ``log_sums`` column (revision 0006 has none yet)."""
    conn.execute(delete(points))
    known = [i for (i,) in conn.execute(select(series.c.id).order_by(series.c.id))]
    for start in range(0, len(known), series_at_once):
        low, high = known[start], known[min(start + series_at_once, len(known)) - 1]
        for metric in range(len(METRICS)):
            found = conn.execute(_usable_runs(metric).where(series.c.id.between(low, high)))
            rows = _point_rows(metric, found)
            if not sums:
                for row in rows:
                    del row["log_sums"]
            for at in range(0, len(rows), 5000):
                conn.execute(points.insert(), rows[at:at + 5000])


def series_conditions(filters: Mapping[str, Any], indexed: Mapping[str, str],
                      column_value: Any) -> list[Any] | None:
    """The filters as conditions on ``series`` (None when one is not a series column: then
    the window is chosen from the runs)."""
    conditions = []
    for key, value in filters.items():
        column = indexed.get(key)
        if column not in SERIES_COLUMNS:
            return None
        sql_value = column_value(column, value)
        if sql_value is None:
            return None
        conditions.append(series.c[column] == sql_value)
    return conditions


#: What a point row of :func:`window_points` holds after the comparability key, in order.
POINT_COLUMNS = ("code_version", "first_id", "live", "runs", "value", "low", "high", "se")


def _newest_rows(dialect: str, metric_column: str, conditions: Sequence[Any], count: int,
                 wanted: Sequence[str]) -> Any:
    """``(k, *wanted)`` of the window's ``points`` rows, a MATERIALIZED CTE: for each series
    matching ``conditions``, its ``count`` newest versions with a run not excluded and its
    newest version whose usable runs are all excluded."""
    metric = METRICS.index(metric_column)
    keys = select(series.c.id.label("sid"), series.c.comparability_key.label("k")) \
        .where(*conditions).subquery("s")
    order = (points.c.first_date.desc(), points.c.first_id.desc())

    def newest(live: int, limit: int) -> Any:
        mine = (points.c.series_id == keys.c.sid, points.c.metric == metric,
                points.c.live == live)
        if dialect == "postgresql":
            chosen = (select(*(points.c[name] for name in wanted)).where(*mine)
                      .order_by(*order).limit(limit).lateral("w"))
            return (select(keys.c.k, *(chosen.c[name] for name in wanted))
                    .select_from(keys.join(chosen, true())))
        rowids: Any = (select(literal_column("points.rowid")).select_from(points)
                       .where(*mine).order_by(*order).limit(limit).correlate(keys))
        outer = points.alias("p")
        return (select(keys.c.k, *(outer.c[name] for name in wanted))
                .select_from(keys.join(outer, literal_column("p.rowid").in_(rowids))))

    # materialized: SQLite would otherwise fold it into the join and run it once a run
    return union_all(newest(1, count), newest(0, 1)).cte("chosen").prefix_with("MATERIALIZED")


def window(dialect: str, metric_column: str, conditions: Sequence[Any], count: int) -> Any:
    """The (comparability key, version) pairs of the window (a CTE of ``k``, ``v``): see
    :func:`_newest_rows`."""
    chosen = _newest_rows(dialect, metric_column, conditions, count, ["code_version"])
    return select(chosen.c.k, chosen.c.code_version.label("v")).cte("pairs")


def window_points(dialect: str, metric_column: str, conditions: Sequence[Any],
                  count: int) -> Any:
    """The window's points themselves, statistics included (``k`` and
    :data:`POINT_COLUMNS`), each series' oldest first: what ``regressions --latest`` judges,
    read without a run."""
    wanted = [*POINT_COLUMNS, "first_date"]
    chosen = _newest_rows(dialect, metric_column, conditions, count, wanted)
    return (select(chosen.c.k, *(chosen.c[name] for name in POINT_COLUMNS))
            .order_by(chosen.c.k, chosen.c.first_date, chosen.c.first_id))
