"""Gather records from the inputs a user names: log files, folders of logs, parsed files.

A folder contributes its ``*.log`` files (its whole tree with ``recursive``), as DLBS's
logparser's does; a file named explicitly is parsed as a log (a ``*.log.gz`` decompressed)
unless its name marks a parsed-results file (``.json``, ``.json.gz``, ``.jsonl``, ``.csv``),
which is read as records. Warnings (malformed lines,
truncated logs, a folder that cannot be listed) go to the ``logging`` module, never stop
anything; an unusable file (unreadable, binary, no facts at all) is an error unless
``ignore_errors``, then a warning.
"""
from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safeio import file_kind

from dlbs.errors import LogFormatError
from dlbs.logs.fact_types import type_problem
from dlbs.logs.parser import judge_without_runner
from dlbs.logs.pool import parse_logs
from dlbs.logs.store import file_format, read_records

LOG = logging.getLogger("dlbs.logs")
LOG_SUFFIX = ".log"
#: The facts of a parsed file checked as a log's are: a batch must be a count.
COUNT_FACTS = ("exp.replica_batch", "exp.effective_batch")


@dataclass
class Inputs:
    """The inputs sorted by kind: log files to parse and parsed-results files to read."""

    logs: list[str] = field(default_factory=list)
    parsed: list[str] = field(default_factory=list)


def _unlistable(err: OSError) -> None:
    """A folder that cannot be listed is a warning naming it (its logs are not read)."""
    LOG.warning("cannot list folder '%s': %s; the logs in it are skipped", err.filename,
                err.strerror or err)


def _folder_logs(folder: Path, recursive: bool) -> list[str]:
    """The ``*.log`` files in ``folder`` (its tree with ``recursive``; symbolic links to
    folders are not followed). A (sub-)folder that cannot be listed is a warning, not silence
    (``Path.glob`` skips it without a word)."""
    found: list[str] = []
    if recursive:
        for root, _dirs, files in os.walk(folder, onerror=_unlistable):
            found += [os.path.join(root, name) for name in files if name.endswith(LOG_SUFFIX)]
    else:
        try:
            with os.scandir(folder) as entries:
                found = [entry.path for entry in entries if entry.name.endswith(LOG_SUFFIX)]
        except OSError as err:
            _unlistable(err)
    return sorted(path for path in found if _log_file(path))


def _log_file(path: str) -> bool:
    """Whether ``path`` (a ``*.log`` in a folder) is a regular file to parse. Anything else (a
    FIFO, a socket, a device, a folder named ``*.log``) is a warning naming it, never opened;
    a name gone since the folder was listed is skipped as before."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if stat.S_ISREG(mode):
        return True
    LOG.warning("'%s' is %s, not a log file; skipped", path, file_kind(mode))
    return False


def find_inputs(names: Sequence[str], recursive: bool = False) -> Inputs:
    """Sort ``names`` into log files and parsed files; raise when there is nothing to read."""
    if not names:
        raise LogFormatError("no inputs: name log files, folders of logs or parsed files")
    inputs = Inputs()
    for name in names:
        path = Path(name)
        if path.is_dir():
            inputs.logs.extend(_folder_logs(path, recursive))
        elif path.is_file():
            (inputs.parsed if file_format(path) else inputs.logs).append(str(path))
        else:
            raise LogFormatError(_not_an_input(name))
    if not inputs.logs and not inputs.parsed:
        hint = "" if recursive else " (add --recursive to search sub-folders)"
        raise LogFormatError(f"no logs found in {', '.join(names)}{hint}")
    return inputs


def _not_an_input(name: str) -> str:
    """Why ``name``, neither a folder nor a regular file, is not an input: it does not exist,
    or it is a FIFO, a socket, a device (never opened: a FIFO would block the reader)."""
    try:
        mode = os.stat(name).st_mode
    except OSError:
        return f"input '{name}' does not exist"
    return f"input '{name}' is {file_kind(mode)}, not a log file"


def _report(problem: str, ignore_errors: bool) -> None:
    if not ignore_errors:
        raise LogFormatError(f"{problem} (use --ignore_errors to skip such files)")
    LOG.warning("%s; skipped", problem)


def parse_log_files(paths: Sequence[str], jobs: int | None = None,
                    ignore_errors: bool = False) -> list[dict[str, Any]]:
    """Parse log files (in parallel) into records, logging every warning."""
    records = []
    for result in parse_logs(paths, jobs):
        for warning in result.warnings:
            LOG.warning("%s", warning)
        if result.error is not None:
            _report(result.error, ignore_errors)
        elif result.record is not None:
            records.append(result.record)
    return records


def read_parsed_files(paths: Iterable[str], ignore_errors: bool = False) -> list[dict[str, Any]]:
    """Read parsed-results files into records. A record without ``results.status`` (DLBS's
    logparser with ``--output_params`` that leave it out, as DLBS's recipes do) is judged as
    DLBS judged it: a positive time or throughput is a success."""
    records: list[dict[str, Any]] = []
    for path in paths:
        try:
            found = read_records(path)
        except LogFormatError as err:
            _report(str(err), ignore_errors)
            continue
        for index, record in enumerate(found):
            _drop_bad_counts(record, f"{path}: record {index + 1}")
        records.extend(found)
    for record in records:
        judge_without_runner(record)
    return records


def _drop_bad_counts(record: dict[str, Any], where: str) -> None:
    """Leave out a batch of a parsed file that is no count (``-5``, ``0``, ``2.5``), with a
    warning, as the parser leaves out such a line of a log: a report would show a column
    ``-5`` as if it were a batch."""
    for key in COUNT_FACTS:
        problem = type_problem(key, record.get(key))
        if problem:
            LOG.warning("%s: fact left out: %s", where, problem)
            del record[key]


def load_records(names: Sequence[str], recursive: bool = False, jobs: int | None = None,
                 ignore_errors: bool = False) -> list[dict[str, Any]]:
    """Return the records of every input: logs parsed, parsed files read."""
    inputs = find_inputs(names, recursive)
    records = parse_log_files(inputs.logs, jobs, ignore_errors)
    records.extend(read_parsed_files(inputs.parsed, ignore_errors))
    return records
