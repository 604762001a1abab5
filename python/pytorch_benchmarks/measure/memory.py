"""Peak memory of the timed window: the GPU allocator's high-water mark, or the process's
resident set.

Responsibility: reset and read one figure in MiB, and say what it covers (its *scope*). On a
GPU it is ``torch.cuda.max_memory_allocated`` (tensors only; the caching allocator's reserve and
the CUDA context are not in it), reset before timing, the largest over the GPUs this process
uses: scope ``timed_window``. On a CPU it is the process's resident-set high-water mark: on
Linux (4.0 and newer) writing ``5`` to ``/proc/self/clear_refs`` resets it to the resident set
of the moment, and ``VmHWM`` in ``/proc/self/status`` is read after the window: scope
``timed_window``, i.e. what is resident at the window's start (the model, its data, the
libraries) plus what the timed iterations add, whatever ran before (a CPU peak calibration,
model building). Where it cannot be reset (no ``/proc``: macOS, or a kernel that refuses it)
the figure is ``getrusage(RUSAGE_SELF).ru_maxrss``, the peak since the process started: scope
``process``. What stays resident from earlier work is in the window's figure: :func:`trim_heap`
(glibc's ``malloc_trim``) lets work done before timing (the CPU calibration) hand its freed
heap back, which glibc would otherwise keep resident.
"""
from __future__ import annotations

import ctypes
import re
import sys

import torch

MIB = 1024.0 * 1024.0
CLEAR_REFS = "/proc/self/clear_refs"
STATUS = "/proc/self/status"
#: ``results.peak_memory_scope``: the high-water mark covers the timed window only ...
WINDOW = "timed_window"
#: ... or the whole process up to the window's end.
PROCESS = "process"


def _cuda_indices(device: torch.device, num_devices: int) -> range:
    first = device.index or 0
    return range(first, first + num_devices)


def reset_peak_memory(device: torch.device, num_devices: int = 1,
                      clear_refs: str | None = None) -> str:
    """Start a new high-water mark; return its scope (:data:`WINDOW` or :data:`PROCESS`)."""
    if device.type == "cuda":
        for index in _cuda_indices(device, num_devices):
            torch.cuda.reset_peak_memory_stats(index)
        return WINDOW
    try:
        with open(clear_refs or CLEAR_REFS, "w", encoding="ascii") as stream:
            stream.write("5")  # reset the peak resident set (VmHWM) to the current one
    except OSError:
        return PROCESS
    return WINDOW if vm_hwm_mib() is not None else PROCESS


def trim_heap() -> None:
    """glibc's ``malloc_trim(0)``: hand the heap's free memory back to the system (glibc
    keeps what was freed resident); nothing where there is no such function."""
    try:
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return
    if trim is not None:
        trim(0)


def vm_hwm_mib(status: str | None = None) -> float | None:
    """``VmHWM`` of ``/proc/self/status`` (the peak resident set, kB) in MiB, if readable."""
    try:
        with open(status or STATUS, encoding="ascii", errors="replace") as stream:
            found = re.search(r"^VmHWM:\s+(\d+)\s+kB", stream.read(), re.MULTILINE)
    except OSError:
        return None
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
                    scope: str = PROCESS) -> tuple[float | None, str]:
    """``(MiB, scope)`` of the high-water mark: GPU tensors since the reset; on a CPU
    ``VmHWM`` when it was reset (``scope`` :data:`WINDOW`), else the process's ``ru_maxrss``
    (scope :data:`PROCESS`)."""
    if device.type == "cuda":
        return max(torch.cuda.max_memory_allocated(i) for i in
                   _cuda_indices(device, num_devices)) / MIB, WINDOW
    if scope == WINDOW:
        found = vm_hwm_mib()
        if found is not None:
            return found, WINDOW
    return max_rss_mib(), PROCESS
