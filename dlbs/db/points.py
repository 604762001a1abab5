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

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    and_,
    case,
    delete,
    func,
    literal,
    literal_column,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.engine import Connection

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
    and 0 are none), as :func:`dlbs.db.history._why_left_out` judges it."""
    return and_(value > 0, value < 1e308)


def _aggregate(metric: int, pairs: Sequence[tuple[str, str]] | None) -> Any:
    """The ``points`` rows of metric number ``metric``: of the given (comparability key,
    version) pairs, or of every stored run."""
    live = case((exclusions.c.run_id.is_(None), 1), else_=0)
    stmt = (select(series.c.id, literal(metric), runs.c.code_version,
                   func.coalesce(func.min(runs.c.date), literal(UNDATED, DateTime())),
                   func.min(runs.c.id), func.max(live))
            .select_from(runs.join(series, series.c.comparability_key == runs.c.comparability_key)
                         .outerjoin(exclusions, exclusions.c.run_id == runs.c.id))
            .where(STATUS == "ok", usable(runs.c[METRICS[metric]]), HAS_VERSION)
            .group_by(series.c.id, runs.c.code_version))
    if pairs is not None:  # the two lists let the index be searched (a list of pairs alone
        # is a scan of every run on SQLite); the pairs then keep only those asked
        stmt = stmt.where(runs.c.comparability_key.in_(sorted({k for k, _ in pairs})),
                          runs.c.code_version.in_(sorted({v for _, v in pairs})),
                          tuple_(runs.c.comparability_key, runs.c.code_version).in_(pairs))
    return stmt


_COLUMNS = ["series_id", "metric", "code_version", "first_date", "first_id", "live"]


def refresh(conn: Connection, pairs: Iterable[tuple[str, Any]]) -> None:
    """Recompute the ``points`` rows of the (comparability key, code version) pairs a change
    touched (their series rows exist: :func:`add_series` came first)."""
    todo = sorted({(key, version) for key, version in pairs if version})
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start:start + CHUNK]
        ids = dict(conn.execute(select(series.c.comparability_key, series.c.id).where(
            series.c.comparability_key.in_({key for key, _ in chunk}))).all())
        gone = [(ids[key], version) for key, version in chunk if key in ids]
        if gone:  # searched by the index, as in _aggregate
            conn.execute(delete(points).where(
                points.c.series_id.in_(sorted({i for i, _ in gone})),
                points.c.code_version.in_(sorted({v for _, v in gone})),
                tuple_(points.c.series_id, points.c.code_version).in_(gone)))
        for metric in range(len(METRICS)):
            conn.execute(points.insert().from_select(_COLUMNS, _aggregate(metric, chunk)))


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


def _classes_of(run_ids: Sequence[int] | None) -> Any:
    """The counts of runs by series and class: of the given runs, or of every stored run."""
    stmt = (select(series.c.id, *_CLASS, func.count())
            .select_from(runs.join(series, series.c.comparability_key == runs.c.comparability_key))
            .group_by(series.c.id, *_CLASS))
    return stmt if run_ids is None else stmt.where(runs.c.id.in_(run_ids))


def add_classes(conn: Connection, insert: Any, run_ids: Sequence[int]) -> None:
    """Count new runs into ``classes`` (their series rows exist); ``insert``: the dialect's
    insert (``ON CONFLICT DO UPDATE``)."""
    for start in range(0, len(run_ids), 500):
        found = conn.execute(_classes_of(run_ids[start:start + 500])).all()
        if not found:
            continue
        stmt = insert(classes)
        stmt = stmt.on_conflict_do_update(index_elements=_CLASS_COLUMNS,
                                          set_={"runs": classes.c.runs + stmt.excluded.runs})
        conn.execute(stmt, [dict(zip([*_CLASS_COLUMNS, "runs"], row)) for row in found])


def run_classes(conn: Connection, conditions: Sequence[Any], metric_column: str
                ) -> list[tuple[Any, bool, bool, int]]:
    """:meth:`dlbs.db.store.Store.run_classes` of the series matching ``conditions`` (on
    ``series``), from the counts."""
    has_value = classes.c.has_throughput if metric_column == "throughput" else classes.c.has_time
    stmt = (select(classes.c.status, has_value, classes.c.has_version, func.sum(classes.c.runs))
            .select_from(classes.join(series, series.c.id == classes.c.series_id))
            .where(*conditions).group_by(classes.c.status, has_value, classes.c.has_version))
    return [(status, bool(v), bool(a), int(n)) for status, v, a, n in conn.execute(stmt)]


def fill(conn: Connection) -> None:
    """The three tables from every stored run (revision 0005)."""
    first = (select(runs.c.comparability_key, *(func.min(runs.c[c]) for c in SERIES_COLUMNS))
             .group_by(runs.c.comparability_key))
    conn.execute(series.insert().from_select(["comparability_key", *SERIES_COLUMNS], first))
    for metric in range(len(METRICS)):
        conn.execute(points.insert().from_select(_COLUMNS, _aggregate(metric, None)))
    conn.execute(classes.insert().from_select([*_CLASS_COLUMNS, "runs"], _classes_of(None)))


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


def window(dialect: str, metric_column: str, conditions: Sequence[Any], count: int) -> Any:
    """The (comparability key, version) pairs of the window (a CTE of ``k``, ``v``): for each
    series matching ``conditions``, its ``count`` newest versions with a run not excluded and
    its newest version whose usable runs are all excluded."""
    metric = METRICS.index(metric_column)
    keys = select(series.c.id.label("sid"), series.c.comparability_key.label("k")) \
        .where(*conditions).subquery("s")
    order = (points.c.first_date.desc(), points.c.first_id.desc())

    def newest(live: int, limit: int) -> Any:
        mine = (points.c.series_id == keys.c.sid, points.c.metric == metric,
                points.c.live == live)
        if dialect == "postgresql":
            chosen = (select(points.c.code_version).where(*mine)
                      .order_by(*order).limit(limit).lateral("w"))
            return (select(keys.c.k, chosen.c.code_version.label("v"))
                    .select_from(keys.join(chosen, true())))
        rowids: Any = (select(literal_column("points.rowid")).select_from(points)
                       .where(*mine).order_by(*order).limit(limit).correlate(keys))
        outer = points.alias("p")
        return (select(keys.c.k, outer.c.code_version.label("v"))
                .select_from(keys.join(outer, literal_column("p.rowid").in_(rowids))))

    # materialized: SQLite would otherwise fold it into the join and run it once a run
    return union_all(newest(1, count), newest(0, 1)).cte("chosen").prefix_with("MATERIALIZED")
