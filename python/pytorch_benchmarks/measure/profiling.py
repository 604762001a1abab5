"""A ``torch.profiler`` trace of a few steady-state iterations (``--profile DIR``).

Responsibility: run the step :data:`ITERATIONS` more times under the profiler (CPU activity,
and CUDA on a GPU) and write a Chrome trace (``export_chrome_trace``: JSON with
``traceEvents``, for chrome://tracing or https://ui.perfetto.dev). These iterations are extra:
the timed ones are never profiled. Each trace gets a name of its own
(:func:`trace_path`): the runs of a sweep that share ``DIR`` never overwrite each other's.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable

from safeio import check_writable_target
from torch.profiler import ProfilerActivity, profile

ITERATIONS = 3


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def trace_path(folder: str, model: str, phase: str, rank: int, batch: int | str,
               dtype: str, now: float | None = None) -> str:
    """``DIR/<model>-<phase>-b<batch>-<dtype>-rank<r>-<UTC time>.trace.json`` (absolute;
    the folder is made), with ``-2``, ``-3``... before ``.trace.json`` when that name is taken.
    The file is created empty here (exclusively, so no other run takes the name; a link
    planted at a name makes it taken: the next name is used, the link never followed)."""
    os.makedirs(folder, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    stem = os.path.abspath(os.path.join(
        folder, _safe(f"{model}-{phase}-b{batch}-{dtype}-rank{rank}-{stamp}")))
    for count in range(1, 1_000_000):
        path = f"{stem}.trace.json" if count == 1 else f"{stem}-{count}.trace.json"
        try:
            with open(path, "x", encoding="utf-8"):
                return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{stem}.trace.json: no free name")


def profile_steps(step: Callable[[], object], path: str, cuda: bool,
                  synchronize: Callable[[], None] | None = None,
                  iterations: int = ITERATIONS) -> str:
    """Profile ``iterations`` calls of ``step``; write the trace to ``path``; return it."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(iterations):
            step()
        if synchronize is not None:
            synchronize()
    export_trace(prof.export_chrome_trace, path)
    return path


def export_trace(export: Callable[[str], object], path: str) -> None:
    """Have ``export`` write the trace (torch opens the name it is given, following links)
    into a fresh private folder beside ``path``, then rename it over ``path``: a link planted
    at ``path`` meanwhile (the folder may be shared) is refused (``safeio.UnsafeFileError``)
    and the file it points at is never touched."""
    private = tempfile.mkdtemp(prefix=".trace-", dir=os.path.dirname(path) or ".")
    try:
        inner = os.path.join(private, "trace.json")
        export(inner)
        check_writable_target(path)
        os.replace(inner, path)
    finally:
        shutil.rmtree(private, ignore_errors=True)
