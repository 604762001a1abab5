"""``dlbs db ingest`` and ``experimenter run --db``: logs (and parsed-result files) parsed into
rows and stored through :class:`~dlbs.db.writes.Writes`, in transactions of up to a batch.

The parsing workers (``dlbs.logs.pool``) make each run's row, as much work as the parse, so
that this process only inserts. A file that holds no run is counted as unreadable, a run the
database cannot take is refused and named: neither stops the others. When the database rejects
a batch, its runs are stored one by one, so that one damaged file costs only its run.

This module turns logs into rows and counts; how the rows reach the tables is ``writes``'.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from dlbs.db import pgcopy, records
from dlbs.db.faults import guarded
from dlbs.db.url import DatabaseError
from dlbs.db.writes import Row, Writes, printable, row_of

LOG = logging.getLogger("dlbs.db")


@dataclass
class IngestResult:
    """What an ingest did: new runs, runs already stored, files that could not be read, and
    runs refused (``"path: why"``: a measurement that is none, text no database stores, a row
    the database rejected)."""

    added: int = 0
    existing: int = 0
    failed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@dataclass
class Made:
    """What ``dlbs db ingest`` makes of one log, in a parsing worker: the warnings, the error
    (the log holds no run), why the run is refused, or its :data:`~dlbs.db.writes.Row`."""

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


def store_log(writes: Writes, path: str) -> bool:
    """Parse one log and store its run; ``True`` when it was new."""
    from dlbs.logs.parser import parse_log

    parsed = parse_log(path)
    if parsed.record is None:
        raise DatabaseError(f"{path}: {parsed.error}")
    return writes.store_facts(parsed.record, str(path))


@guarded("ingest", "; the runs of earlier transactions stay stored, none twice when the "
         "ingest runs again")
def ingest_paths(writes: Writes, names: Sequence[str], recursive: bool = True,
                 progress: Callable[[int, int], None] | None = None,
                 batch: int = 500) -> IngestResult:
    """Parse the logs (and parsed-result files) under ``names`` and store every run, in
    transactions of up to ``batch`` runs."""
    from dlbs.logs.sources import find_inputs

    inputs = find_inputs(list(names), recursive)
    batcher = _Batcher(writes, batch, progress, len(inputs.logs) + len(inputs.parsed))
    # each worker parses a log and makes its row (the facts' identity, key and packing:
    # as much work as the parse), so that this process only inserts
    batcher.add_logs(inputs.logs)
    batcher.add_parsed(inputs.parsed)
    batcher.flush()
    if batcher.result.added:
        writes.analyze()
    return batcher.result


class _Batcher:
    """The rows of one ingest gathered into transactions of up to ``batch`` runs, and what
    became of each file (:class:`IngestResult`)."""

    def __init__(self, writes: Writes, batch: int,
                 progress: Callable[[int, int], None] | None, total: int) -> None:
        self.writes, self.batch, self.progress, self.total = writes, batch, progress, total
        self.result = IngestResult()
        self.pending: list[Row] = []
        self.done = 0

    def add_logs(self, logs: Sequence[str]) -> None:
        """Parse the logs in workers and store their rows."""
        from dlbs.logs.pool import map_logs

        for made in map_logs(logs, partial(made_of_log, pack=self.writes.packs)):
            for warning in made.warnings:
                LOG.warning("%s", printable(warning))
            if made.error is not None:
                self.result.failed.append(f"{printable(made.path)}: {made.error}")
            else:
                self._add(made)
            self._step()

    def add_parsed(self, files: Sequence[str]) -> None:
        """Read the parsed-result files and store their runs (one unreadable file: this file
        alone; the others are stored)."""
        from dlbs.errors import LogFormatError
        from dlbs.logs.sources import read_parsed_files

        for path in files:
            try:
                found = read_parsed_files([path])
            except LogFormatError as err:
                self.result.failed.append(printable(str(err).removesuffix(
                    " (use --ignore_errors to skip such files)")))
                found = []
            for record in found:
                self._add(made_of_record(record, path, self.writes.packs))
            self._step()

    def _add(self, made: Made) -> None:
        if made.refused:
            self.result.refused.append(f"{printable(made.path)}: {made.refused}")
        elif made.row is not None:
            self.pending.append(made.row)
        if len(self.pending) >= self.batch:
            self.flush()

    def _step(self) -> None:
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total)

    def flush(self) -> None:
        """Store the pending runs (:func:`flush`)."""
        flush(self.writes, self.pending, self.result)


def flush(writes: Writes, pending: list[Row], result: IngestResult) -> None:
    """Store the pending runs in one transaction; when the database rejects the batch
    (a row it cannot take), run by run, so that one damaged file costs only its run."""
    try:
        added = writes.store_rows(pending)
    except (SQLAlchemyError, UnicodeError, ValueError) as err:
        if not _rejected_row(err):
            raise
        if len(pending) == 1:
            result.refused.append(f"{pending[0][0]['source'] or 'run'}: the database "
                                  f"rejected the run ({_reason(err)}); not stored")
        else:
            for item in pending:
                flush(writes, [item], result)
        pending.clear()
        return
    result.added += added
    result.existing += len(pending) - added
    pending.clear()


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
    return printable(text.splitlines()[0] if text else type(err).__name__)
