"""The results database as one object: open (and migrate), ingest runs, query, exclude.

API (used by the CLI and by history/regressions)::

    store = open_store("sqlite:///results.db")      # or a URL object; migrates to head
    store.ingest_paths(["logs/sweep1"])              # IngestResult(added, existing, failed)
    store.store_facts(facts, source="path.log")      # True when the run is new
    store.runs({"exp.model": "resnet50"})            # [RunRecord], oldest first
    store.times([run_id, ...])                       # {run_id: [ms, ...]}
    store.exclude([run_id], "reason") / store.include([run_id])
    store.close()

:class:`Store` is a facade over the rooms that do the work, each over one
:class:`~dlbs.db.connection.Database` (the engine and its connections): ``writes`` (runs
stored, excluded, included; ``COPY`` or ``INSERT`` behind one protocol), ``ingest`` (logs
parsed into rows, stored in batches), ``queries`` (runs by their facts, facts and times by
id), ``summary`` (series from the summary columns, ``--latest``'s window) and ``upgrade``
(the schema's migration). This module composes them and words the errors of opening.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from dlbs.db import ingest, upgrade
from dlbs.db.connection import Database, read_only_file, retrying
from dlbs.db.ingest import IngestResult
from dlbs.db.queries import Queries, RunRecord
from dlbs.db.rekey import Rekey, RekeyResult
from dlbs.db.summary import Summary
from dlbs.db.url import DatabaseError, check_persistent, resolve, shown
from dlbs.db.writes import Writes

__all__ = ["IngestResult", "RunRecord", "Store", "open_store"]


class Store:
    """An open results database (see the module's docstring)."""

    def __init__(self, url: URL, readonly: bool = False) -> None:
        self.db = Database(url, readonly)
        self.writes = Writes(self.db)
        self.queries = Queries(self.db)
        self.summary = Summary(self.db)

    @property
    def url(self) -> URL:
        return self.db.url

    @property
    def engine(self) -> Engine:
        return self.db.engine

    @property
    def shown(self) -> str:
        return self.db.shown

    @property
    def keeps_points(self) -> bool:
        """:attr:`dlbs.db.connection.Database.keeps_points` (False: the tables of an older
        release, written and read as it did)."""
        return self.db.keeps_points

    @keeps_points.setter
    def keeps_points(self, keeps: bool) -> None:
        self.db.keeps_points = keeps

    def pin_file(self) -> None:
        self.db.pin_file()

    def check_file(self) -> None:
        self.db.check_file()

    def close(self) -> None:
        self.db.close()

    # -- the schema ------------------------------------------------------------------------
    def upgrade(self) -> bool:
        """:func:`dlbs.db.upgrade.upgrade`."""
        return upgrade.upgrade(self.db)

    def compact(self) -> None:
        """:func:`dlbs.db.upgrade.compact`."""
        upgrade.compact(self.db)

    def rekey(self, dry_run: bool = False,
              progress: Callable[[int, int], None] | None = None) -> RekeyResult:
        """:meth:`dlbs.db.rekey.Rekey.run`."""
        return Rekey(self.db).run(dry_run, progress)

    # -- writing (dlbs.db.writes, dlbs.db.ingest) ------------------------------------------
    def store_facts(self, facts: Mapping[str, Any], source: str | None = None) -> bool:
        """:meth:`dlbs.db.writes.Writes.store_facts`."""
        return self.writes.store_facts(facts, source)

    def store_many(self, items: Sequence[tuple[Mapping[str, Any], str | None]]) -> int:
        """:meth:`dlbs.db.writes.Writes.store_many`."""
        return self.writes.store_many(items)

    def store_log(self, path: str) -> bool:
        """:func:`dlbs.db.ingest.store_log`."""
        return ingest.store_log(self.writes, path)

    def ingest_paths(self, names: Sequence[str], recursive: bool = True,
                     progress: Callable[[int, int], None] | None = None,
                     batch: int = 500) -> IngestResult:
        """:func:`dlbs.db.ingest.ingest_paths`."""
        return ingest.ingest_paths(self.writes, names, recursive, progress, batch)

    def analyze(self) -> None:
        """:meth:`dlbs.db.writes.Writes.analyze`."""
        self.writes.analyze()

    def exclude(self, run_ids: Iterable[int], reason: str) -> int:
        """:meth:`dlbs.db.writes.Writes.exclude`."""
        return self.writes.exclude(run_ids, reason)

    def include(self, run_ids: Iterable[int]) -> int:
        """:meth:`dlbs.db.writes.Writes.include`."""
        return self.writes.include(run_ids)

    # -- reading (dlbs.db.queries, dlbs.db.summary) ----------------------------------------
    def runs(self, filters: Mapping[str, Any] | None = None,
             include_excluded: bool = True) -> list[RunRecord]:
        """:meth:`dlbs.db.queries.Queries.runs`."""
        return self.queries.runs(filters, include_excluded)

    def fact_names(self, newest: int = 1000) -> set[str]:
        """:meth:`dlbs.db.queries.Queries.fact_names`."""
        return self.queries.fact_names(newest)

    def facts_of(self, run_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """:meth:`dlbs.db.queries.Queries.facts_of`."""
        return self.queries.facts_of(run_ids)

    def some_facts_of(self, run_ids: Sequence[int], names: Sequence[str]
                      ) -> dict[int, dict[str, Any]]:
        """:meth:`dlbs.db.queries.Queries.some_facts_of`."""
        return self.queries.some_facts_of(run_ids, names)

    def times(self, run_ids: Sequence[int]) -> dict[int, list[float]]:
        """:meth:`dlbs.db.queries.Queries.times`."""
        return self.queries.times(run_ids)

    def count(self) -> int:
        """:meth:`dlbs.db.queries.Queries.count`."""
        return self.queries.count()

    def light_rows(self, filters: Mapping[str, Any] | None = None, since: datetime | None = None
                   ) -> list[tuple[Any, ...]] | None:
        """:meth:`dlbs.db.summary.Summary.light_rows`."""
        return self.summary.light_rows(filters, since)

    def newest_point_rows(self, filters: Mapping[str, Any] | None, metric_column: str,
                          points: int, since: datetime | None = None
                          ) -> list[tuple[Any, ...]] | None:
        """:meth:`dlbs.db.summary.Summary.newest_point_rows`."""
        return self.summary.newest_point_rows(filters, metric_column, points, since)

    def newest_points(self, filters: Mapping[str, Any] | None, metric_column: str,
                      count: int) -> list[tuple[Any, ...]] | None:
        """:meth:`dlbs.db.summary.Summary.newest_points`."""
        return self.summary.newest_points(filters, metric_column, count)

    def ok_runs_at(self, points: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[int]]:
        """:meth:`dlbs.db.summary.Summary.ok_runs_at`."""
        return self.summary.ok_runs_at(points)

    def code_versions(self, filters: Mapping[str, Any] | None) -> list[str] | None:
        """:meth:`dlbs.db.summary.Summary.code_versions`."""
        return self.summary.code_versions(filters)

    def run_classes(self, filters: Mapping[str, Any] | None, metric_column: str,
                    since: datetime | None = None) -> list[tuple[Any, bool, bool, int]] | None:
        """:meth:`dlbs.db.summary.Summary.run_classes`."""
        return self.summary.run_classes(filters, metric_column, since)


def open_store(url: str | URL | None, readonly: bool = False) -> Store:
    """Open the database at ``url`` (``None``: ``$DLBS_DB``) and migrate it when it is older
    than this dlbs; one-line :class:`DatabaseError` (secrets hidden) when it cannot be used.
    ``readonly`` (the commands that only read): an SQLite file is opened read-only and a
    database at the newest revision is never written, so a file this user may only read
    can be queried."""
    from dlbs.db.revisions import current, known, needs_upgrade

    resolved = url if isinstance(url, URL) else resolve(url)
    check_persistent(resolved)  # a URL object too (``resolve`` checks the text's)
    store = Store(resolved, readonly=readonly)
    upgrading = False
    try:
        # another process's upgrade holds the file for a moment: wait for it, as writes do
        if retrying(lambda: needs_upgrade(store.engine, resolved)):
            upgrading = True
            stamp = retrying(lambda: current(store.engine))
            if stamp is not None:  # a database with runs, not a new one: say why it waits
                print(f"dlbs: upgrading --db {shown(resolved)} from schema revision {stamp} to "
                      f"{known()[1]} (once; on a large database this can take minutes)",
                      file=sys.stderr, flush=True)
            if readonly:  # the schema is written: a writable connection for that
                store.close()
                store = Store(resolved)
            upgraded = store.upgrade()
            if upgraded and stamp is not None and stamp < upgrade.PACKED_REVISION:
                store.compact()
    except DatabaseError:
        store.close()
        raise
    except (SQLAlchemyError, OSError, upgrade.AlembicError) as err:
        store.close()
        raise _cannot_open(err, resolved, readonly and upgrading) from None
    store.pin_file()
    return store


def _cannot_open(err: BaseException, url: URL, upgrading_readonly: bool) -> DatabaseError:
    """The one line of a database that could not be opened (or, for a command that only
    reads, upgraded), with what to do."""
    from dlbs.db.faults import GENERIC, UNREACHABLE, advice_for, reason_of

    reason = reason_of(err, url)
    if upgrading_readonly:
        return DatabaseError(f"--db {shown(url)}: the schema is older than this dlbs and "
                             f"upgrading it failed ({reason}); run 'dlbs db upgrade' with a "
                             "user that may write the database")
    advice = advice_for(reason)
    if read_only_file(url):
        advice = ("the database file or its folder is read-only and this command writes "
                  "to it: use a copy you may write")
    elif advice in (GENERIC, UNREACHABLE):
        advice = "check the URL, that the server runs and the credentials"
    return DatabaseError(f"--db {shown(url)}: cannot open the database ({reason}); "
                         f"{advice}")
