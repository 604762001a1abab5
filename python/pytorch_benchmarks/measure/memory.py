"""Peak memory of the timed window: the GPU allocator's high-water mark, or the process's
resident set.

Responsibility: reset and read one figure in MiB, and say what it covers (its *scope*). On a
GPU it is ``torch.cuda.max_memory_allocated`` (tensors only; the caching allocator's reserve and
the CUDA context are not in it), reset before timing, the largest over the GPUs this process
uses: scope ``timed_window``. Beside it, on a GPU, :func:`gpu_reserve_facts` gives the caching
allocator's reserve (``torch.cuda.max_memory_reserved``: allocated tensors plus the cached
free blocks and fragmentation, what the process holds of the device less the CUDA context) and
the allocation retries of the window (``num_alloc_retries``: a ``cudaMalloc`` failed, the
allocator freed its cache and tried again: the device is nearly full and the run slowed), as
torchtitan reports them. On a CPU it is the process's resident-set high-water mark: on
Linux (4.0 and newer) writing ``5`` to ``/proc/self/clear_refs`` resets it to the resident set
of the moment, and ``VmHWM`` in ``/proc/self/status`` is read after the window: scope
``timed_window``, i.e. what is resident at the window's start (the model, its data, the
libraries) plus what the timed iterations add, whatever ran before (a CPU peak calibration,
model building). Where it cannot be reset (no ``/proc``: macOS, or a kernel that refuses it)
the figure is ``getrusage(RUSAGE_SELF).ru_maxrss``, the peak since the process started: scope
``process``. What stays resident from earlier work is in the window's figure: :func:`trim_heap`
(glibc's ``malloc_trim``) lets work done before timing (the CPU calibration) hand its freed
heap back, which glibc would otherwise keep resident.

``clear_refs`` and ``status`` are opened without blocking and must be regular files (``/proc``
files are); ``status`` is read up to :data:`STATUS_BYTES`. Where either fails for another reason
than being absent (a FIFO or a device in its place, a refused write), the figure falls back to
the process's peak and a warning says why: the run itself never fails for it.
"""
from __future__ import annotations

import ctypes
import errno
import os
import re
import stat
import sys
from collections.abc import Callable

import torch
from safeio import UnsafeFileError, file_kind, read_capped

MIB = 1024.0 * 1024.0
CLEAR_REFS = "/proc/self/clear_refs"
STATUS = "/proc/self/status"
#: ``results.peak_memory_scope``: the high-water mark covers the timed window only ...
WINDOW = "timed_window"
#: ... or the whole process up to the window's end.
PROCESS = "process"
#: Most bytes read of ``/proc/self/status`` (about 1.5 KiB).
STATUS_BYTES = 64 << 10

Warn = Callable[[str], None]


def _cuda_indices(device: torch.device, num_devices: int) -> range:
    first = device.index or 0
    return range(first, first + num_devices)


def reset_peak_memory(device: torch.device, num_devices: int = 1,
                      clear_refs: str | None = None, warn: Warn | None = None) -> str:
    """Start a new high-water mark; return its scope (:data:`WINDOW` or :data:`PROCESS`).
    ``warn`` hears why the mark could not be reset, unless ``/proc`` is simply absent."""
    if device.type == "cuda":
        for index in _cuda_indices(device, num_devices):
            torch.cuda.reset_peak_memory_stats(index)
        return WINDOW
    path = clear_refs or CLEAR_REFS
    try:
        _write_proc(path, b"5")  # reset the peak resident set (VmHWM) to the current one
    except OSError as err:
        _say(warn, path, err)
        return PROCESS
    return WINDOW if vm_hwm_mib(warn=warn) is not None else PROCESS


def _write_proc(path: str, data: bytes) -> None:
    """Write ``data`` to the ``/proc`` file ``path``: never blocking, never creating it, and
    only to a regular file (a FIFO or a device in its place is refused unopened)."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise UnsafeFileError(errno.EINVAL, f"is {file_kind(mode)}, not a regular file", path)
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnsafeFileError(errno.EINVAL, f"is {file_kind(mode)}, not a regular file", path)
        os.write(fd, data)
    finally:
        os.close(fd)


def _say(warn: Warn | None, path: str, err: OSError) -> None:
    """Warn that the peak covers the whole process, unless ``path`` is absent (no ``/proc``:
    then the scope alone says it, as it always did)."""
    if warn is not None and not isinstance(err, (FileNotFoundError, NotADirectoryError)):
        warn(f"peak memory covers the whole process (results.peak_memory_scope=process): "
             f"cannot use {path}: {err.strerror or err}")


def trim_heap() -> None:
    """glibc's ``malloc_trim(0)``: hand the heap's free memory back to the system (glibc
    keeps what was freed resident); nothing where there is no such function."""
    try:
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return
    if trim is not None:
        trim(0)


def vm_hwm_mib(status: str | None = None, warn: Warn | None = None) -> float | None:
    """``VmHWM`` of ``/proc/self/status`` (the peak resident set, kB) in MiB, if readable."""
    path = status or STATUS
    try:
        text = read_capped(path, STATUS_BYTES).decode("ascii", errors="replace")
    except OSError as err:
        _say(warn, path, err)
        return None
    found = re.search(r"^VmHWM:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(found.group(1)) / 1024.0 if found else None


def max_rss_mib() -> float | None:
    """The process's peak resident set in MiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    try:
        import resource
    except ImportError:  # not a Unix
        return None
    peak = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return peak / MIB if sys.platform == "darwin" else peak / 1024.0


def peak_memory_mib(device: torch.device, num_devices: int = 1,
                    scope: str = PROCESS, warn: Warn | None = None) -> tuple[float | None, str]:
    """``(MiB, scope)`` of the high-water mark: GPU tensors since the reset; on a CPU
    ``VmHWM`` when it was reset (``scope`` :data:`WINDOW`), else the process's ``ru_maxrss``
    (scope :data:`PROCESS`)."""
    if device.type == "cuda":
        return max(torch.cuda.max_memory_allocated(i) for i in
                   _cuda_indices(device, num_devices)) / MIB, WINDOW
    if scope == WINDOW:
        found = vm_hwm_mib(warn=warn)
        if found is not None:
            return found, WINDOW
    return max_rss_mib(), PROCESS


def alloc_retries(device: torch.device, num_devices: int = 1) -> int:
    """The caching allocator's ``num_alloc_retries`` so far, summed over this process's GPUs
    (0 on a CPU)."""
    if device.type != "cuda":
        return 0
    return sum(int(torch.cuda.memory_stats(i).get("num_alloc_retries", 0))
               for i in _cuda_indices(device, num_devices))


def gpu_reserve_facts(device: torch.device, num_devices: int,
                      retries_before: int) -> dict[str, float | int]:
    """``results.peak_memory_reserved_mb`` (the largest over the GPUs, since the reset) and
    ``results.num_alloc_retries`` (since ``retries_before``); nothing on a CPU."""
    if device.type != "cuda":
        return {}
    reserved = max(torch.cuda.max_memory_reserved(i) for i in _cuda_indices(device, num_devices))
    return {"results.peak_memory_reserved_mb": reserved / MIB,
            "results.num_alloc_retries": alloc_retries(device, num_devices) - retries_before}
