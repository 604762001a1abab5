"""A configuration's results along an axis, built from its runs: a **series** is the runs
that share a comparability key (``dlbs.db.records``) with the axis left out; its **points**
are the axis values in order (``date``: by day, chronologically; numbers in order; any other
fact, e.g. ``exp.code_version``: in the order each value was first measured). A point's value
is the geometric mean of its runs' metric, its interval a t interval over the runs on the log
scale (runs are the unit, as in the reports); a point of one run takes that run's own interval
(throughput: samples over the time interval), or none. A point's standard error is its runs'
own: ``sd / sqrt(n)`` of their log values; a point of one run takes its interval's half-width
over the t quantile that interval used (on the run's effective sample size ``results.ess``).

Only runs that ended ``ok`` (``results.status``) with a finite metric > 0 and a value on the
axis enter a series; every other run is counted by why (:func:`why_left_out`). How a series is
named in an output is here too (:func:`naming_of`, :func:`configuration_names`).

This module builds series from runs in memory; it reads no database (``dlbs.db.history``) and
judges no change (``dlbs.db.changes``).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchstats.estimate import OPEN_END, shown_ends

from dlbs.db import records
from dlbs.db.pointvalue import one_run_se, over_runs
from dlbs.db.queries import RunRecord
from dlbs.logs.withheld import ci_withheld
from dlbs.params.identity import SERIES_NAMING

#: Metrics where lower is better (a rise is a regression).
LOWER_IS_BETTER_PREFIXES = ("results.time", "results.ttft", "results.peak_memory")
#: What names a series in an output (the key fields people read: each parameter's
#: ``roles.series_name`` in config/*.json, and the logged fields of
#: ``dlbs.params.identity.LOGGED_SERIES_NAME``, in the key's order).
NAMING = tuple(SERIES_NAMING)
#: What every series' name in a table shows, as values (``roles.series_name`` ``value``); a
#: naming field that differs between the series shown is added as ``name=value``
#: (:func:`configuration_names`).
NAME_FIELDS = tuple(name for name, how in SERIES_NAMING.items() if how == "value")
#: Axes the stored comparability key already leaves out (``dlbs.db.records.KEY_FACTS``).
STORED_KEY_AXES = ("exp.code_version", "date")
CODE_VERSION = "exp.code_version"
#: The one ``results.status`` whose runs enter a statistic.
OK_STATUS = "ok"
#: Why a run was left out besides its status (keys of
#: :attr:`dlbs.db.history.Loaded.left_out`).
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
    #: its runs made on a busy machine (``dlbs.db.busy``; 0 until asked, and where none said)
    busy: int = 0

    def __post_init__(self) -> None:
        if self.run_ids:
            self.first_run = self.run_ids[0]

    def ends(self) -> tuple[float | None, float | None] | None:
        """The interval as every output shows it (``benchstats.shown_ends``): None where
        there is none, an end beyond ``benchstats.OPEN_FACTOR`` x the value None (open)."""
        return shown_ends(self.value, self.low, self.high)


def end_cell(end: float | None) -> float | str:
    """One end of a shown interval where an output has a place for it alone (history's
    ``ci_high``, the page's ``CI high``): the number, or ``benchstats.OPEN_END``."""
    return OPEN_END if end is None else end


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


def withheld_reason(low: float, facts: dict[str, Any]) -> str:
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
                     withheld=withheld_reason(low, run.facts))
    value, low, high, se = over_runs([v for _, v in usable])
    return Point(axis_value_, value, low, high, len(usable), [run.id for run, _ in usable],
                 excluded=all(run.excluded for run, _ in usable), se=se)


def why_left_out(status: Any, has_value: bool, has_axis: bool) -> str | None:
    """Why a run enters no statistic (a key of :attr:`dlbs.db.history.Loaded.left_out`), or
    None."""
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
        why = why_left_out(records.stored_status(run.facts), _metric(run, metric) is not None,
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
        order = axis_order(list(by_value), axis,
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


def number_of(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def axis_order(values: list[str], axis: str, first_seen: dict[str, Any]) -> list[str]:
    """Dates in order, numbers (thread counts, batches) in order, anything else (code
    versions) in the order each value was first measured."""
    if axis == "date":
        return sorted(values)
    numbers = {v: number_of(v) for v in values}
    if all(n is not None for n in numbers.values()):
        return sorted(values, key=lambda v: (numbers[v], v))
    return sorted(values, key=lambda v: first_seen[v])

