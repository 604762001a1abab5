"""Histories (one configuration's results along an axis) read from the database, and the
regressions in them.

:func:`load_series` reads the stored runs matching some filters and builds their series
(``dlbs.db.series``: points, intervals, names), from the summary columns where it can
(``dlbs.db.summary``) and from the runs' facts otherwise; the runs that enter no statistic are
counted by why (:attr:`Loaded.left_out`) and the commands name them ("1 interrupted run left
out"). A filter, metric or axis that matches nothing is a one-line error, never an empty
history that passes a gate. The changes in the series are judged by ``dlbs.db.changes``.

The names of ``dlbs.db.series`` and ``dlbs.db.changes`` that the commands use are importable
from here too (``from dlbs.db.history import load_series, regressions``).

This module reads and checks; it judges no change and computes no statistic itself
(:func:`judge_newest` reads the newest points and hands them to ``dlbs.db.changes``, so that
``regressions --latest`` and ``db page`` judge the same series in the same way).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dlbs.db import pointvalue, records
from dlbs.db.changes import (
    BROKEN_NUMBERS,
    UNSTEADY_NEWEST,
    Broken,
    Found,
    Judged,
    broken_newest,
    gate_exit,
    latest_changes,
    regressions,
    unsteady_newest,
)
from dlbs.db.queries import RunRecord
from dlbs.db.series import (
    CODE_VERSION,
    LOWER_IS_BETTER_PREFIXES,
    NAME_FIELDS,
    NAMING,
    NO_AXIS,
    NO_STATUS,
    NO_VALUE,
    OK_STATUS,
    STORED_KEY_AXES,
    Point,
    Series,
    axis_order,
    axis_value,
    build_series,
    configuration_names,
    higher_is_better,
    naming_of,
    number_of,
    point,
    split_parameters,
    why_left_out,
    withheld_reason,
)
from dlbs.engine.names import did_you_mean
from dlbs.errors import UsageError
from dlbs.logs.withheld import WITHHELD_FACTS

__all__ = [
    "BROKEN_NUMBERS", "CODE_VERSION", "DATE_FALLBACK_NOTE", "LOWER_IS_BETTER_PREFIXES",
    "NAME_FIELDS", "NAMING", "NO_AXIS", "NO_STATUS", "NO_VALUE", "OK_STATUS", "STORED_KEY_AXES",
    "UNSTEADY_NEWEST", "Broken", "Found", "Judged", "Loaded", "Newest", "Point", "Series",
    "axis_value", "broken_newest", "build_series", "configuration_names", "higher_is_better",
    "judge_newest", "latest_changes", "load_series", "load_series_on_axis", "naming_of",
    "point", "regressions",
    "split_parameters", "unsteady_newest",
]


@dataclass
class Loaded:
    """What :func:`load_series` read: the series, how many runs entered them, and the runs
    left out of every statistic by why (a status such as ``interrupted``, or
    :data:`NO_STATUS`, :data:`NO_VALUE`, :data:`NO_AXIS`)."""

    series: list[Series]
    runs: int
    left_out: dict[str, int] = field(default_factory=dict)

    def note(self, metric: str, axis: str) -> str:
        """``"1 interrupted run, 2 runs without a usable results.time left out (...)"``, or
        ``""`` when every run entered."""
        if not self.left_out:
            return ""
        parts = [_left_out_part(why, count, metric, axis)
                 for why, count in sorted(self.left_out.items(), key=lambda kv: -kv[1])]
        return (f"{', '.join(parts)} left out (only runs with results.status ok, a finite "
                f"{metric} > 0 and a value of {axis} enter a statistic)")


def _left_out_part(why: str, count: int, metric: str, axis: str) -> str:
    runs = "run" if count == 1 else "runs"
    if why == NO_STATUS:
        return f"{count} {runs} without a results.status"
    if why == NO_VALUE:
        return f"{count} {runs} without a usable {metric}"
    if why == NO_AXIS:
        return f"{count} {runs} without {axis}"
    return f"{count} {why} {runs}"


def load_series(store: Any, filters: dict[str, Any], metric: str, axis: str,
                include_excluded: bool = True, since: Any = None,
                newest: int | None = None) -> Loaded:
    """The series of the stored runs matching ``filters`` (only runs that ended ok; the
    others counted). For throughput or time along code versions or dates with filters on
    indexed facts only, the runs are read from the summary columns (no JSON facts) and
    grouped here; each series is then named from one run's facts: the same series as
    :func:`build_series` (tested), much faster over a large database. ``newest``: only the
    newest points of each series are wanted (``regressions --latest``); along code versions
    the window is chosen in SQL (:meth:`~dlbs.db.summary.Summary.newest_point_rows`), so the
    cost follows the window, not the history, and the runs left out are counted over all
    matching runs, as without it. A :class:`~dlbs.errors.UsageError` when no stored run
    matches the filters or none has the metric or the axis (with the closest fact name): a
    typo never judges nothing and passes."""
    rows = stored = None
    left_out: dict[str, int] = {}
    counted = False
    if metric in ("results.throughput", "results.time") and axis in STORED_KEY_AXES:
        column = "throughput" if metric == "results.throughput" else "time_mean"
        if newest is not None and include_excluded and _windowable(store, filters, axis):
            rows, stored, counted = _window(store, filters, column, newest, since, left_out)
        if rows is None and stored is None:
            rows = store.light_rows(filters, since)
    if stored is not None and counted:
        series = _stored_series(stored)
    elif rows is None:
        found = _since(store.runs(filters, include_excluded=include_excluded), since)
        _check_matched(store, filters, len(found))
        series = build_series(found, metric, axis, left_out)
        loaded = Loaded(series, _entered(series), left_out)
        _check_names(loaded, metric, axis, _names_of(r.facts for r in found))
        return loaded
    else:
        rows = [r for r in rows if (include_excluded or r[8] is None)
                and (since is None or (r[2] is not None and r[2] >= since))]
        if not counted:
            _check_matched(store, filters, len(rows))
        series = _light_series(rows, metric, axis, {} if counted else left_out)
    _name(store, series, axis, counted)
    loaded = Loaded(series, _entered(series), left_out)
    _check_names(loaded, metric, axis, {metric, axis})
    return loaded


def _window(store: Any, filters: dict[str, Any], column: str, newest: int, since: Any,
            left_out: dict[str, int]) -> tuple[Any, Any, bool]:
    """The newest points of each series chosen in SQL: ``(rows, stored, counted)``, the
    points kept at ingest (``stored``, :meth:`~dlbs.db.summary.Summary.newest_points`) or
    the runs of the window (``rows``), None where they cannot be read so; ``counted``: the
    runs left out were counted into ``left_out`` over all matching runs (and some matched)."""
    rows = stored = None
    if since is None:  # the points themselves, kept at ingest
        stored = store.newest_points(filters, column, newest)
    if stored is None:
        rows = store.newest_point_rows(filters, column, newest, since)
    classes = store.run_classes(filters, column, since)
    if (rows is None and stored is None) or classes is None:
        return rows, stored, False
    matched = 0
    for status, has_value, has_axis, count in classes:
        matched += count
        why = why_left_out(status, has_value, has_axis)
        if why is not None:
            left_out[why] = left_out.get(why, 0) + count
    _check_matched(store, filters, matched)
    return rows, stored, True


def _name(store: Any, series: list[Series], axis: str, newest_only: bool) -> None:
    """Name each series read from the summary columns from its first run's facts, tell why
    its one-run points (``newest_only``: the newest) have no interval, and sort them by
    name."""
    first = {one.key: one.points[0].first_run for one in series}
    bare = [p for one in series for p in _asked(one.points, newest_only)
            if p.runs == 1 and math.isnan(p.low)]
    facts = store.some_facts_of(list(first.values()), records.KEY_SOURCE_FACTS)
    why = store.some_facts_of([p.first_run for p in bare], WITHHELD_FACTS)
    for p in bare:  # the facts of one-run points without an interval: why none
        p.withheld = withheld_reason(p.low, why.get(p.first_run, {}))
    for one in series:
        full = facts.get(first[one.key], {})
        one.parameters = naming_of(full, axis)
    series.sort(key=lambda s: records.canonical(s.parameters))


def _asked(points: list[Point], newest_only: bool) -> list[Point]:
    """The points whose reason for a missing interval is asked: all of them, or for the
    newest points of a window (``--latest``) only the newest one not excluded, the one whose
    reason is told (:func:`unsteady_newest`)."""
    if not newest_only:
        return points
    live = [p for p in points if not p.excluded]
    return live[-1:]


def _windowable(store: Any, filters: dict[str, Any], axis: str) -> bool:
    """Whether the newest points can be chosen in SQL: along code versions, when no stored
    version is a number (a series of numbers only is ordered by value, which SQL does not
    know; then every run is read, as before)."""
    if axis != "exp.code_version":
        return False
    versions = store.code_versions(filters)
    return versions is not None and all(number_of(str(v)) is None for v in versions)


def _entered(series: Sequence[Series]) -> int:
    return sum(p.runs for one in series for p in one.points)


def _names_of(facts: Iterable[dict[str, Any]]) -> set[str]:
    names: set[str] = set()
    for one in facts:
        names.update(one)
    return names


#: What a database command says when it follows the runs' dates because none has a code version.
DATE_FALLBACK_NOTE = (f"no {CODE_VERSION} in these runs: the axis is their date (by day) "
                      f"instead; run with -P{CODE_VERSION}=$(git rev-parse --short HEAD) to "
                      "follow code versions, or give --by date to choose dates")


def load_series_on_axis(store: Any, filters: dict[str, Any], metric: str, axis: str | None,
                        **options: Any) -> tuple[Loaded, str, str | None]:
    """:func:`load_series` along ``axis``; ``None`` (no ``--by`` given): along
    ``exp.code_version``, or, when no matching run has one (ingested folders made without
    ``-Pexp.code_version``, DLBS's own logs), along the runs' dates, with a note saying so
    (these commands stopped with exit 2 on every such database). Returns the series, the axis
    used and the note (None when the axis is the one asked for)."""
    if axis is not None:
        return load_series(store, filters, metric, axis, **options), axis, None
    try:
        return load_series(store, filters, metric, CODE_VERSION, **options), CODE_VERSION, None
    except UsageError as err:
        if not str(err).startswith(f"--by {CODE_VERSION}:"):
            raise
    return load_series(store, filters, metric, "date", **options), "date", DATE_FALLBACK_NOTE


@dataclass
class Newest:
    """The newest point of every series judged (``regressions --latest``): what was read,
    along which axis (and the note when it fell back to the date), the verdicts, and the
    series whose newest runs computed wrong numbers (the gate fails on those too)."""

    loaded: Loaded
    axis: str
    fallback: str | None
    judged: Judged
    broken: list[Broken]
    min_change: float
    alpha: float

    @property
    def exit_code(self) -> int:
        """What ``regressions --latest`` exits with on these verdicts (:func:`gate_exit`)."""
        return gate_exit(self.judged, self.broken)


def judge_newest(store: Any, filters: dict[str, Any], metric: str, axis: str | None,
                 min_change: float, alpha: float, since: Any = None) -> Newest:
    """The verdicts of ``regressions --latest``: the newest points of each series read (the
    window and two to spare, so that versions first run at the same moment cannot change it),
    each newest point judged against the points before it (:func:`latest_changes`), and the
    series whose newest runs computed wrong numbers (:func:`broken_newest`). One function for
    the gate and ``db page``, so that the page's counts are the gate's on the same database."""
    from benchstats.latest import WINDOW

    loaded, axis, fallback = load_series_on_axis(store, filters, metric, axis, since=since,
                                                 newest=WINDOW + 3)
    broken = broken_newest(store, filters, axis, loaded.series, since)
    judged = latest_changes(loaded.series, metric, axis, min_change, alpha)
    return Newest(loaded, axis, fallback, judged, broken, min_change, alpha)


def _check_matched(store: Any, filters: dict[str, Any], matched: int) -> None:
    """No stored run matching the filters is an error (a misspelt filter, a new database
    file), never an empty history that passes a gate."""
    if matched:
        return
    if not store.count():
        raise UsageError(f"--db {store.shown} holds no runs: store some with 'dlbs db ingest' "
                         "or 'experimenter run --db', or check the URL")
    given = " ".join(f"-P{k}={v}" for k, v in filters.items()) or "the options given"
    known = store.fact_names()
    hints = "".join(f" ({k}: not a stored fact{did_you_mean(k, known)})"
                    for k in filters if k not in known)
    raise UsageError(f"no stored run matches {given}{hints}; see 'dlbs db query' for what is "
                     "stored")


def _check_names(loaded: Loaded, metric: str, axis: str, known: set[str]) -> None:
    """A metric or axis that no matched run has is an error with the closest fact name; one
    that runs have but none with a usable value too, and so are matched runs none of which
    ended ok (nothing could be judged: a gate on them must not pass)."""
    if loaded.series:
        return
    for option, name, why in (("--by", axis, NO_AXIS), ("--metric", metric, NO_VALUE)):
        if name == "date" or not loaded.left_out.get(why):
            continue
        if name not in known:
            raise UsageError(f"{option} {name}: no stored run has this fact"
                             f"{did_you_mean(name, known)}")
        hint = (f"; a run carries it when run with -P{CODE_VERSION}=$(git rev-parse --short "
                "HEAD); for these runs give --by date (or leave --by out: the date is then the "
                "axis, said in a note)" if name == CODE_VERSION else "")
        raise UsageError(f"{option} {name}: {loaded.note(metric, axis)}{hint}")
    if loaded.left_out:  # every matched run failed or was stopped: nothing is judged
        raise UsageError(f"no run left to judge: {loaded.note(metric, axis)}; "
                         "'dlbs db query' lists them with their status")


def _light_series(rows: list[tuple[Any, ...]], metric: str, axis: str,
                  left_out: dict[str, int]) -> list[Series]:
    """:func:`build_series` on the summary columns of :meth:`Store.light_rows` (rows oldest
    first, so a key's values arrive in the order they were first measured). Tens of
    thousands of rows for ``regressions --latest``: the common row (ended ok, a usable value,
    an axis value) takes no function call."""
    column = 3 if metric == "results.throughput" else 4
    by_date = axis == "date"
    groups: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    for row in rows:
        if by_date:
            where = None if row[2] is None else row[2].date().isoformat()
        else:
            where = row[7]
        value = row[column]
        if row[9] == OK_STATUS and value is not None and 0 < value < math.inf and where:
            by_value = groups.get(row[1])
            if by_value is None:
                by_value = groups[row[1]] = {}
            found = by_value.get(where)
            if found is None:
                by_value[where] = [row]
            else:
                found.append(row)
            continue
        why = why_left_out(row[9], value is not None and 0 < value < math.inf,
                            where is not None and where != "") or NO_AXIS
        left_out[why] = left_out.get(why, 0) + 1
    out = []
    for key, by_value in groups.items():
        order = axis_order(list(by_value), axis, {v: i for i, v in enumerate(by_value)})
        points = [_light_point(v, by_value[v], column) for v in order]
        out.append(Series(key, {}, points))
    return out


def _stored_series(stored: list[tuple[Any, ...]]) -> list[Series]:
    """The series of :meth:`Store.newest_points`' rows (each series' oldest first), unnamed
    (as :func:`_light_series` leaves them)."""
    out: list[Series] = []
    for key, version, first, live, runs, value, low, high, se in stored:
        if not out or out[-1].key != key:
            out.append(Series(key, {}))
        out[-1].points.append(Point(version, value, low, high, runs, [], excluded=not live,
                                    se=se, first_run=first))
    return out


def _light_point(where: str, rows: list[tuple[Any, ...]], column: int) -> Point:
    """The point of one axis value from its rows (each with a usable value in ``column``)."""
    value, low, high, se = pointvalue.of_rows(rows, column)
    return Point(where, value, low, high, len(rows), [row[pointvalue.ID] for row in rows],
                 excluded=not any(row[pointvalue.REASON] is None for row in rows), se=se)


def _since(runs: list[RunRecord], since: Any) -> list[RunRecord]:
    return runs if since is None else [r for r in runs if r.date is not None and r.date >= since]
