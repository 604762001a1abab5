"""Stored runs keyed again by today's identity rules (``dlbs db rekey``).

A run's comparability key, and the columns drawn from its identity (precision, batch, device
model, device count, container image), are computed when it is stored. When the rules change
(docs/database.md, "Changelog": a fact becomes identity, a DLBS log's device count is derived),
runs stored before keep their old key while new runs get the new one: one database would then
group the same kind of runs two ways, and a history would show one configuration as two series
(or two as one). ``rekey`` reads every run's stored facts, computes its key and columns as an
ingest today would (:func:`dlbs.db.records.keyed_columns`), writes the rows that differ and,
when any did, makes the series, class counts and points anew from the runs, all in one
transaction: stopped midway, the database is as it was.

This module writes keys and the tables drawn from them; it parses no log and words no run.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update

from dlbs.db import points, records
from dlbs.db.connection import Database, Room, retrying
from dlbs.db.faults import guarded
from dlbs.db.schema import classes, runs, series
from dlbs.db.schema import points as points_table

#: The ``runs`` columns drawn from a run's identity: what a rule change can move
#: (:func:`dlbs.db.records.keyed_columns`, in a fixed order).
KEYED_COLUMNS = ("comparability_key", "precision", "batch", "device_model", "device_count",
                 "container_image")
#: Runs read (and updated) at a time.
CHUNK = 1000


@dataclass(frozen=True)
class RekeyResult:
    """What :func:`rekey` found (and changed, unless it was a dry run)."""

    runs: int           # stored runs read
    changed: int        # runs whose key or keyed columns differ from today's rules
    keys_changed: int   # ... of them, whose comparability key differs
    series_before: int  # distinct comparability keys before
    series_after: int   # ... and after (the same as before on a dry run)


class Rekey(Room):
    """The rekey of one open database."""

    @guarded("the rekey")
    def run(self, dry_run: bool = False,
            progress: Callable[[int, int], None] | None = None) -> RekeyResult:
        """Key every stored run by today's rules (see the module's docstring); ``dry_run``:
        count what would change, write nothing; ``progress(done, total)`` after each chunk."""
        return retrying(lambda: _rekey_once(self.db, dry_run, progress))


def _rekey_once(db: Database, dry_run: bool,
                progress: Callable[[int, int], None] | None) -> RekeyResult:
    with db.engine.begin() as conn:
        if not dry_run:
            _lock(conn, db.backend)
        total = int(conn.execute(select(func.count()).select_from(runs)).scalar_one())
        before = _key_count(conn)
        changed = keys_changed = done = 0
        last = 0
        while True:
            chunk = conn.execute(
                select(runs.c.id, runs.c.facts, *(runs.c[c] for c in KEYED_COLUMNS))
                .where(runs.c.id > last).order_by(runs.c.id).limit(CHUNK)).all()
            if not chunk:
                break
            last = chunk[-1][0]
            updates = [row for row in map(_new_columns, chunk) if row is not None]
            changed += len(updates)
            keys_changed += sum(1 for row in updates if row.pop("_key_moved"))
            if updates and not dry_run:
                conn.execute(update(runs).where(runs.c.id == bindparam("_id")).values(
                    {c: bindparam(c) for c in KEYED_COLUMNS}), updates)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        if changed and not dry_run and db.keeps_points:
            _rebuild_summaries(conn)
        after = before if dry_run else _key_count(conn)
    return RekeyResult(total, changed, keys_changed, before, after)


def _new_columns(stored: Any) -> dict[str, Any] | None:
    """The keyed columns of one stored run as today's rules give them (with ``_id`` and
    ``_key_moved``), or None when they are what is stored."""
    run_id, facts, *old = stored
    fresh = records.keyed_columns(dict(facts or {}))
    new = [fresh[c] for c in KEYED_COLUMNS]
    if new == list(old):
        return None
    return {"_id": run_id, "_key_moved": new[0] != old[0], **dict(zip(KEYED_COLUMNS, new))}


def _lock(conn: Any, backend: str) -> None:
    """Hold off other writers until the transaction ends (an ingest meanwhile would add runs
    to summaries being made anew); readers go on."""
    if backend == "postgresql":
        conn.exec_driver_sql("LOCK TABLE runs, series, classes, points IN EXCLUSIVE MODE")
    else:  # Python's sqlite3 begins a transaction at the first write: begin it now
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _key_count(conn: Any) -> int:
    return int(conn.execute(select(func.count(runs.c.comparability_key.distinct()))).scalar_one())


def _rebuild_summaries(conn: Any) -> None:
    """``series``, ``classes`` and ``points`` made anew from the runs (as the revisions that
    introduced them filled them)."""
    for table in (points_table, classes, series):
        conn.execute(delete(table))
    points.fill(conn)
    points.fill_points(conn)
