"""The results database: open (and migrate), ingest runs, query, exclude.

API (used by the CLI and by history/regressions)::

    store = open_store("sqlite:///results.db")      # or a URL object; migrates to head
    store.ingest_paths(["logs/sweep1"])              # IngestResult(added, existing, failed)
    store.store_facts(facts, source="path.log")      # True when the run is new
    store.runs({"exp.model": "resnet50"})            # [RunRecord], oldest first
    store.times([run_id, ...])                       # {run_id: [ms, ...]}
    store.exclude([run_id], "reason") / store.include([run_id])
    store.close()

Every statement is built by SQLAlchemy with bound parameters. Ingest is idempotent: a run's
identity is the hash of its facts (``dlbs.db.records.identity``) and a second insert of it
does nothing (``INSERT ... ON CONFLICT DO NOTHING`` on both engines). Several writers at once
lose nothing: PostgreSQL's unique index and SQLite's file lock serialise them; SQLite runs in
WAL mode with a busy timeout, and a transaction that still finds the file locked is retried.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from safeio import UnsafeFileError, check_writable_target
from sqlalchemy import (
    JSON,
    Engine,
    String,
    and_,
    case,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.types import TypeDecorator

from dlbs.db import packed, pgcopy, pointvalue, records
from dlbs.db import points as db_points
from dlbs.db.faults import guarded, reason_of
from dlbs.db.schema import INDEXED, exclusions, run_times, runs
from dlbs.db.url import DatabaseError, check_persistent, resolve, shown

LOG = logging.getLogger("dlbs.db")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: SQLite: how long one statement waits for another writer's lock (seconds), and how long a
#: whole transaction is retried when it still finds the file locked.
BUSY_TIMEOUT_S = 30.0
RETRY_FOR_S = 120.0
#: The schema revision that packs SQLite's facts (a database upgraded across it is compacted).
PACKED_REVISION = "0004"
T = TypeVar("T")
#: PostgreSQL's advisory lock of the writing transactions (``Store._serialise_writers``).
WRITER_LOCK = 7301992
#: The ``Integer`` columns (ids, batch, device count, repeat) are 32-bit on PostgreSQL.
INTEGER_BITS = 32


@dataclass
class RunRecord:
    """One stored run."""

    id: int
    identity: str
    comparability_key: str
    facts: dict[str, Any]
    date: datetime | None
    source: str | None
    excluded: bool = False
    reason: str | None = None


@dataclass
class IngestResult:
    """What an ingest did: new runs, runs already stored, files that could not be read, and
    runs refused (``"path: why"``: a measurement that is none, text no database stores, a row
    the database rejected)."""

    added: int = 0
    existing: int = 0
    failed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    packed.register(dbapi_connection)


def _engine(url: URL, readonly: bool = False) -> Engine:
    """The engine of ``url``; ``readonly``: an existing SQLite file is opened read-only (it
    may be a file this user cannot write), never switched to WAL, never written."""
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            folder = Path(url.database).expanduser().resolve().parent
            if not folder.is_dir():
                raise DatabaseError(f"--db {shown(url)}: folder {folder} does not exist; "
                                    "create it or give another path")
            _refuse_planted(url, Path(url.database).expanduser())
            if readonly and Path(url.database).expanduser().is_file():
                return _sqlite_reader(Path(url.database).expanduser().resolve())
        engine = _create(url, connect_args={"timeout": BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return _create(url, pool_pre_ping=True)


#: The engine warnings already printed.
_WARNED: set[str] = set()


def _create(url: URL, **options: Any) -> Engine:
    """SQLAlchemy's engine of ``url``. A URL the dialect refuses (``?port=x``, hosts and ports
    that do not pair up) is a one-line :class:`DatabaseError`, not a traceback; a warning of
    the dialect (SQLite's driver ignoring query options) is one ``warning:`` line on stderr,
    the URL without its secrets."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            engine = create_engine(url, **options)
    except (ArgumentError, ValueError, TypeError) as err:
        raise DatabaseError(f"--db {shown(url)}: {reason_of(err, url)}; correct the URL "
                            "(e.g. postgresql+psycopg://user@host:5432/name)") from None
    for warning in caught:
        message = warning.message if isinstance(warning.message, Warning) \
            else Warning(warning.message)
        line = f"warning: --db {shown(url)}: " + \
            reason_of(message, url).split(" (Background on")[0]
        if line not in _WARNED:  # once a command, though it opens the database again
            _WARNED.add(line)
            print(line, file=sys.stderr)
    return engine


def _sqlite_reader(path: Path) -> Engine:
    """A read-only engine of an SQLite file (``mode=ro``). A WAL file in a folder this user
    cannot write (a read-only mount) has no ``-shm`` to share: SQLite opens it only as
    ``immutable``, which is safe there since no one can be writing through that folder
    either."""
    query = {"mode": "ro", "uri": "true"}
    if not os.access(path.parent, os.W_OK) and not Path(f"{path}-wal").exists():
        query["immutable"] = "1"
    url = URL.create("sqlite", database=f"file:{quote(str(path))}", query=query)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _sqlite_read_pragmas)
    return engine


def _sqlite_read_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cursor.close()
    packed.register(dbapi_connection)


def _refuse_planted(url: URL, path: Path) -> None:
    """A database file (or its -wal/-shm/-journal companion) that is a link, a FIFO or
    anything but a plain regular file is refused (``safeio.check_writable_target``): writing
    through it would write where someone else chose."""
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            check_writable_target(name)
        except UnsafeFileError as err:
            raise DatabaseError(f"--db {shown(url)}: {err}") from None


def _locked(err: BaseException) -> bool:
    text = str(err).lower()
    return "database is locked" in text or "database table is locked" in text


def _retrying(action: Callable[[], T]) -> T:
    """Run ``action`` (one transaction), again while SQLite says the file is locked."""
    deadline, pause = time.monotonic() + RETRY_FOR_S, 0.05
    while True:
        try:
            return action()
        except OperationalError as err:
            if not _locked(err) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


class Store:
    """An open results database (see the module's docstring)."""

    #: Whether writes keep the ``series`` and ``points`` tables (revision 0005); False only
    #: for a store over the tables of an older release (the upgrade tests write as it did).
    keeps_points = True

    def __init__(self, url: URL, readonly: bool = False) -> None:
        self.url = url
        self.engine = _engine(url, readonly)
        #: An SQLite file's path and (device, inode) once open (:meth:`pin_file`).
        self._file: tuple[Path, tuple[int, int]] | None = None

    def pin_file(self) -> None:
        """Remember which file an SQLite URL names now (after the open made it), so that a
        write can tell that the path no longer names it (:meth:`check_file`)."""
        if self.url.get_backend_name() != "sqlite" or not self.url.database:
            return
        path = Path(self.url.database).expanduser().absolute()
        try:
            found = os.stat(path)
        except OSError:
            return  # nothing made yet (a reader of a missing file): nothing to compare with
        self._file = path, (found.st_dev, found.st_ino)

    def check_file(self) -> None:
        """Raise :class:`DatabaseError` when the SQLite path no longer names the file this
        store opened (moved, replaced or removed meanwhile): the connections still write to
        the old file, and SQLite keeps its changes in a ``-wal`` beside the old name, so a
        run stored then is in no database anyone opens by that URL."""
        if self._file is None:
            return
        path, pinned = self._file
        try:
            found = os.stat(path)
            now: tuple[int, int] | None = (found.st_dev, found.st_ino)
        except OSError:
            now = None
        if now != pinned:
            how = "removed or moved" if now is None else "replaced by another file"
            raise DatabaseError(f"--db {self.shown}: the database file {path} was {how} "
                                "after this command opened it; not stored")

    @property
    def shown(self) -> str:
        return shown(self.url)

    def _insert(self, table: Any) -> Any:
        if self.url.get_backend_name() == "postgresql":
            from sqlalchemy.dialects import postgresql
            return postgresql.insert(table)
        from sqlalchemy.dialects import sqlite
        return sqlite.insert(table)

    # -- migrations ------------------------------------------------------------------------
    def upgrade(self) -> bool:
        """Bring the schema to the newest Alembic revision; False when another process
        brought it there first (several processes at once: on PostgreSQL an advisory lock
        serialises them; on SQLite the loser retries, or finds the winner's revision)."""
        from alembic import command
        from alembic.config import Config
        from alembic.util import CommandError

        def run() -> None:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            with self.engine.begin() as conn:
                if self.url.get_backend_name() == "postgresql":
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7301991)")
                else:  # the whole upgrade in one transaction that holds the write lock:
                    # Python's sqlite3 runs DDL outside a transaction unless one was begun,
                    # so another process saw half-made tables ("already exists")
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                config.attributes["connection"] = conn
                command.upgrade(config, "head")

        for attempt in range(5):
            try:
                _retrying(run)
                return True
            except CommandError as err:
                # SQLite: another process upgraded between this one's reading of the revision
                # and its writing of the new one (Alembic finds no row to move on)
                if self._at_head():
                    return False
                raise _AlembicError(str(err)) from err
            except (OperationalError, DBAPIError) as err:
                if attempt == 4 or "already exists" not in str(err).lower():
                    raise
                time.sleep(0.2)
        return True

    def _at_head(self) -> bool:
        from dlbs.db.revisions import current, known
        return current(self.engine) == known()[1]

    def compact(self) -> None:
        """SQLite: return the space a rewrite of the rows freed to the disk (``VACUUM``, once,
        after the upgrade that packed the facts); a failure (a full disk) is a warning, the
        database stays as it is."""
        if self.url.get_backend_name() != "sqlite" or self.url.database in (None, "", ":memory:"):
            return
        try:
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM")
        except SQLAlchemyError as err:
            print(f"warning: --db {self.shown}: the facts are packed, but returning the freed "
                  f"space to the disk failed ({reason_of(err, self.url)}); the file keeps its "
                  "size until SQLite's VACUUM runs", file=sys.stderr)

    # -- writing ---------------------------------------------------------------------------
    @guarded("storing the run")
    def store_facts(self, facts: Mapping[str, Any], source: str | None = None) -> bool:
        """Store one run; ``True`` when it was new, ``False`` when already stored;
        :class:`DatabaseError` naming ``source`` when the run is refused
        (:func:`dlbs.db.records.refusal`)."""
        problem = records.refusal(dict(facts))
        if problem:
            raise DatabaseError(f"{_printable(source or 'run')}: {problem}")
        return self.store_many([(facts, source)]) == 1

    def store_many(self, items: Sequence[tuple[Mapping[str, Any], str | None]]) -> int:
        """Store runs in one transaction (one multi-row insert); returns how many were new."""
        return self._store_rows([row_of(facts, source, self._packs)
                                 for facts, source in items])

    @property
    def _packs(self) -> bool:
        """Whether the facts column holds packed facts (SQLite: ``dlbs.db.packed``)."""
        return self.url.get_backend_name() == "sqlite"

    def _store_rows(self, items: Sequence[Row]) -> int:
        """Store rows made by :func:`row_of` in one transaction; how many were new."""
        if not items:
            return 0
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        rows: dict[str, dict[str, Any]] = {}
        times: dict[str, list[float]] = {}
        for made, series in items:
            values = {**made, "ingested_at": now}
            rows.setdefault(values["identity"], values)  # a run twice in one batch: once
            if series is not None:
                times.setdefault(values["identity"], series)

        # PostgreSQL: COPY (dlbs.db.pgcopy), a third of an ingest's time less than an INSERT
        postgresql = self.url.get_backend_name() == "postgresql"

        def write() -> int:
            with self.engine.begin() as conn:
                self._serialise_writers(conn)
                copying = postgresql and pgcopy.can_stage(conn)
                if copying:
                    new = pgcopy.copy_runs(conn, list(rows.values()))
                else:
                    stmt = self._insert(runs).on_conflict_do_nothing(
                        index_elements=["identity"]).returning(runs.c.id, runs.c.identity)
                    given = [pgcopy.with_facts_object(row) for row in rows.values()] \
                        if postgresql else list(rows.values())
                    new = [(i, key) for i, key in conn.execute(stmt, given)]
                if self.keeps_points:
                    added = [rows[identity] for _, identity in new]
                    db_points.add_series(conn, self._insert, added)
                    new_ids = [run_id for run_id, _ in new]
                    db_points.add_classes(conn, self._insert, new_ids)
                    # the new runs added to their points' sums: no other run of theirs is read
                    db_points.add_runs(conn, new_ids)
                children = [{"run_id": run_id, "times": times[identity]}
                            for run_id, identity in new if identity in times]
                if children and copying:
                    pgcopy.copy_times(conn, children)
                elif children:
                    conn.execute(self._insert(run_times).on_conflict_do_nothing(
                        index_elements=["run_id"]), children)
                return len(new)

        self.check_file()  # before: nothing written to a file no one will open again
        added = _retrying(write)
        self.check_file()  # after: a rename during the write left it in the old file
        return added

    def store_log(self, path: str) -> bool:
        """Parse one log and store its run; ``True`` when it was new."""
        from dlbs.logs.parser import parse_log

        parsed = parse_log(path)
        if parsed.record is None:
            raise DatabaseError(f"{path}: {parsed.error}")
        return self.store_facts(parsed.record, str(path))

    @guarded("ingest", "; the runs of earlier transactions stay stored, none twice when the "
             "ingest runs again")
    def ingest_paths(self, names: Sequence[str], recursive: bool = True,
                     progress: Callable[[int, int], None] | None = None,
                     batch: int = 500) -> IngestResult:
        """Parse the logs (and parsed-result files) under ``names`` and store every run, in
        transactions of up to ``batch`` runs."""
        from dlbs.errors import LogFormatError
        from dlbs.logs.pool import map_logs
        from dlbs.logs.sources import find_inputs, read_parsed_files

        inputs = find_inputs(list(names), recursive)
        result = IngestResult()
        total, done = len(inputs.logs) + len(inputs.parsed), 0
        pending: list[Row] = []

        def add(made: Made) -> None:
            if made.refused:
                result.refused.append(f"{_printable(made.path)}: {made.refused}")
            elif made.row is not None:
                pending.append(made.row)
            if len(pending) >= batch:
                self._flush(pending, result)

        # each worker parses a log and makes its row (the facts' identity, key and packing:
        # as much work as the parse), so that this process only inserts
        for made in map_logs(inputs.logs, partial(made_of_log, pack=self._packs)):
            done += 1
            for warning in made.warnings:
                LOG.warning("%s", _printable(warning))
            if made.error is not None:
                result.failed.append(f"{_printable(made.path)}: {made.error}")
            else:
                add(made)
            if progress:
                progress(done, total)
        for path in inputs.parsed:
            done += 1
            try:
                found = read_parsed_files([path])
            except LogFormatError as err:  # this file alone: the others are stored
                result.failed.append(_printable(str(err).removesuffix(
                    " (use --ignore_errors to skip such files)")))
                found = []
            for record in found:
                add(made_of_record(record, path, self._packs))
            if progress:
                progress(done, total)
        self._flush(pending, result)
        if result.added:
            self.analyze()
        return result

    def analyze(self) -> None:
        """Bring the query planner's statistics up to date (after an ingest): without them
        SQLite picks an index by its shape alone (a model + batch + host filter took the host
        index). SQLite: ``ANALYZE`` on a sample of about 1,000 rows an index
        (``analysis_limit``: milliseconds, whatever the table's size); PostgreSQL: ``ANALYZE``
        (a sample too)."""
        def run() -> None:
            with self.engine.begin() as conn:
                if self.url.get_backend_name() == "sqlite":
                    conn.exec_driver_sql("PRAGMA analysis_limit=1000")
                    conn.exec_driver_sql("ANALYZE runs")
                else:
                    conn.exec_driver_sql("ANALYZE runs, run_times, exclusions")

        _retrying(run)

    def _flush(self, pending: list[Row], result: IngestResult) -> None:
        """Store the pending runs in one transaction; when the database rejects the batch
        (a row it cannot take), run by run, so that one damaged file costs only its run."""
        try:
            added = self._store_rows(pending)
        except (SQLAlchemyError, UnicodeError, ValueError) as err:
            if not _rejected_row(err):
                raise
            if len(pending) == 1:
                result.refused.append(f"{pending[0][0]['source'] or 'run'}: the database "
                                      f"rejected the run ({_reason(err)}); not stored")
            else:
                for item in pending:
                    self._flush([item], result)
            pending.clear()
            return
        result.added += added
        result.existing += len(pending) - added
        pending.clear()

    @guarded("the exclusion")
    def exclude(self, run_ids: Iterable[int], reason: str) -> int:
        """Leave runs out of history and regressions (kept in the data); returns how many."""
        ids = self._known(run_ids)
        now = datetime.now(timezone.utc).replace(tzinfo=None)

        def write() -> int:
            with self.engine.begin() as conn:
                self._serialise_writers(conn)
                for run_id in ids:
                    conn.execute(delete(exclusions).where(exclusions.c.run_id == run_id))
                    conn.execute(exclusions.insert().values(run_id=run_id, reason=reason,
                                                            excluded_at=now))
                self._refresh_points(conn, ids)
            return len(ids)

        return _retrying(write)

    @guarded("the inclusion")
    def include(self, run_ids: Iterable[int]) -> int:
        """Undo :meth:`exclude`."""
        ids = self._known(run_ids)

        def write() -> int:
            with self.engine.begin() as conn:
                self._serialise_writers(conn)
                conn.execute(delete(exclusions).where(exclusions.c.run_id.in_(ids)))
                self._refresh_points(conn, ids)
            return len(ids)

        return _retrying(write)

    def _serialise_writers(self, conn: Any) -> None:
        """PostgreSQL: one writing transaction at a time (a transaction-scoped advisory lock),
        so that the ``points`` rows a writer recomputes see every run stored before it
        (SQLite's file lock does this already)."""
        if self.url.get_backend_name() == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")

    def _refresh_points(self, conn: Any, run_ids: Sequence[int]) -> None:
        if not self.keeps_points:
            return
        for start in range(0, len(run_ids), db_points.CHUNK):
            chunk = run_ids[start:start + db_points.CHUNK]
            db_points.refresh(conn, conn.execute(
                select(runs.c.comparability_key, runs.c.code_version)
                .where(runs.c.id.in_(chunk))).all())

    def _known(self, run_ids: Iterable[int]) -> list[int]:
        ids = sorted({int(i) for i in run_ids})
        storable = [i for i in ids if _fits(i, INTEGER_BITS)]  # no other id can exist
        with self.engine.connect() as conn:
            found = set(conn.execute(select(runs.c.id).where(runs.c.id.in_(storable)))
                        .scalars())
        missing = [i for i in ids if i not in found]
        if missing:
            raise DatabaseError(f"{self.shown}: no run with id {', '.join(map(str, missing))} "
                                "(see 'dlbs db query' for the ids)")
        return ids

    # -- reading ---------------------------------------------------------------------------
    @guarded("the query")
    def runs(self, filters: Mapping[str, Any] | None = None,
             include_excluded: bool = True) -> list[RunRecord]:
        """The runs whose facts equal every filter (``{"exp.model": "resnet50"}``), oldest
        first. Filters on indexed facts (:data:`dlbs.db.schema.INDEXED`) are SQL conditions;
        the others are checked on each run's facts in Python (the same on both engines)."""
        filters = dict(filters or {})
        stmt = select(runs.c.id, runs.c.identity, runs.c.comparability_key, runs.c.facts,
                      runs.c.date, runs.c.source, exclusions.c.reason).select_from(
            runs.outerjoin(exclusions, exclusions.c.run_id == runs.c.id))
        rest: dict[str, Any] = {}
        for key, value in filters.items():
            column = INDEXED.get(key)
            sql_value = self._column_value(column, value) if column else None
            if column and sql_value is not None:
                stmt = stmt.where(runs.c[column] == sql_value)
            else:
                rest[key] = value
                condition = _json_condition(key, value, self.url.get_backend_name())
                if condition is not None:  # narrows in SQL; the facts are checked below
                    stmt = stmt.where(condition)
        stmt = stmt.order_by(runs.c.date, runs.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        found = []
        for row in rows:
            record = RunRecord(row.id, row.identity, row.comparability_key, row.facts, row.date,
                               row.source, row.reason is not None, row.reason)
            if record.excluded and not include_excluded:
                continue
            if all(_equal(record.facts.get(k), v) for k, v in rest.items()):
                found.append(record)
        return found

    #: The summary columns :meth:`light_rows` gives, in its tuples' order (the exclusion reason
    #: comes in after ``code_version``).
    LIGHT = ("id", "comparability_key", "date", "throughput", "time_mean", "time_ci_low",
             "time_ci_high", "code_version", "status", "ess")

    def _indexed(self, filters: Mapping[str, Any] | None, since: datetime | None = None
                 ) -> list[Any] | None:
        """The SQL conditions of filters on indexed facts (and of ``since``: runs of that date
        or later); None when a filter needs the facts."""
        conditions = [] if since is None else [runs.c.date >= since]
        for key, value in (filters or {}).items():
            column = INDEXED.get(key)
            sql_value = self._column_value(column, value) if column else None
            if column is None or sql_value is None:
                return None
            conditions.append(runs.c[column] == sql_value)
        return conditions

    @guarded("the query")
    def light_rows(self, filters: Mapping[str, Any] | None = None, since: datetime | None = None
                   ) -> list[tuple[Any, ...]] | None:
        """The runs of :meth:`runs` from the summary columns only (no JSON facts), oldest
        first, as tuples ``(id, comparability_key, date, throughput, time_mean, time_ci_low,
        time_ci_high, code_version, exclusion reason or None, status, ess)``; ``since``: only
        runs of that date or later. None when a filter needs the facts (then use
        :meth:`runs`). What history and regressions read for many series."""
        conditions = self._indexed(filters, since)
        if conditions is None:
            return None
        return self._light(self._light_select().where(*conditions))

    def _light_select(self) -> Any:
        """The columns of :meth:`light_rows` in their order, the exclusion's reason joined."""
        columns: list[Any] = [runs.c[name] for name in self.LIGHT]
        if self.url.get_backend_name() == "sqlite":  # tens of thousands of dates a query
            columns[2] = type_coerce(runs.c.date, _IsoDate()).label("date")
        columns.insert(8, exclusions.c.reason)
        return select(*columns).select_from(
            runs.outerjoin(exclusions, exclusions.c.run_id == runs.c.id))

    def _light(self, stmt: Any) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
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
        conditions = self._indexed(filters, since)
        if conditions is None:
            return None
        by_series = self._series_conditions(filters, since)
        if by_series is not None:  # the window from the points table (revision 0005)
            chosen = db_points.window(self.url.get_backend_name(), metric_column, by_series,
                                      points)
        else:
            chosen = self._window_from_runs(conditions, metric_column, points)
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
        by_series = self._series_conditions(filters, None)
        if by_series is None or not self.keeps_points:
            return None
        stmt = db_points.window_points(self.url.get_backend_name(), metric_column, by_series,
                                       count)
        nan = math.nan
        with self.engine.connect() as conn:
            found = [(k, v, first, live, n, value, nan if low is None else low,
                      nan if high is None else high, nan if se is None else se)
                     for k, v, first, live, n, value, low, high, se in conn.execute(stmt)]
        # a point kept without statistics (its runs overflow them, or an older dlbs wrote the
        # row while this one upgraded the database): the runs are read instead
        return None if any(row[4] is None or row[5] is None for row in found) else found

    def _series_conditions(self, filters: Mapping[str, Any] | None, since: datetime | None
                           ) -> list[Any] | None:
        """The filters as conditions on ``series`` when the tables of revision 0005 can answer
        (every filter a series column, no ``since``), else None: then the runs are read."""
        if since is not None:
            return None
        return db_points.series_conditions(filters or {}, INDEXED, self._column_value)

    @staticmethod
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

    @guarded("the query")
    def code_versions(self, filters: Mapping[str, Any] | None) -> list[str] | None:
        """The distinct code versions of the runs matching indexed ``filters`` (None when a
        filter needs the facts)."""
        conditions = self._indexed(filters)
        if conditions is None:
            return None
        with self.engine.connect() as conn:
            return [v for (v,) in conn.execute(select(runs.c.code_version).where(*conditions)
                                               .distinct()) if v is not None]

    @guarded("the query")
    def run_classes(self, filters: Mapping[str, Any] | None, metric_column: str,
                    since: datetime | None = None) -> list[tuple[Any, bool, bool, int]] | None:
        """How many matching runs there are by ``(status, has a usable metric value, has a
        code version)``: the counts of the runs left out, without reading the runs."""
        conditions = self._indexed(filters, since)
        if conditions is None:
            return None
        by_series = self._series_conditions(filters, since)
        if by_series is not None:  # from the counts kept at ingest (revision 0005)
            with self.engine.connect() as conn:
                return db_points.run_classes(conn, by_series, metric_column)
        has_value = case((_usable(runs.c[metric_column]), 1), else_=0)
        has_axis = case((_HAS_VERSION, 1), else_=0)
        stmt = (select(_STATUS, has_value, has_axis, func.count())
                .where(*conditions).group_by(_STATUS, has_value, has_axis))
        with self.engine.connect() as conn:
            return [(status, bool(v), bool(a), int(n)) for status, v, a, n in conn.execute(stmt)]

    def fact_names(self, newest: int = 1000) -> set[str]:
        """The fact names of the ``newest`` runs stored (what an unknown name is compared
        with for a suggestion)."""
        with self.engine.connect() as conn:
            found = conn.execute(select(runs.c.facts).order_by(runs.c.id.desc()).limit(newest))
            return {name for (facts,) in found for name in facts}

    @guarded("the query")
    def facts_of(self, run_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The full facts of some runs, by id."""
        return self._by_id(runs.c.id, runs.c.facts, run_ids)

    @guarded("the query")
    def some_facts_of(self, run_ids: Sequence[int], names: Sequence[str]
                      ) -> dict[int, dict[str, Any]]:
        """Only the facts ``names`` of some runs, by id (a fact a run lacks is left out, as is
        a JSON null): read by the database from each run's JSON, so that no whole facts object
        reaches Python (``regressions --latest`` asks why thousands of one-run points have no
        interval, 4 facts each, and names each series from its key's facts); on SQLite each
        run's packed facts are unpacked once, however many names are asked."""
        backend = self.url.get_backend_name()
        one_call = backend == "sqlite" and names and not any('"' in name for name in names)
        out: dict[int, dict[str, Any]] = {}
        ids = list(run_ids)
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                if one_call:
                    rows = self._facts_in_one_call(conn, chunk, names)
                elif backend == "postgresql" and names:
                    rows = self._facts_in_one_object(conn, chunk, names)
                else:
                    rows = conn.execute(select(runs.c.id, *(_fact(name, backend)
                                                            for name in names))
                                        .where(runs.c.id.in_(chunk)))
                for row in rows:
                    out[row[0]] = {name: value for name, value in zip(names, row[1:])
                                   if value is not None}
        return out

    @staticmethod
    def _facts_in_one_call(conn: Any, run_ids: Sequence[int], names: Sequence[str]
                           ) -> Iterator[tuple[Any, ...]]:
        """SQLite: ``(id, value, ...)`` of each run, its packed facts unpacked once and every
        name read by one ``json_extract`` (a JSON array of the values, null where a fact is
        missing): a small array to decode a run, not a JSON value a name."""
        paths = [f'$."{name}"' for name in [*names, *names][:max(len(names), 2)]]
        unpacked = getattr(func, packed.SQL_FUNCTION)(runs.c.facts)
        stmt = select(runs.c.id, func.json_extract(unpacked, *paths)).where(
            runs.c.id.in_(run_ids))
        for run_id, found in conn.execute(stmt):
            yield (run_id, *(json.loads(found) if found is not None else []))

    @staticmethod
    def _facts_in_one_object(conn: Any, run_ids: Sequence[int], names: Sequence[str]
                             ) -> Iterator[tuple[Any, ...]]:
        """PostgreSQL: ``(id, value, ...)`` of each run from one object of the asked facts
        (``jsonb_each`` over its facts, kept by name): one jsonb detoasted and one JSON value
        decoded a run, not one a name (27 names for 3,500 runs took 1 s)."""
        each = func.jsonb_each(runs.c.facts).table_valued("key", "value")
        picked = (select(func.jsonb_object_agg(each.c.key, each.c.value))
                  .where(each.c.key.in_(list(names))).scalar_subquery())
        stmt = select(runs.c.id, picked).where(runs.c.id.in_(run_ids))
        for run_id, found in conn.execute(stmt):
            found = found or {}
            yield (run_id, *(found.get(name) for name in names))

    @staticmethod
    def _column_value(column: str, value: Any) -> Any:
        if column in ("batch", "device_count", "repeat"):
            # an integer no column can hold matches no row's column: the facts decide
            return value if _integer(value) and _fits(value, INTEGER_BITS) else None
        return value if isinstance(value, str) else None

    @guarded("the query")
    def times(self, run_ids: Sequence[int]) -> dict[int, list[float]]:
        """The raw iteration times (ms) of runs, by id (runs without them are left out)."""
        return self._by_id(run_times.c.run_id, run_times.c.times, run_ids)

    def _by_id(self, key: Any, value: Any, run_ids: Sequence[int]) -> dict[int, Any]:
        """``{id: value}`` of a table's rows whose ``key`` is one of ``run_ids`` (read in
        chunks of 500: a database caps the parameters of one statement)."""
        out: dict[int, Any] = {}
        ids = list(run_ids)
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(select(key, value).where(key.in_(ids[start:start + 500])))
                out.update((row[0], row[1]) for row in rows)
        return out

    @guarded("the query")
    def count(self) -> int:
        """How many runs are stored."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(runs)).scalar_one())

    def close(self) -> None:
        self.engine.dispose()


_STATUS = db_points.STATUS
_HAS_VERSION = db_points.HAS_VERSION
_usable = db_points.usable


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fits(value: int, bits: int) -> bool:
    """Whether ``value`` is a signed integer of ``bits`` bits (what a column or a bound
    parameter can hold: a 20-digit filter value is none)."""
    return -(1 << (bits - 1)) <= value < (1 << (bits - 1))


def _json_condition(key: str, value: Any, backend: str) -> Any:
    """An SQL condition that narrows the runs to those whose fact ``key`` may equal ``value``,
    for texts and integers; None for other values. SQLite: ``json_extract``; PostgreSQL:
    containment in the ``jsonb`` facts, which the GIN index ``ix_runs_facts`` answers (an
    integer also as its text, as the check in Python takes ``"16"`` for ``16``). Never a
    cast that can fail on another run's value."""
    if isinstance(value, bool):
        return None
    if backend == "postgresql":
        facts = type_coerce(runs.c.facts, JSONB)
        if isinstance(value, int):
            return or_(facts.contains({key: value}), facts.contains({key: str(value)}))
        if isinstance(value, str) and not _looks_numeric(value):
            return facts.contains({key: value})
        return None
    element = _fact(key, backend)
    if isinstance(value, int):
        return element.as_integer() == value if _fits(value, 64) else None
    if isinstance(value, str) and not _looks_numeric(value):
        return element.as_string() == value
    return None


def _fact(key: str, backend: str) -> Any:
    """The SQL expression of one fact of a run (JSON: a missing fact and a JSON null are
    NULL). SQLite reads its packed facts through ``dlbs_facts`` (:mod:`dlbs.db.packed`)."""
    if backend == "postgresql":
        return type_coerce(runs.c.facts, JSONB)[key]
    return type_coerce(getattr(func, packed.SQL_FUNCTION)(runs.c.facts), JSON)[key]


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _equal(fact: Any, wanted: Any) -> bool:
    """A stored fact equals a filter's value: equal, or equal numbers (PostgreSQL's jsonb
    returns a float written with an exponent, 1e+16, as the integer 10000000000000000), or
    the same text."""
    if fact == wanted:
        return True
    if _number(fact) and _number(wanted):
        try:
            if float(fact) == float(wanted):
                return True
        except OverflowError:  # an integer beyond a float's range: equal only as itself
            pass
    return fact is not None and str(fact) == str(wanted)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


#: A run ready to insert: its ``runs`` row but ``ingested_at`` (the facts packed where the
#: column holds them packed) and its iteration times (None when it has none).
Row = tuple[dict[str, Any], "list[float] | None"]


def row_of(facts: Mapping[str, Any], source: str | None, pack: bool) -> Row:
    """The row of one run (:data:`Row`); ``pack``: SQLite's packed facts column."""
    plain = dict(facts)
    values = records.row(plain)
    values["source"] = _printable(source)
    if pack:
        values["facts"] = packed.pack(values["facts"])
    return values, records.times_of(plain)


@dataclass
class Made:
    """What ``dlbs db ingest`` makes of one log, in a parsing worker: the warnings, the error
    (the log holds no run), why the run is refused, or its :data:`Row`."""

    path: str
    warnings: list[str]
    error: str | None = None
    refused: str | None = None
    row: Row | None = None


def made_of_record(record: Mapping[str, Any], path: str, pack: bool) -> Made:
    problem = records.refusal(dict(record))
    if problem:
        return Made(path, [], refused=problem)
    values, times = row_of(record, path, pack)
    if not pack:  # PostgreSQL: the JSON text COPY sends (dlbs.db.pgcopy), made here in a worker
        values["facts"] = pgcopy.facts_text(values["facts"])
    return Made(path, [], row=(values, times))


def made_of_log(path: str, pack: bool) -> Made:
    """Parse one log and make its row (a module-level function: it runs in a worker)."""
    from dlbs.logs.parser import parse_log

    parsed = parse_log(path)
    if parsed.record is None:
        return Made(parsed.path, parsed.warnings, error=parsed.error or "no run")
    made = made_of_record(parsed.record, parsed.path, pack)
    made.warnings = parsed.warnings
    return made


def _printable(text: Any) -> Any:
    """A path or message with any lone surrogate (a file name's bytes that are not UTF-8)
    written as an escape, so that it can be stored and printed."""
    if not isinstance(text, str):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _rejected_row(err: BaseException) -> bool:
    """Whether the database (or its driver) refused the data of a row, not the connection:
    integrity and data errors, text it cannot encode. A lock or a lost server is no run's
    fault and stays an error of the whole ingest."""
    from sqlalchemy.exc import DataError, IntegrityError, StatementError

    if isinstance(err, (UnicodeError, ValueError, DataError, IntegrityError)):
        return True
    return isinstance(err, StatementError) and isinstance(err.orig, (UnicodeError, ValueError))


def _reason(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return _printable(text.splitlines()[0] if text else type(err).__name__)


def _read_only_file(url: URL) -> bool:
    """Whether ``url`` is an SQLite file that exists and that this user may not write (or
    whose folder, where SQLite keeps its journal, is not writable)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return False
    path = Path(url.database).expanduser()
    return path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


class _IsoDate(TypeDecorator[datetime]):
    """SQLite's stored ``DateTime`` text (``YYYY-MM-DD HH:MM:SS.ffffff``, as SQLAlchemy writes
    it) read with :meth:`datetime.fromisoformat` (C) instead of the dialect's regular
    expression: the same values, several times faster over tens of thousands of rows."""
    impl = String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)


class _AlembicError(Exception):
    """Stands for ``alembic.util.CommandError`` in an ``except`` (Alembic is imported only
    to upgrade: :meth:`Store.upgrade` turns its error into this one)."""


def open_store(url: str | URL | None, readonly: bool = False) -> Store:
    """Open the database at ``url`` (``None``: ``$DLBS_DB``) and migrate it when it is older
    than this dlbs; one-line :class:`DatabaseError` (secrets hidden) when it cannot be used.
    ``readonly`` (the commands that only read): an SQLite file is opened read-only and a
    database at the newest revision is never written, so a file this user may only read
    can be queried."""
    from dlbs.db.faults import GENERIC, UNREACHABLE, advice_for, reason_of
    from dlbs.db.revisions import current, known, needs_upgrade

    resolved = url if isinstance(url, URL) else resolve(url)
    check_persistent(resolved)  # a URL object too (``resolve`` checks the text's)
    store = Store(resolved, readonly=readonly)
    upgrading = False
    try:
        # another process's upgrade holds the file for a moment: wait for it, as writes do
        if _retrying(lambda: needs_upgrade(store.engine, resolved)):
            upgrading = True
            stamp = _retrying(lambda: current(store.engine))
            if stamp is not None:  # a database with runs, not a new one: say why it waits
                print(f"dlbs: upgrading --db {shown(resolved)} from schema revision {stamp} to "
                      f"{known()[1]} (once; on a large database this can take minutes)",
                      file=sys.stderr, flush=True)
            if readonly:  # the schema is written: a writable connection for that
                store.close()
                store = Store(resolved)
            upgraded = store.upgrade()
            if upgraded and stamp is not None and stamp < PACKED_REVISION:
                store.compact()
    except DatabaseError:
        store.close()
        raise
    except (SQLAlchemyError, OSError, _AlembicError) as err:
        store.close()
        reason = reason_of(err, resolved)
        if readonly and upgrading:
            raise DatabaseError(f"--db {shown(resolved)}: the schema is older than this dlbs "
                                f"and upgrading it failed ({reason}); run 'dlbs db upgrade' "
                                "with a user that may write the database") from None
        advice = advice_for(reason)
        if _read_only_file(resolved):
            advice = ("the database file or its folder is read-only and this command writes "
                      "to it: use a copy you may write")
        elif advice in (GENERIC, UNREACHABLE):
            advice = "check the URL, that the server runs and the credentials"
        raise DatabaseError(f"--db {shown(resolved)}: cannot open the database ({reason}); "
                            f"{advice}") from None
    store.pin_file()
    return store
