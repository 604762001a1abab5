"""A CPU's matmul rate, measured now: the best rate of the matmuls models run, in a dtype.

Responsibility: a short calibration (a few seconds) with the threads torch uses now, a per-host
JSON cache of which matmul and side reach the best rate (so later runs skip the search), and a
short re-timing of that matmul on each use. The figure is ``results.matmul_peak_measured``, a
fact of the run with the machine's load beside it (:mod:`.session`): it moves with that load
(one gpt2 run's MFU against it was 33% calibrated quiet, 8.7% busy), so it is **not** the
denominator of MFU (:mod:`.cpu_peak` gives the CPU's stated peak).

*What is timed.* Models do not multiply two matrices in plain layout: a linear layer runs
``x @ W.T`` (``F.linear``), its input gradient ``g @ W`` and its weight gradient ``g.T @ x``.
CPU kernels differ by layout, by far in bfloat16/float16 on CPUs without such math (on an AVX2
EPYC ``torch.mm`` of plain bfloat16 matrices reached 1.3 GFLOP/s, ``F.linear`` 14.6), so every
one of :data:`OPS` is timed and the best counts. Square sides grow (:data:`SIZES`) while the
next one (8x the work) should take at most :data:`STEP_S` for that matmul, each size timed
:data:`REPEATS` times; the best (matmul, side) is then timed :data:`CONFIRM` more times. The
figure is the best single time: a peak is a maximum, and a matmul slowed down by other work on
the machine only lowers a sample, never raises it. Its matrices are freed and the heap trimmed
afterwards (:func:`~.memory.trim_heap`), so that the run's peak memory does not depend on
whether it calibrated.

*Cache* (kept: the search for the side costs seconds a run; what a run logs is timed in that
run, never the cached figure). The key is host name, CPU model, thread count, dtype and torch version: a change to
any of them measures again. The cache lives in ``$DLBS_CACHE_DIR`` (default
``~/.cache/dlbs``), file :data:`CACHE_FILE`; an entry is ``{"tflops", "size", "op"}``. An
entry that is not a positive finite rate with a known side and matmul (zero, negative, NaN, a
string, a missing field, an entry of the older ``torch.mm``-only calibration) is measured
again. Each use re-times the cached matmul :data:`RECHECK` times: that rate is the run's
figure; the entry keeps the best rate seen (shown in the source text; a run under load does not
lower it); :func:`forget` drops an entry (the measurement gave no usable rate). What is
measured is the rate torch reaches on this CPU under the load of the moment, not a peak.
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from safeio import atomic_write_text, open_for_read

from pytorch_benchmarks.measure.memory import trim_heap
from pytorch_benchmarks.runtime.hostinfo import cpu_model

CACHE_ENV = "DLBS_CACHE_DIR"
CACHE_FILE = "cpu_peak_tflops.json"
#: The matrices' sides tried, smallest first.
SIZES = (256, 512, 1024, 2048)
#: A matmul grows to the next side while that one (8x the work) should take at most this.
STEP_S = 1.0
#: Timed calls of each (matmul, side) while the sides grow (the first also warms up) ...
REPEATS = 2
#: ... then of the best (matmul, side) once more (best of all counts) ...
CONFIRM = 3
#: ... and of the cached one at each later use.
RECHECK = 2

#: The matmuls models run, by name: ``(a, b) -> product`` of two square matrices.
OPS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "linear": F.linear,                        # x @ W.T: a linear layer's forward
    "mm": torch.mm,                            # g @ W: its input gradient
    "mm_ta": lambda a, b: torch.mm(a.t(), b),  # g.T @ x: its weight gradient
}
#: How :data:`OPS` are written in ``results.peak_source``.
OP_TEXT = {"linear": "x @ W.T (F.linear)", "mm": "a @ b (torch.mm)",
           "mm_ta": "a.T @ b (torch.mm)"}

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

#: ``clock(op, size, dtype) -> seconds`` of one call of ``OPS[op]`` on ``size``-square matrices.
Clock = Callable[[str, int, torch.dtype], float]


class Calibration(NamedTuple):
    """A measured peak: TFLOPS, and the side and matmul that reached it."""

    tflops: float
    size: int
    op: str


def cache_path() -> Path:
    """The cache file: under ``$DLBS_CACHE_DIR`` when set, else ``~/.cache/dlbs``."""
    folder = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "dlbs")
    return Path(folder) / CACHE_FILE


def cache_key(dtype: str) -> str:
    """What the measurement depends on: host, CPU model, threads, dtype, torch version."""
    return "|".join((socket.gethostname(), cpu_model(), str(torch.get_num_threads()), dtype,
                     torch.__version__))


class _Operands:
    """The matrices of the last (size, dtype) timed, kept for the next call."""

    key: tuple[int, torch.dtype] | None = None
    pair: tuple[torch.Tensor, torch.Tensor] | None = None


def _time_op(op: str, size: int, dtype: torch.dtype) -> float:
    """Seconds of one ``size``-square ``op`` (its operands are made once per size and dtype)."""
    if _Operands.key != (size, dtype) or _Operands.pair is None:
        _Operands.pair = None  # free the previous pair first
        _Operands.pair = (torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype))
        _Operands.key = (size, dtype)
    a, b = _Operands.pair
    start = time.perf_counter()
    OPS[op](a, b)
    return time.perf_counter() - start


def _release() -> None:
    """Free the operands and hand the freed heap back to the system: glibc keeps freed
    memory resident (about 100 MiB after a cold float32 calibration), which would otherwise
    sit in the run's resident set (and its peak memory) like the model's own."""
    _Operands.key, _Operands.pair = None, None
    trim_heap()


def _rate(size: int, seconds: float) -> float:
    return 2.0 * size**3 / seconds / 1e12 if seconds > 0 else 0.0


def measure_matmul_tflops(dtype: str, clock: Clock = _time_op) -> Calibration:
    """The best TFLOPS of :data:`OPS` in ``dtype`` (2 n^3 FLOPs each), with the side and the
    matmul that reached it (see the module's notes for how sizes and repeats are chosen)."""
    torch_dtype = DTYPES[dtype]
    best: dict[tuple[str, int], float] = {}
    active = list(OPS)
    try:
        for size in SIZES:
            for op in list(active):
                seconds = min(clock(op, size, torch_dtype) for _ in range(REPEATS))
                best[(op, size)] = seconds
                if seconds * 8 > STEP_S:
                    active.remove(op)  # the next side would take too long for this matmul
            if not active:
                break
        op, size = max(best, key=lambda k: (_rate(k[1], best[k]), k[1]))
        seconds = min([best[(op, size)]] + [clock(op, size, torch_dtype)
                                            for _ in range(CONFIRM)])
    finally:
        _release()
    return Calibration(_rate(size, seconds), size, op)


def recheck_tflops(dtype: str, size: int, op: str, clock: Clock = _time_op) -> float:
    """The best TFLOPS of :data:`RECHECK` calls of one cached (matmul, side)."""
    try:
        return _rate(size, min(clock(op, size, DTYPES[dtype]) for _ in range(RECHECK)))
    finally:
        _release()


def valid_entry(entry: Any) -> bool:
    """Whether a cache entry is usable: a positive finite rate of a known side and matmul."""
    if not isinstance(entry, dict):
        return False
    tflops, size = entry.get("tflops"), entry.get("size")
    return (isinstance(tflops, (int, float)) and not isinstance(tflops, bool)
            and math.isfinite(tflops) and tflops > 0
            and isinstance(size, int) and size in SIZES and entry.get("op") in OPS)


#: The most read of the cache (it holds a few hundred bytes a host).
CACHE_BYTES = 1 << 20


def _read_cache(path: Path) -> dict[str, Any]:
    try:  # a link planted at the cache's name is not read (nor written: see _write_cache)
        with os.fdopen(open_for_read(path), encoding="utf-8") as stream:
            data = json.loads(stream.read(CACHE_BYTES))  # a cut file is not JSON: not cached
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(path: Path, data: dict[str, Any]) -> str | None:
    """Write atomically (several ranks of one host may write at once); a read-only home is
    no error: the figure is measured again next time. Returns why it was not written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh temporary name (a pid-named one could be planted as a link) renamed over
        # the cache; a link planted at the cache's own name is refused, not followed.
        atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))
    except OSError as err:
        return str(err.strerror or err)
    return None


def matmul_peak(dtype: str, measure: Callable[[str], Calibration] | None = None,
                recheck: Callable[[str, int, str], float] | None = None) -> tuple[float, str]:
    """``(TFLOPS measured now, source)`` of this CPU's best matmul in ``dtype``: a valid
    cached entry's matmul re-timed (``recheck``, :func:`recheck_tflops` by default; a rate
    above the entry's best is cached), else the search (``measure``,
    :func:`measure_matmul_tflops` by default), cached."""
    measure = measure or measure_matmul_tflops
    recheck = recheck or recheck_tflops
    path = cache_path()
    key = cache_key(dtype)
    data = _read_cache(path)
    raw: Any = data.get(key)
    entry: dict[str, Any]
    unwritten: str | None = None
    if valid_entry(raw):
        entry = dict(raw)
        now = recheck(dtype, entry["size"], entry["op"])
        how = f"best of {RECHECK} calls now; best seen on this host {entry['tflops']:.4g} TFLOPS"
        if math.isfinite(now) and now > entry["tflops"]:
            entry = {**entry, "tflops": now}
            unwritten = _write_cache(path, {**_read_cache(path), key: entry})
    else:
        now, size, op = measure(dtype)
        entry = {"tflops": now, "size": size, "op": op}
        how = "a new search"
        if valid_entry(entry):  # else the caller is told the rate, and nothing is kept
            unwritten = _write_cache(path, {**_read_cache(path), key: entry})
        else:
            unwritten = "not a valid figure"
    size, op = entry["size"], entry["op"]
    kept = f"cached {path}" if unwritten is None else f"not cached ({path}: {unwritten})"
    source = (f"measured: CPU {dtype} matmul {size}x{size} {OP_TEXT.get(op, op)}, "
              f"{torch.get_num_threads()} threads, {how}, {kept}")
    return float(now), source


def forget(dtype: str) -> bool:
    """Drop this host's cached entry for ``dtype`` (the next run measures again); whether
    there was one."""
    path = cache_path()
    data = _read_cache(path)
    if data.pop(cache_key(dtype), None) is None:
        return False
    _write_cache(path, data)
    return True
