"""Parse many logs in parallel: a process pool over files, in chunks.

Parsing is CPU-bound Python, so threads would not help; processes do. Small batches are
parsed in this process, because starting workers costs more than it saves. Results come back
in input order, so a parse is reproducible. This module does no I/O of its own beyond what
``parser.parse_log`` does and never prints.
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence

from dlbs.logs.parser import ParseResult, parse_log

#: Below this many files a pool costs more than it saves.
MIN_FILES_FOR_POOL = 200


def default_jobs() -> int:
    """Worker count: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _parse_chunk(paths: Sequence[str]) -> list[ParseResult]:
    return [parse_log(path) for path in paths]


def _chunks(paths: Sequence[str], size: int) -> list[Sequence[str]]:
    return [paths[i:i + size] for i in range(0, len(paths), size)]


def _context() -> multiprocessing.context.BaseContext:
    # fork starts workers in milliseconds and needs no re-import; fall back where it is absent.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def parse_logs(paths: Sequence[str], jobs: int | None = None) -> Iterator[ParseResult]:
    """Yield a ``ParseResult`` for every path, in order, using ``jobs`` processes."""
    jobs = default_jobs() if jobs is None else max(1, jobs)
    if jobs == 1 or len(paths) < MIN_FILES_FOR_POOL:
        yield from (parse_log(path) for path in paths)
        return
    # About 8 chunks a worker: enough to balance uneven files, few enough to keep IPC cheap.
    size = max(16, len(paths) // (jobs * 8))
    with _context().Pool(processes=jobs) as pool:
        for chunk in pool.imap(_parse_chunk, _chunks(list(paths), size)):
            yield from chunk
