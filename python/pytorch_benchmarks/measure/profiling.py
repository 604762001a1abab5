"""A ``torch.profiler`` trace of a few steady-state iterations (``--profile DIR``).

Responsibility: run the step :data:`ITERATIONS` more times under the profiler (CPU activity,
and CUDA on a GPU) and write a Chrome trace (``export_chrome_trace``: JSON with
``traceEvents``, for chrome://tracing or https://ui.perfetto.dev). These iterations are extra:
the timed ones are never profiled. Each trace gets a name of its own
(:func:`trace_path`): the runs of a sweep that share ``DIR`` never overwrite each other's.
From the trace, :func:`communication` reads the share of those steps during which a collective
was in flight (NCCL's kernels on a GPU, gloo's collectives on a CPU).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from safeio import check_writable_target
from torch.profiler import ProfilerActivity, profile, record_function

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
    with profile(activities=activities, record_shapes=True) as prof, record_function(STEPS):
        for _ in range(iterations):
            step()
        if synchronize is not None:
            synchronize()
    export_trace(prof.export_chrome_trace, path)
    return path


#: The span that holds the profiled steps in a trace.
STEPS = "dlbs::profiled_steps"


@dataclass(frozen=True)
class Communication:
    """The time of the profiled steps during which a collective was in flight."""

    share: float          # of the steps' wall time (overlap with compute counted too)
    ms_per_step: float
    source: str           # what was counted


def communication(trace: str, iterations: int = ITERATIONS) -> Communication | None:
    """From a trace :func:`profile_steps` wrote: the union of the intervals of NCCL's kernels
    (a GPU) or else of gloo's collectives (``gloo:*``, a CPU), within the profiled steps'
    span, over that span. None without a span or without any collective (one process)."""
    with open(trace, encoding="utf-8") as stream:
        events = [e for e in json.load(stream).get("traceEvents", [])
                  if isinstance(e, dict) and e.get("ph") == "X" and "dur" in e]
    span = next(((float(e["ts"]), float(e["ts"]) + float(e["dur"])) for e in events
                 if e.get("name") == STEPS), None)
    if span is None or span[1] <= span[0]:
        return None
    kernels = [e for e in events if e.get("cat") == "kernel"
               and str(e.get("name", "")).lower().startswith("nccl")]
    gloo = [e for e in events if str(e.get("name", "")).startswith("gloo:")]
    chosen, source = (kernels, "NCCL kernels") if kernels else (gloo, "gloo collectives")
    if not chosen:
        return None
    busy = _union([(max(span[0], float(e["ts"])), min(span[1], float(e["ts"]) + float(e["dur"])))
                   for e in chosen])
    wall = span[1] - span[0]
    return Communication(busy / wall, busy / 1000 / max(1, iterations), source)


def _union(intervals: list[tuple[float, float]]) -> float:
    """The length covered by ``intervals`` (each counted once where they overlap)."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(i for i in intervals if i[1] > i[0]):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


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
