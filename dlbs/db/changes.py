"""Regressions in histories: the confirmed changes of each series along its axis
(:func:`regressions`), the newest point of each against the points before it
(:func:`latest_changes`, ``regressions --latest``), and the series whose newest runs computed
wrong numbers (:func:`broken_newest`).

:func:`regressions`: :func:`benchstats.find_changes` on each series, weighted by each point's
own interval plus the scatter between points, and confirmed only beyond ``min_change``. A
point's standard error is its runs' own (``dlbs.db.series``: never the t interval divided by
2 x 1.96, which overstates it 2.2x at 3 runs and 6.5x at 2). Changes at the same first bad
axis value in several series are reported as affecting those configurations together.

This module judges series it is given (statistics through ``benchstats``); it builds none and
reads the database only to find broken runs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from benchstats import find_changes
from benchstats.compare import judge
from benchstats.estimate import ESTIMATOR
from benchstats.latest import ALPHA as LATEST_ALPHA
from benchstats.latest import METHODS as LATEST_METHODS
from benchstats.latest import WINDOW, judge_latest_many

from dlbs.db import records
from dlbs.db.queries import RunRecord
from dlbs.db.series import (
    STORED_KEY_AXES,
    Point,
    Series,
    axis_value,
    higher_is_better,
    naming_of,
)


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
    #: a run of its last good or first bad point was made on a busy machine (``dlbs.db.busy``)
    busy: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"parameters": self.parameters, "metric": self.metric, "axis": self.axis,
                "last_good": self.last_good, "first_bad": self.first_bad,
                "change": self.change, "ci": list(self.ci), "p_value": self.p_value,
                "direction": self.direction, "runs_before": self.runs_before,
                "runs_after": self.runs_after, "affected_together": self.affected_together,
                "estimator": ESTIMATOR, "busy": self.busy}


@dataclass
class Judged:
    """What a regression search over many series found."""

    changes: list[Found]
    judged: int
    not_judged: list[tuple[dict[str, Any], str]]
    #: ``--latest``: the judged series without a change reported whose spread keeps the
    #: newest point from finding a ``benchstats.latest.GOAL_DROP`` drop ``POWER`` of the
    #: time, each with the drop it would find that often (``Latest.detectable``)
    noisy: list[tuple[dict[str, Any], float]] = field(default_factory=list)


#: The exit code of ``dlbs regressions`` when no series could be judged (every one too short,
#: or its newest run unsteady): neither a pass (0) nor a regression (1) nor a usage error (2):
#: a gate that judged nothing must not read as a pass.
NOTHING_JUDGED_EXIT = 3


def gate_exit(judged: Judged, broken: Sequence[Any] = ()) -> int:
    """The exit code of ``dlbs regressions`` on these verdicts: 1 on a regression or on
    wrong numbers in a newest version, else :data:`NOTHING_JUDGED_EXIT` when no series was
    judged, else 0."""
    if broken or any(c.direction == "regression" for c in judged.changes):
        return 1
    return NOTHING_JUDGED_EXIT if not judged.judged else 0


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
    _affected_together(found)
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
                   alpha: float = LATEST_ALPHA, method: str = LATEST_METHODS[0]) -> Judged:
    """The newest point of every series against the points before it
    (:func:`benchstats.latest.judge_latest`), Benjamini-Hochberg over the series judged at
    ``alpha``. ``prediction`` (the default): over the p-values of no change, a change then
    reported only when its estimate lies beyond ``+-min_change``; ``pooled`` (issue 56 until
    its review): over each series' test of "the change lies within ``+-min_change``"
    (``p_beyond``); ``weighted`` (before issue 56): over the p-values of no change, a change
    then reported only when its 95% interval lies wholly beyond ``min_change``. The judged
    series too noisy to find a ``GOAL_DROP`` drop ``POWER`` of the time (``prediction``) are
    in ``noisy``."""
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
        min_change=min_change, higher_is_better=higher_is_better(metric), method=method,
        alpha=alpha))
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
        if not significant or (not pooled and not _large(latest, min_change, method)):
            continue
        found.append(_latest_found(one, latest, metric, axis))
    _affected_together(found)
    reported = {id(c.parameters) for c in found}
    noisy = [(one.parameters, latest.detectable) for one, latest in judged
             if latest.too_noisy and id(one.parameters) not in reported]
    return Judged(found, len(judged), skipped, noisy)


def _large(latest: Any, min_change: float, method: str) -> bool:
    """``prediction``: the estimate lies beyond ``+-min_change`` (its significance is BH's
    over the series); ``weighted``: the whole 95% interval does (its verdict)."""
    if method == "prediction":
        return abs(latest.change) >= min_change
    return bool(latest.verdict == "beyond")


def _latest_found(one: Series, latest: Any, metric: str, axis: str) -> Found:
    """The change :func:`latest_changes` reports of one series: its newest point against the
    points judged against (``latest``: the verdict, its indices the series')."""
    before = [i for i in range(latest.index) if not one.points[i].excluded]
    # the points judged against: the window less those the outlier rule left out
    history = [i for i in before[-(latest.history + len(latest.left_out)):]
               if i not in latest.left_out]
    return Found(one.parameters, metric, axis, one.points[history[-1]].axis_value,
                 one.points[latest.index].axis_value, latest.change, latest.ci,
                 latest.p_value, latest.direction, sum(one.points[i].runs for i in history),
                 one.points[latest.index].runs)


def _affected_together(found: list[Found]) -> None:
    """Name, in each change, the other configurations changed the same way at the same first
    bad axis value."""
    for item in found:
        item.affected_together = [other.parameters for other in found if other is not item
                                  and other.first_bad == item.first_bad
                                  and other.direction == item.direction]


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
