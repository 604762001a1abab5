"""Which points of a history were measured on a busy machine: a point whose runs include one
that other processes shared its CPUs with (``results.other_cpu_share`` above
``BUSY_THRESHOLD``, as ``dlbs report`` judges a cell: ``fact_types.machine_state``) carries
the reports' mark ``#``, and every output counts such points.

The share is one of the facts every run keeps (``runs.facts``), read only for the points
shown (:meth:`~dlbs.db.queries.Queries.some_facts_of`); a point read from the ``points`` table
(``regressions --latest``) knows only its first run, so its runs are found by series and
version (:meth:`~dlbs.db.summary.Summary.ok_runs_at`).

This module reads facts and words marks; it prints nothing.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dlbs.db.series import Point, Series
from dlbs.logs.fact_types import BUSY, machine_state
from dlbs.reports.model import MARK_BUSY, MARK_LEGEND

#: The facts :func:`fact_types.machine_state` judges a run's machine by.
BUSY_FACTS = ("results.other_cpu_share", "results.other_cpu_seconds")
#: The legend line of the mark, as under every report.
BUSY_LEGEND = f"{MARK_BUSY}: a run of the point was made on a {MARK_LEGEND[MARK_BUSY]}"


def mark_busy(store: Any, series: Sequence[Series],
              chosen: Iterable[tuple[Series, Point]] | None = None) -> None:
    """Set ``busy`` (its runs made on a busy machine) on each point of ``series``, or on the
    ``chosen`` ones only (``regressions --latest``: the points it names)."""
    pairs = list(chosen) if chosen is not None else [(one, p) for one in series
                                                     for p in one.points]
    unknown = [(one.key, p.axis_value) for one, p in pairs if not p.run_ids]
    found = store.ok_runs_at(unknown) if unknown else {}
    ids = {id(p): p.run_ids or found.get((one.key, p.axis_value), []) for one, p in pairs}
    facts = store.some_facts_of(sorted({i for run_ids in ids.values() for i in run_ids}),
                                BUSY_FACTS)
    for _, p in pairs:
        p.busy = sum(machine_state(facts.get(i, {})) == BUSY for i in ids[id(p)])


def mark_of(point: Point) -> str:
    """The point's mark: ``#`` when a run of it was busy, else ``""``."""
    return MARK_BUSY if point.busy else ""


def busy_count(points: Sequence[Point], what: str = "points") -> str:
    """``3 of 12 points from busy runs``, or ``""`` when none is."""
    busy = sum(1 for p in points if p.busy)
    return f"{busy} of {len(points)} {what} from busy runs" if busy else ""


def change_points(series: Sequence[Series], changes: Iterable[Any]
                  ) -> list[list[tuple[Series, Point]]]:
    """The last good and first bad points of each change (a ``Found``), with their series."""
    from dlbs.db.records import canonical

    index = {canonical(one.parameters): one for one in series}
    out: list[list[tuple[Series, Point]]] = []
    for change in changes:
        one = index.get(canonical(change.parameters))
        out.append([] if one is None else [
            (one, p) for p in one.points if p.axis_value in (change.last_good, change.first_bad)])
    return out


def change_marks(series: Sequence[Series], changes: Sequence[Any]) -> list[str]:
    """Each change's mark: ``#`` when a run of its last good or first bad point was busy
    (marked by :func:`mark_busy`), else ``""``."""
    return [MARK_BUSY if any(p.busy for _, p in named) else ""
            for named in change_points(series, changes)]


def newest_points(series: Sequence[Series]) -> list[tuple[Series, Point]]:
    """Each series' newest point not excluded: what ``regressions --latest`` judges."""
    out = []
    for one in series:
        live = [p for p in one.points if not p.excluded]
        out += [(one, live[-1])] if live else []
    return out
