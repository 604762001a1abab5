"""Every write of the results database: runs stored (with their iteration times and the
``series``/``points``/``classes`` rows kept with them), runs excluded and included again.

Ingest is idempotent: a run's identity is the hash of its facts (``dlbs.db.records.identity``)
and a second insert of it does nothing (``ON CONFLICT DO NOTHING`` on both engines). How the
rows reach the tables is one protocol (:class:`RunWriter`) with two backends: PostgreSQL's
``COPY`` (:class:`CopyWriter`, ``dlbs.db.pgcopy``) and the ``INSERT`` SQLite uses, and
PostgreSQL where the role may not stage (:class:`InsertWriter`). Several writers at once lose
nothing: PostgreSQL's unique index and an advisory lock, SQLite's file lock, serialise them;
a transaction that finds the SQLite file locked is run again.

This module writes rows it is given; it parses no log and reads no run for a caller.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from dlbs.db import packed, pgcopy, records
from dlbs.db import points as db_points
from dlbs.db.connection import Database, Room, retrying
from dlbs.db.faults import guarded
from dlbs.db.schema import INTEGER_BITS, exclusions, fits, run_times, runs
from dlbs.db.url import DatabaseError

#: PostgreSQL's advisory lock of the writing transactions (:meth:`Writes._serialise`).
WRITER_LOCK = 7301992

#: A run ready to insert: its ``runs`` row but ``ingested_at`` (the facts packed where the
#: column holds them packed) and its iteration times (None when it has none).
Row = tuple[dict[str, Any], "list[float] | None"]


def printable(text: Any) -> Any:
    """A path or message with any lone surrogate (a file name's bytes that are not UTF-8)
    written as an escape, so that it can be stored and printed."""
    if not isinstance(text, str):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def row_of(facts: Mapping[str, Any], source: str | None, pack: bool) -> Row:
    """The row of one run (:data:`Row`); ``pack``: SQLite's packed facts column."""
    plain = dict(facts)
    values = records.row(plain)
    values["source"] = printable(source)
    if pack:
        values["facts"] = packed.pack(values["facts"])
    return values, records.times_of(plain)


class RunWriter(Protocol):
    """How one transaction puts new runs and their iteration times into the tables."""

    def add_runs(self, conn: Connection, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
        """Store the ``runs`` rows not stored yet (distinct identities), in their order;
        ``(id, identity)`` of each new one."""

    def add_times(self, conn: Connection, children: list[dict[str, Any]]) -> None:
        """Store the ``run_times`` rows (``run_id``, ``times``) of runs just added."""


class CopyWriter:
    """PostgreSQL: ``COPY`` through a staging table (``dlbs.db.pgcopy``), a third of an
    ingest's time less than an ``INSERT``."""

    def add_runs(self, conn: Connection, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
        return pgcopy.copy_runs(conn, rows)

    def add_times(self, conn: Connection, children: list[dict[str, Any]]) -> None:
        pgcopy.copy_times(conn, children)


@dataclass
class InsertWriter:
    """A multi-row ``INSERT ... ON CONFLICT DO NOTHING``: SQLite, and PostgreSQL for a role
    without the TEMPORARY privilege. ``insert``: the dialect's insert; ``facts_object``:
    PostgreSQL, whose ``JSONB`` type encodes facts a worker made JSON text of."""

    insert: Any
    facts_object: bool = False

    def add_runs(self, conn: Connection, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
        stmt = self.insert(runs).on_conflict_do_nothing(
            index_elements=["identity"]).returning(runs.c.id, runs.c.identity)
        given = [pgcopy.with_facts_object(row) for row in rows] if self.facts_object else rows
        return [(i, key) for i, key in conn.execute(stmt, given)]

    def add_times(self, conn: Connection, children: list[dict[str, Any]]) -> None:
        conn.execute(self.insert(run_times).on_conflict_do_nothing(
            index_elements=["run_id"]), children)


def writer_for(db: Database, conn: Connection) -> RunWriter:
    """The backend of this transaction's writes: ``COPY`` where PostgreSQL lets the role
    stage rows, else the ``INSERT``."""
    postgresql = db.backend == "postgresql"
    if postgresql and pgcopy.can_stage(conn):
        return CopyWriter()
    return InsertWriter(db.insert, facts_object=postgresql)


class Writes(Room):
    """The writes of one open database (:class:`~dlbs.db.connection.Database`)."""

    @property
    def packs(self) -> bool:
        """Whether the facts column holds packed facts (SQLite: ``dlbs.db.packed``)."""
        return self.db.backend == "sqlite"

    @guarded("storing the run")
    def store_facts(self, facts: Mapping[str, Any], source: str | None = None) -> bool:
        """Store one run; ``True`` when it was new, ``False`` when already stored;
        :class:`DatabaseError` naming ``source`` when the run is refused
        (:func:`dlbs.db.records.refusal`)."""
        problem = records.refusal(dict(facts))
        if problem:
            raise DatabaseError(f"{printable(source or 'run')}: {problem}")
        return self.store_many([(facts, source)]) == 1

    def store_many(self, items: Sequence[tuple[Mapping[str, Any], str | None]]) -> int:
        """Store runs in one transaction (one multi-row insert); returns how many were new."""
        return self.store_rows([row_of(facts, source, self.packs) for facts, source in items])

    def store_rows(self, items: Sequence[Row]) -> int:
        """Store rows made by :func:`row_of` in one transaction; how many were new."""
        if not items:
            return 0
        rows, times = _distinct(items)

        def write() -> int:
            with self.db.engine.begin() as conn:
                self._serialise(conn)
                return self._write(conn, writer_for(self.db, conn), rows, times)

        self.db.check_file()  # before: nothing written to a file no one will open again
        added = retrying(write)
        self.db.check_file()  # after: a rename during the write left it in the old file
        return added

    def _write(self, conn: Connection, writer: RunWriter, rows: dict[str, dict[str, Any]],
               times: dict[str, list[float]]) -> int:
        """The new runs, the rows kept with them, their times: one transaction's writes."""
        new = writer.add_runs(conn, list(rows.values()))
        if self.db.keeps_points:
            db_points.add_series(conn, self.db.insert, [rows[identity] for _, identity in new])
            new_ids = [run_id for run_id, _ in new]
            db_points.add_classes(conn, self.db.insert, new_ids)
            # the new runs added to their points' sums: no other run of theirs is read
            db_points.add_runs(conn, new_ids)
        children = [{"run_id": run_id, "times": times[identity]}
                    for run_id, identity in new if identity in times]
        if children:
            writer.add_times(conn, children)
        return len(new)

    def analyze(self) -> None:
        """Bring the query planner's statistics up to date (after an ingest): without them
        SQLite picks an index by its shape alone (a model + batch + host filter took the host
        index). SQLite: ``ANALYZE`` on a sample of about 1,000 rows an index
        (``analysis_limit``: milliseconds, whatever the table's size); PostgreSQL: ``ANALYZE``
        (a sample too)."""
        def run() -> None:
            with self.db.engine.begin() as conn:
                if self.db.backend == "sqlite":
                    conn.exec_driver_sql("PRAGMA analysis_limit=1000")
                    conn.exec_driver_sql("ANALYZE runs")
                else:
                    conn.exec_driver_sql("ANALYZE runs, run_times, exclusions")

        retrying(run)

    @guarded("the exclusion")
    def exclude(self, run_ids: Iterable[int], reason: str) -> int:
        """Leave runs out of history and regressions (kept in the data); returns how many."""
        ids = self._known(run_ids)
        now = datetime.now(timezone.utc).replace(tzinfo=None)

        def write() -> int:
            with self.db.engine.begin() as conn:
                self._serialise(conn)
                for run_id in ids:
                    conn.execute(delete(exclusions).where(exclusions.c.run_id == run_id))
                    conn.execute(exclusions.insert().values(run_id=run_id, reason=reason,
                                                            excluded_at=now))
                self._refresh_points(conn, ids)
            return len(ids)

        return retrying(write)

    @guarded("the inclusion")
    def include(self, run_ids: Iterable[int]) -> int:
        """Undo :meth:`exclude`."""
        ids = self._known(run_ids)

        def write() -> int:
            with self.db.engine.begin() as conn:
                self._serialise(conn)
                conn.execute(delete(exclusions).where(exclusions.c.run_id.in_(ids)))
                self._refresh_points(conn, ids)
            return len(ids)

        return retrying(write)

    def _serialise(self, conn: Connection) -> None:
        """PostgreSQL: one writing transaction at a time (a transaction-scoped advisory lock),
        so that the ``points`` rows a writer recomputes see every run stored before it
        (SQLite's file lock does this already)."""
        if self.db.backend == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")

    def _refresh_points(self, conn: Connection, run_ids: Sequence[int]) -> None:
        if not self.db.keeps_points:
            return
        for start in range(0, len(run_ids), db_points.CHUNK):
            chunk = run_ids[start:start + db_points.CHUNK]
            db_points.refresh(conn, conn.execute(
                select(runs.c.comparability_key, runs.c.code_version)
                .where(runs.c.id.in_(chunk))).all())

    def _known(self, run_ids: Iterable[int]) -> list[int]:
        ids = sorted({int(i) for i in run_ids})
        storable = [i for i in ids if fits(i, INTEGER_BITS)]  # no other id can exist
        with self.db.engine.connect() as conn:
            found = set(conn.execute(select(runs.c.id).where(runs.c.id.in_(storable)))
                        .scalars())
        missing = [i for i in ids if i not in found]
        if missing:
            raise DatabaseError(f"{self.db.shown}: no run with id "
                                f"{', '.join(map(str, missing))} (see 'dlbs db query' for "
                                "the ids)")
        return ids


def _distinct(items: Sequence[Row]) -> tuple[dict[str, dict[str, Any]], dict[str, list[float]]]:
    """The rows by identity (a run twice in one batch: once), stamped with this moment as
    ``ingested_at``, and the iteration times of those that have them."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows: dict[str, dict[str, Any]] = {}
    times: dict[str, list[float]] = {}
    for made, series in items:
        values = {**made, "ingested_at": now}
        rows.setdefault(values["identity"], values)
        if series is not None:
            times.setdefault(values["identity"], series)
    return rows, times
