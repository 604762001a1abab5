"""Parse many logs in parallel: a process pool over files, in chunks.

Parsing is CPU-bound Python, so threads would not help; processes do. Small batches are
parsed in this process, because starting workers costs more than it saves. Results come back
in input order, so a parse is reproducible. This module does no I/O of its own beyond what
``parser.parse_log`` does and never prints.
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import TypeVar

from dlbs.logs.parser import ParseResult, parse_log

T = TypeVar("T")

#: Below this many files a pool costs more than it saves.
MIN_FILES_FOR_POOL = 200


def default_jobs() -> int:
    """Worker count: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _chunk(work: Callable[[str], T], paths: Sequence[str]) -> list[T]:
    return [work(path) for path in paths]


def _chunks(paths: Sequence[str], size: int) -> list[Sequence[str]]:
    return [paths[i:i + size] for i in range(0, len(paths), size)]


def _context() -> multiprocessing.context.BaseContext:
    # fork starts workers in milliseconds and needs no re-import; fall back where it is absent.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def parse_logs(paths: Sequence[str], jobs: int | None = None) -> Iterator[ParseResult]:
    """Yield a ``ParseResult`` for every path, in order, using ``jobs`` processes."""
    return map_logs(paths, parse_log, jobs)


def map_logs(paths: Sequence[str], work: Callable[[str], T], jobs: int | None = None
             ) -> Iterator[T]:
    """Yield ``work(path)`` for every path, in order, using ``jobs`` processes: ``work`` parses
    a log and may do more with the record in the worker (``dlbs db ingest`` makes its
    database row there too); a module-level function or a ``functools.partial`` of one."""
    jobs = default_jobs() if jobs is None else max(1, jobs)
    if jobs == 1 or len(paths) < MIN_FILES_FOR_POOL:
        yield from (work(path) for path in paths)
        return
    # About 8 chunks a worker: enough to balance uneven files, few enough to keep IPC cheap.
    size = max(16, len(paths) // (jobs * 8))
    with _context().Pool(processes=jobs) as pool:
        for chunk in pool.imap(partial(_chunk, work), _chunks(list(paths), size)):
            yield from chunk
