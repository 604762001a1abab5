"""Histories (one configuration's results along an axis) and the regressions in them.

A **series** is the runs that share a comparability key (``dlbs.db.records``) with the axis
left out; its **points** are the axis values in order (``date``: by day, chronologically;
any fact, e.g. ``exp.code_version``: in the order each value was first measured). A point's
value is the geometric mean of its runs' metric, its interval a t interval over the runs on
the log scale (runs are the unit, as in the reports); a point of one run takes that run's own
interval (throughput: samples over the time interval), or none.

Only runs that ended ``ok`` (``results.status``) with a finite metric > 0 and a value on the
axis enter a series; every other run is counted by why (:attr:`Loaded.left_out`) and the
commands name them ("1 interrupted run left out").

Regressions: :func:`benchstats.find_changes` on each series, weighted by each point's own
interval plus the scatter between points, and confirmed only beyond ``min_change``. A point's
standard error is its runs' own: ``sd / sqrt(n)`` of their log values (never the t interval
divided by 2 x 1.96, which overstates it 2.2x at 3 runs and 6.5x at 2); a point of one run
takes its interval's half-width over the t quantile that interval used (on the run's
effective sample size ``results.ess``). Changes at the same first bad axis value in several
series are reported as affecting those configurations together.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from benchstats import find_changes
from benchstats.compare import judge
from benchstats.estimate import ESTIMATOR
from benchstats.latest import METHODS as LATEST_METHODS
from benchstats.latest import WINDOW, judge_latest_many

from dlbs.db import pointvalue, records
from dlbs.db.pointvalue import one_run_se, over_runs
from dlbs.db.store import RunRecord
from dlbs.engine.names import did_you_mean
from dlbs.errors import UsageError
from dlbs.logs.withheld import WITHHELD_FACTS, ci_withheld

#: Metrics where lower is better (a rise is a regression).
LOWER_IS_BETTER_PREFIXES = ("results.time", "results.ttft", "results.peak_memory")
#: What names a series in an output (the key fields people read).
NAMING = ("exp.model", "exp.phase", "exp.dtype", "exp.replica_batch", "exp.device_type",
          "device_model", "exp.num_replicas", "host_class", "exp.framework",
          "exp.framework_version", "container_image", "exp.num_threads")
#: What every series' name in a table shows, as values; a naming field that differs between
#: the series shown is added as ``name=value`` (:func:`configuration_names`).
NAME_FIELDS = ("exp.model", "exp.phase", "exp.dtype", "exp.replica_batch", "exp.device_type",
               "exp.num_replicas")
#: Axes the stored comparability key already leaves out (``dlbs.db.records.KEY_FACTS``).
STORED_KEY_AXES = ("exp.code_version", "date")
CODE_VERSION = "exp.code_version"
#: The one ``results.status`` whose runs enter a statistic.
OK_STATUS = "ok"
#: Why a run was left out besides its status (keys of :attr:`Loaded.left_out`).
NO_STATUS, NO_VALUE, NO_AXIS = "(no status)", "(no value)", "(no axis value)"


@dataclass
class Point:
    """One axis value of a series: ``se`` is the standard error of ``value`` (see the
    module's docstring; NaN when unknown)."""

    axis_value: str
    value: float
    low: float
    high: float
    runs: int
    #: every run's id, oldest first; empty for a point read from the ``points`` table
    #: (``regressions --latest``), which keeps only the first (``first_run``)
    run_ids: list[int]
    excluded: bool = False
    se: float = math.nan
    withheld: str = ""  # why a one-run point has no interval: its run's (results.ci_withheld)
    first_run: int = -1  # the id of its oldest run (by date, then id)

    def __post_init__(self) -> None:
        if self.run_ids:
            self.first_run = self.run_ids[0]


@dataclass
class Series:
    """One configuration's points along the axis."""

    key: str
    parameters: dict[str, Any]
    points: list[Point] = field(default_factory=list)


def higher_is_better(metric: str) -> bool:
    return not metric.startswith(LOWER_IS_BETTER_PREFIXES)


def axis_value(run: RunRecord, axis: str) -> str | None:
    if axis == "date":
        return None if run.date is None else run.date.date().isoformat()
    value = run.facts.get(axis)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else records.canonical(value)


def _metric(run: RunRecord, metric: str) -> float | None:
    value = run.facts.get(metric)
    if type(value) is float:  # the common case, checked first
        return value if 0 < value < math.inf else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def _one_run_interval(run: RunRecord, metric: str, value: float) -> tuple[float, float]:
    if ci_withheld(run.facts):  # no interval to read: not steady, withheld (issue 30)
        return math.nan, math.nan
    ci = run.facts.get(f"{metric}_ci95")
    if isinstance(ci, list) and len(ci) == 2 and all(isinstance(x, (int, float)) for x in ci):
        return float(ci[0]), float(ci[1])
    time_ci, time = run.facts.get("results.time_ci95"), run.facts.get("results.time")
    if (metric == "results.throughput" and isinstance(time_ci, list) and len(time_ci) == 2
            and isinstance(time, (int, float)) and all(isinstance(x, (int, float)) and x > 0
                                                      for x in time_ci)):
        return value * time / time_ci[1], value * time / time_ci[0]
    if metric == "results.time" and isinstance(time_ci, list) and len(time_ci) == 2:
        return float(time_ci[0]), float(time_ci[1])
    return math.nan, math.nan


def _withheld(low: float, facts: dict[str, Any]) -> str:
    """Why a one-run point has no interval, when its run's was withheld (issue 30), else ""."""
    return "" if math.isfinite(low) else ci_withheld(facts) or ""


def point(axis_value_: str, runs: Sequence[RunRecord], metric: str) -> Point | None:
    """The point of one axis value from its runs (those with the metric), or None."""
    usable = [(run, v) for run in runs if (v := _metric(run, metric)) is not None]
    if not usable:
        return None
    if len(usable) == 1:
        run, value = usable[0]
        low, high = _one_run_interval(run, metric, value)
        return Point(axis_value_, value, low, high, 1, [run.id], excluded=run.excluded,
                     se=one_run_se(value, low, high, run.facts.get("results.ess")),
                     withheld=_withheld(low, run.facts))
    value, low, high, se = over_runs([v for _, v in usable])
    return Point(axis_value_, value, low, high, len(usable), [run.id for run, _ in usable],
                 excluded=all(run.excluded for run, _ in usable), se=se)


def _why_left_out(status: Any, has_value: bool, has_axis: bool) -> str | None:
    """Why a run enters no statistic (a key of :attr:`Loaded.left_out`), or None."""
    if status != OK_STATUS:
        return NO_STATUS if status is None or status == "" else str(status)
    if not has_value:
        return NO_VALUE
    return None if has_axis else NO_AXIS


def build_series(runs: Iterable[RunRecord], metric: str, axis: str,
                 left_out: dict[str, int] | None = None) -> list[Series]:
    """The series of ``runs`` along ``axis``: only runs that ended ok, with a usable metric
    and an axis value; the others are counted by why into ``left_out``."""
    groups: dict[str, dict[str, list[RunRecord]]] = {}
    naming: dict[str, dict[str, Any]] = {}
    first_seen: dict[tuple[str, str], tuple[Any, int]] = {}
    skipped: dict[str, int] = {} if left_out is None else left_out
    for run in runs:
        where = axis_value(run, axis)
        why = _why_left_out(records.stored_status(run.facts), _metric(run, metric) is not None,
                            where is not None)
        if why is not None or where is None:
            skipped[why or NO_AXIS] = skipped.get(why or NO_AXIS, 0) + 1
            continue
        # the stored key already leaves out the code version and the date
        key = (run.comparability_key if axis in STORED_KEY_AXES and run.comparability_key
               else records.comparability_key(run.facts, axis))
        groups.setdefault(key, {}).setdefault(where, []).append(run)
        if key not in naming:
            naming[key] = naming_of(run.facts, axis)
        stamp = (run.date.isoformat() if run.date else "", run.id)
        if (key, where) not in first_seen or stamp < first_seen[(key, where)]:
            first_seen[(key, where)] = stamp
    out = []
    for key, by_value in groups.items():
        order = _axis_order(list(by_value), axis,
                            {v: first_seen[(key, v)] for v in by_value})
        points = [p for v in order if (p := point(v, by_value[v], metric)) is not None]
        if points:
            out.append(Series(key, naming[key], points))
    out.sort(key=lambda s: records.canonical(s.parameters))
    return out


def naming_of(facts: dict[str, Any], axis: str) -> dict[str, Any]:
    """The fields that name a run's series: those people read first (``NAMING``), then every
    other comparability field with a value (two series that differ only in ``exp.seq_len``
    or the driver are told apart), the axis left out."""
    names = NAMING + tuple(n for n in records.key_fields(axis) if n not in NAMING)
    named = {name: value for name in names if name != axis
             and (value := records.key_value(facts, name)) is not None}
    return {**named, **records.added_key_fields(facts, axis)}


def configuration_names(parameters: Sequence[dict[str, Any]]) -> list[str]:
    """A name for each configuration of a table: the values of ``NAME_FIELDS``, then
    ``field=value`` for every other naming field that differs between them (threads 1 and 2
    of one model are two series: their names must say so)."""
    others = dict.fromkeys(k for one in parameters for k in one if k not in NAME_FIELDS)
    varying = [k for k in others
               if len({records.canonical(one.get(k)) for one in parameters}) > 1]
    return [" ".join([*(str(one[k]) for k in NAME_FIELDS if k in one),
                      *(f"{k.removeprefix('exp.')}={one.get(k)}" for k in varying)])
            for one in parameters]


def split_parameters(parameters: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """The naming fields of a table's series split in two: those every series has with one
    value (said once above the table), and the names of those that differ between them (a
    column each), in the order the series name them. A field that some series lack varies: a
    run that does not set it (``exp.parallelism`` of a plain run) is not one that sets it."""
    fields = list(dict.fromkeys(k for one in parameters for k in one))
    constant: dict[str, Any] = {}
    varying: list[str] = []
    for name in fields:
        values = {records.canonical(one.get(name)) for one in parameters}
        if len(values) == 1 and all(name in one for one in parameters):
            constant[name] = parameters[0][name]
        else:
            varying.append(name)
    return constant, varying


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _axis_order(values: list[str], axis: str, first_seen: dict[str, Any]) -> list[str]:
    """Dates in order, numbers (thread counts, batches) in order, anything else (code
    versions) in the order each value was first measured."""
    if axis == "date":
        return sorted(values)
    numbers = {v: _number(v) for v in values}
    if all(n is not None for n in numbers.values()):
        return sorted(values, key=lambda v: (numbers[v], v))
    return sorted(values, key=lambda v: first_seen[v])


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
    the window is chosen in SQL (:meth:`~dlbs.db.store.Store.newest_point_rows`), so the
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
            if since is None:  # the points themselves, kept at ingest
                stored = store.newest_points(filters, column, newest)
            if stored is None:
                rows = store.newest_point_rows(filters, column, newest, since)
            classes = store.run_classes(filters, column, since)
            if (rows is not None or stored is not None) and classes is not None:
                counted = True
                matched = 0
                for status, has_value, has_axis, count in classes:
                    matched += count
                    why = _why_left_out(status, has_value, has_axis)
                    if why is not None:
                        left_out[why] = left_out.get(why, 0) + count
                _check_matched(store, filters, matched)
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
    first = {one.key: one.points[0].first_run for one in series}
    bare = [p for one in series for p in _asked(one.points, counted)
            if p.runs == 1 and math.isnan(p.low)]
    facts = store.some_facts_of(list(first.values()), records.KEY_SOURCE_FACTS)
    why = store.some_facts_of([p.first_run for p in bare], WITHHELD_FACTS)
    for p in bare:  # the facts of one-run points without an interval: why none
        p.withheld = _withheld(p.low, why.get(p.first_run, {}))
    for one in series:
        full = facts.get(first[one.key], {})
        one.parameters = naming_of(full, axis)
    series.sort(key=lambda s: records.canonical(s.parameters))
    loaded = Loaded(series, _entered(series), left_out)
    _check_names(loaded, metric, axis, {metric, axis})
    return loaded


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
    return versions is not None and all(_number(str(v)) is None for v in versions)


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
                "HEAD)" if name == CODE_VERSION else "")
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
        why = _why_left_out(row[9], value is not None and 0 < value < math.inf,
                            where is not None and where != "") or NO_AXIS
        left_out[why] = left_out.get(why, 0) + 1
    out = []
    for key, by_value in groups.items():
        order = _axis_order(list(by_value), axis, {v: i for i, v in enumerate(by_value)})
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


@dataclass
class Found:
    """One confirmed change of one series, in the shape ``dlbs regressions --format json``
    prints."""

    parameters: dict[str, Any]
    metric: str
    axis: str
    last_good: str
    first_bad: str
    change: float
    ci: tuple[float, float]
    p_value: float
    direction: str
    runs_before: int
    runs_after: int
    affected_together: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"parameters": self.parameters, "metric": self.metric, "axis": self.axis,
                "last_good": self.last_good, "first_bad": self.first_bad,
                "change": self.change, "ci": list(self.ci), "p_value": self.p_value,
                "direction": self.direction, "runs_before": self.runs_before,
                "runs_after": self.runs_after, "affected_together": self.affected_together,
                "estimator": ESTIMATOR}


@dataclass
class Judged:
    """What a regression search over many series found."""

    changes: list[Found]
    judged: int
    not_judged: list[tuple[dict[str, Any], str]]


def regressions(series: Sequence[Series], metric: str, axis: str,
                min_change: float = 0.05) -> Judged:
    """Confirmed changes of every series (see the module's docstring)."""
    found: list[Found] = []
    skipped: list[tuple[dict[str, Any], str]] = []
    judged = 0
    for one in series:
        points = one.points
        excluded = [i for i, p in enumerate(points) if p.excluded]
        search = find_changes([p.value for p in points], [p.se for p in points],
                              [p.runs for p in points], min_change=min_change,
                              excluded=excluded, higher_is_better=higher_is_better(metric))
        if search.not_judged:
            skipped.append((one.parameters, search.not_judged))
            continue
        judged += 1
        for change in search.changes:
            before = sum(points[i].runs for i in range(change.last_good + 1)
                         if not points[i].excluded)
            after = sum(points[i].runs for i in range(change.first_bad, len(points))
                        if not points[i].excluded)
            found.append(Found(one.parameters, metric, axis, points[change.last_good].axis_value,
                               points[change.first_bad].axis_value, change.change,
                               (change.ci[0], change.ci[1]), change.p_value, change.direction,
                               before, after))
    for item in found:
        item.affected_together = [other.parameters for other in found if other is not item
                                  and other.first_bad == item.first_bad
                                  and other.direction == item.direction]
    return Judged(found, judged, skipped)


#: The words of :func:`_unsteady_newest`'s reason that tell it apart from "too short".
UNSTEADY_NEWEST = "its one run was not steady"


def unsteady_newest(judged: Judged) -> list[tuple[dict[str, Any], str]]:
    """The series :func:`latest_changes` did not judge because the newest point is one
    unsteady run (the others in ``judged.not_judged`` are too short)."""
    return [(parameters, why) for parameters, why in judged.not_judged
            if UNSTEADY_NEWEST in why]


def _unsteady_newest(points: Sequence[Point]) -> str | None:
    """Why the newest point cannot be judged, or None: one run whose window was not steady
    has a mean that drift moved, and no interval of its own (the history's scatter would
    stand in for it, and the verdict would read as a steady run's; issue 30)."""
    if not points:
        return None
    newest = points[-1]
    if newest.runs == 1 and newest.withheld.startswith("not steady"):
        return (f"newest point {newest.axis_value}: {UNSTEADY_NEWEST} (no interval); "
                "run it again")
    return None


def latest_changes(series: Sequence[Series], metric: str, axis: str, min_change: float = 0.05,
                   alpha: float = 0.05, method: str = LATEST_METHODS[0]) -> Judged:
    """The newest point of every series against the points before it
    (:func:`benchstats.latest.judge_latest`), Benjamini-Hochberg over the series judged at
    ``alpha``. ``pooled`` (the default): over each series' test of "the change lies within
    ``+-min_change``" (``p_beyond``); ``weighted`` (before issue 56): over the p-values of no
    change, a change then reported only when its 95% interval lies wholly beyond
    ``min_change``."""
    judged: list[tuple[Series, Any]] = []
    skipped: list[tuple[dict[str, Any], str]] = []
    tails: list[list[int]] = []
    for one in series:
        # the newest point and the window before it: only those are read
        usable = [i for i, p in enumerate(one.points) if not p.excluded]
        tails.append(usable[-(WINDOW + 1):])
    unsteady = [_unsteady_newest([one.points[i] for i in tail])
                for one, tail in zip(series, tails)]
    searches = iter(judge_latest_many(  # every history at once (the same verdicts)
        [([one.points[i].value for i in tail], [one.points[i].se for i in tail],
          [one.points[i].runs for i in tail])
         for one, tail, why in zip(series, tails, unsteady) if not why],
        min_change=min_change, higher_is_better=higher_is_better(metric), method=method))
    for one, tail, why in zip(series, tails, unsteady):
        if why:
            skipped.append((one.parameters, why))
            continue
        search = next(searches)
        if search.latest is None:
            skipped.append((one.parameters, search.not_judged or "not judged"))
        else:
            latest = search.latest
            judged.append((one, replace(latest, index=tail[latest.index],
                                        left_out=tuple(tail[i] for i in latest.left_out))))
    pooled = method == "pooled"  # its verdict is the BH decision over the tests' p_beyond
    rejected = judge([latest.p_beyond if pooled else latest.p_value for _, latest in judged],
                     alpha, "bh").rejected if judged else []
    found: list[Found] = []
    for (one, latest), significant in zip(judged, rejected):
        if not significant or (not pooled and latest.verdict != "beyond"):
            continue
        before = [i for i in range(latest.index) if not one.points[i].excluded]
        # the points judged against: the window less those the outlier rule left out
        history = [i for i in before[-(latest.history + len(latest.left_out)):]
                   if i not in latest.left_out]
        found.append(Found(one.parameters, metric, axis, one.points[history[-1]].axis_value,
                           one.points[latest.index].axis_value, latest.change, latest.ci,
                           latest.p_value, latest.direction,
                           sum(one.points[i].runs for i in history),
                           one.points[latest.index].runs))
    for item in found:
        item.affected_together = [other.parameters for other in found if other is not item
                                  and other.first_bad == item.first_bad
                                  and other.direction == item.direction]
    return Judged(found, len(judged), skipped)


#: Stored statuses of runs that ended ok at a speed of their own but computed wrong numbers
#: (a loss or output not finite; ``--check_numerics`` off its reference): no point takes
#: them, so ``--latest`` would judge the version before them; :func:`broken_newest` finds them.
BROKEN_NUMBERS = (records.NUMERICS_OFF_STATUS, records.NOT_FINITE_STATUS)


@dataclass(frozen=True)
class Broken:
    """A series whose newest axis value computed wrong numbers: its runs stored with
    ``status`` (:data:`BROKEN_NUMBERS`), how many, at ``axis_value``."""

    parameters: dict[str, Any]
    axis_value: str
    status: str
    runs: int

    def as_json(self) -> dict[str, Any]:
        """A JSON object beside the changes: ``direction`` ``numerics``."""
        return {"direction": "numerics", "parameters": self.parameters,
                "first_bad": self.axis_value, "status": self.status, "runs": self.runs}


def broken_newest(store: Any, filters: dict[str, Any], axis: str, series: Sequence[Series],
                  since: Any = None) -> list[Broken]:
    """The series whose newest runs computed wrong numbers (``regressions --latest``: a gate
    must not pass a version that is fast because it computes something else): runs stored
    with a status of :data:`BROKEN_NUMBERS`, not excluded, at the axis value of their series'
    newest point or at a value first run no earlier than that point (a version all of whose
    runs were broken has no point of its own). A series with no point at all counts too."""
    bad = [run for status in BROKEN_NUMBERS
           for run in store.runs({**filters, "results.status": status})
           if not run.excluded and (since is None or (run.date is not None and run.date >= since))]
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for run in bad:
        where = axis_value(run, axis)
        if where is not None:
            key = (run.comparability_key if axis in STORED_KEY_AXES and run.comparability_key
                   else records.comparability_key(run.facts, axis))
            groups.setdefault((key, where), []).append(run)
    if not groups:
        return []
    by_key = {one.key: one for one in series if one.points}
    newest = {key: one.points[-1] for key, one in by_key.items()}
    dated = store.some_facts_of([p.first_run for p in newest.values() if p.first_run >= 0],
                                records.DATE_FACTS)
    found = []
    for (key, where), runs in groups.items():
        point = newest.get(key)
        if point is not None and where != point.axis_value:
            since_newest = records.run_date(dated.get(point.first_run, {}))
            first = min((r.date for r in runs if r.date is not None), default=None)
            if since_newest is None or first is None or first < since_newest:
                continue  # an older version that was broken: the history before the newest
        status = "/".join(sorted({str(records.stored_status(r.facts)) for r in runs}))
        found.append(Broken(naming_of(runs[0].facts, axis), where, status, len(runs)))
    found.sort(key=lambda b: (records.canonical(b.parameters), b.axis_value))
    return found
