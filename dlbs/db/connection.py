"""The engine and its connections: one open results database (:class:`Database`), what every
other part of the store reads and writes through.

SQLite runs in WAL mode with a busy timeout, and a transaction that still finds the file
locked is run again (:func:`retrying`); a database file that is a link or anything but a plain
file is refused, and a write that finds the path now names another file is refused too
(:meth:`Database.check_file`). A URL the dialect refuses is one line, never a traceback.

This module opens and guards connections; it knows no table, writes no row and reads none.
"""
from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from safeio import UnsafeFileError, check_writable_target
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, OperationalError

from dlbs.db import packed
from dlbs.db.faults import reason_of
from dlbs.db.url import DatabaseError, shown, uri_path

#: SQLite: how long one statement waits for another writer's lock (seconds), and how long a
#: whole transaction is retried when it still finds the file locked.
BUSY_TIMEOUT_S = 30.0
RETRY_FOR_S = 120.0
T = TypeVar("T")


class Database:
    """An open results database: its URL, its engine, and the file it opened (SQLite)."""

    #: Whether writes keep the ``series`` and ``points`` tables (revision 0005), and reads may
    #: answer from them; False only for a store over the tables of an older release (the
    #: upgrade tests write as it did).
    keeps_points = True

    def __init__(self, url: URL, readonly: bool = False) -> None:
        self.url = url
        self.engine = engine_of(url, readonly)
        #: An SQLite file's path and (device, inode) once open (:meth:`pin_file`).
        self._file: tuple[Path, tuple[int, int]] | None = None

    @property
    def shown(self) -> str:
        """The URL without its secrets."""
        return shown(self.url)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.url.get_backend_name()

    def insert(self, table: Any) -> Any:
        """The dialect's ``INSERT`` of ``table`` (it has ``ON CONFLICT`` on both engines)."""
        if self.backend == "postgresql":
            from sqlalchemy.dialects import postgresql
            return postgresql.insert(table)
        from sqlalchemy.dialects import sqlite
        return sqlite.insert(table)

    def pin_file(self) -> None:
        """Remember which file an SQLite URL names now (after the open made it), so that a
        write can tell that the path no longer names it (:meth:`check_file`)."""
        if self.backend != "sqlite" or not self.url.database:
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

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    packed.register(dbapi_connection)


def engine_of(url: URL, readonly: bool = False) -> Engine:
    """The engine of ``url``; ``readonly``: an existing SQLite file is opened read-only (it
    may be a file this user cannot write), never switched to WAL, never written, and a
    missing one is an error, never created."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, readonly)
    return _create(url, pool_pre_ping=True)


def _sqlite_engine(url: URL, readonly: bool) -> Engine:
    """:func:`engine_of` for SQLite: the file's folder, its planted companions and (a reader)
    its existence checked first."""
    if url.database and url.database != ":memory:":
        path = Path(url.database).expanduser()
        if not path.resolve().parent.is_dir():
            if readonly:  # a reader's advice is not to create the folder
                _refuse_missing(url)
            raise DatabaseError(f"--db {shown(url)}: folder {path.resolve().parent} does not "
                                "exist; create it or give another path")
        _refuse_planted(url, path)
        if readonly:  # after the planted companions: a link there is the graver news
            _refuse_missing(url)
        if readonly and path.is_file():
            # the reader opens the file by a URL of its own: the options of the one given that
            # SQLite's driver ignores are said as for a writer (a lazy engine: no connection)
            _create(url).dispose()
            return _sqlite_reader(path.resolve())
    engine = _create(url, connect_args={"timeout": BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


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


def sqlite_file(url: URL) -> Path | None:
    """The file an SQLite URL names (``file:`` URIs with ``?uri=true`` too: SQLite reads
    the path from the URI, not the text), or None for an in-memory database."""
    name = url.database or ""
    if not name or name == ":memory:":
        return None
    if name.startswith("file:") and "true" in _uri_option(url):
        path = uri_path(name)
        return Path(unquote(path)).expanduser() if path else None
    return Path(name).expanduser()


def _uri_option(url: URL) -> tuple[str, ...]:
    value = url.query.get("uri", ())
    return tuple(v.lower() for v in ((value,) if isinstance(value, str) else value))


def _refuse_missing(url: URL, doing: str = "only reads") -> None:
    """A command that only reads never creates the database: SQLite makes a missing file on
    connecting (an empty 120 KB database once the schema is written, and its -wal and -shm),
    so a misspelt path left a new file behind and ``db query`` printed no rows and exit 0, as
    if the database were empty."""
    path = sqlite_file(url)
    if path is None or path.exists():
        return
    path = path.absolute()
    where = (str(path) if path.parent.is_dir() else
             f"{path}; folder {path.parent} does not exist")
    raise DatabaseError(f"--db {shown(url)}: no such database file ({where}); this command "
                        f"{doing}: check the path, or create the database with "
                        f"'dlbs db ingest --db {shown(url)} FOLDER'")


def refuse_missing(url: URL, doing: str) -> None:
    """The same refusal for a command that changes a database it expects to exist (``db
    upgrade``, ``db rekey``, ``db exclude``): on a misspelt SQLite path it would otherwise
    create an empty database and report success on it. ``doing`` completes "this command ..."
    in the message. Other backends connect to what exists (a missing one is their error)."""
    if url.get_backend_name() == "sqlite":
        _refuse_missing(url, doing)


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


def retrying(action: Callable[[], T]) -> T:
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


def read_only_file(url: URL) -> bool:
    """Whether ``url`` is an SQLite file that exists and that this user may not write (or
    whose folder, where SQLite keeps its journal, is not writable)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return False
    path = Path(url.database).expanduser()
    return path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


class Room:
    """A part of the store over one open :class:`Database` (queries, summary, writes): each
    holds the database and answers ``url`` for the error wording of
    :func:`~dlbs.db.faults.guarded`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def url(self) -> Any:
        """The database's URL (what :func:`~dlbs.db.faults.guarded` words errors with)."""
        return self.db.url
