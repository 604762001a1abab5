"""The memory a max-batch probe may use, and where that limit comes from.

Responsibility: the host's and the process's memory as ``/proc`` states it
(``/proc/self/status``'s ``VmData``/``VmSize``, ``/proc/meminfo``'s ``MemAvailable``), a CPU
probe's budget (``--memory_budget_mb``, else a share of ``MemAvailable``), the resource limit
that enforces it in a probe's child (``RLIMIT_DATA``, else ``RLIMIT_AS``, checked to be
enforced; the C heap's free chunks taken first), and a GPU probe's share of the device
(``torch.cuda.set_per_process_memory_fraction``). It runs no probe and decides nothing about a
batch (:mod:`.probers`, :mod:`.searches`). The ``/proc`` files are read without blocking and
capped (:func:`safeio.read_capped`); an unreadable one is one line naming it.
"""
from __future__ import annotations

import gc
import mmap
from collections.abc import Callable

from safeio import read_capped

from pytorch_benchmarks.errors import BenchmarkError

#: Share of ``MemAvailable`` that is a CPU probe's budget by default.
CPU_BUDGET_SHARE = 0.5
MIB = 1 << 20
#: The ``/proc`` files read here (without blocking, at most PROC_BYTES: about 1.5 KiB each).
PROC_STATUS, PROC_MEMINFO, PROC_BYTES = "/proc/self/status", "/proc/meminfo", 64 << 10
#: The limits tried, best first: (resource name, /proc/self/status field it is compared with).
_LIMITS = (("RLIMIT_DATA", "VmData"), ("RLIMIT_AS", "VmSize"))
#: Room to grow while the heap's free chunks are taken (Python may map an arena meanwhile).
ABSORB_SLACK = 4 * MIB


def _proc_field(path: str, field_name: str) -> int | None:
    """A ``kB`` field of a ``/proc`` file, in bytes; None when the file has none. Raises
    ``OSError`` (a FIFO, a device, too large: :func:`safeio.read_capped`) or ``ValueError``."""
    for line in read_capped(path, PROC_BYTES).decode("ascii", "replace").splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    return None


def proc_status_bytes(field_name: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmData``, ``VmSize``), in bytes."""
    try:
        found = _proc_field(PROC_STATUS, field_name)
    except (OSError, ValueError, IndexError) as err:
        raise BenchmarkError(f"--batch_size max on a CPU cannot read {PROC_STATUS}: "
                             f"{getattr(err, 'strerror', None) or err}") from None
    if found is None:
        raise BenchmarkError(f"{PROC_STATUS} has no {field_name}: --batch_size max on a CPU "
                             "needs Linux")
    return found


def limit_memory(budget: int) -> tuple[int, tuple[int, int], str]:
    """Let this process's memory grow by ``budget`` bytes at most: ``RLIMIT_DATA`` (else
    ``RLIMIT_AS``) set to the current size plus ``budget``, checked to be enforced. Returns
    the resource, its previous limits and ``rlimit_data``/``rlimit_as``. Garbage is collected
    first: what the process would free later is not part of its size, else freeing it (a
    collection that happens to fall inside the probe) makes room beyond ``budget``.

    A limit counts mappings, but the C heap reuses its free chunks without mapping anything:
    a process that had freed 293 MiB let a 200 MiB probe "fit" in 64 MiB. So the heap's free
    chunks are first taken (:func:`absorb_free_heap`, never used: the probe is a child that
    exits) while the limit holds the size where it is, and only then is the budget given."""
    import resource

    gc.collect()
    for name, field_name in _LIMITS:
        which = getattr(resource, name)
        old = resource.getrlimit(which)
        malloc_free_bytes(trim=True)  # the free top of the heap is given back, not taken
        size = proc_status_bytes(field_name) + ABSORB_SLACK
        if not _try_limit(which, old, size, 0):
            continue
        absorb_free_heap()  # the slack too: the process ends it near ``size``
        if _try_limit(which, old, size + budget, budget):
            return which, old, name.lower()
    raise BenchmarkError("neither RLIMIT_DATA nor RLIMIT_AS limits memory on this system: "
                         "--batch_size max cannot probe a CPU within a budget; give a batch size")


def _try_limit(which: int, old: tuple[int, int], soft: int, room: int) -> bool:
    """Set the soft limit ``soft`` (at most the hard one); True when a mapping of ``room``
    and 64 MiB more is refused, else the old limits are back and False."""
    import resource

    if old[1] != resource.RLIM_INFINITY:
        soft = min(soft, old[1])
    resource.setrlimit(which, (soft, old[1]))
    if _enforced(room):
        return True
    resource.setrlimit(which, old)
    return False


def absorb_free_heap(smallest: int = 4096) -> None:
    """Take what the C allocator (glibc) has free and the room left below the limit, in chunks
    from the largest power of two below its free bytes (at least :data:`ABSORB_SLACK`) down to
    ``smallest``, each size while it is granted; under a limit
    near the current size only free chunks (and what is left below the limit) can grant them.
    Nothing is kept in Python meanwhile (each pointer is dropped): the loop needs no memory of
    its own once the limit is reached. Never freed: call it only in a probe's child."""
    import ctypes

    # From at least the slack down: with no free chunk reported (a heap with none, or a C
    # library without ``mallinfo2``) the slack is still room below the limit that a probe would
    # get beyond its budget (a CI machine found 64 MiB in 64 that way).
    free = max(malloc_free_bytes(), ABSORB_SLACK, smallest)
    malloc = ctypes.CDLL(None).malloc
    malloc.restype, malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    size = 1 << (free.bit_length() - 1)
    try:
        while size >= smallest:
            while malloc(size):
                pass
            size >>= 1
    except MemoryError:  # Python itself found no room: what is taken is taken
        return


def malloc_free_bytes(trim: bool = False) -> int:
    """Bytes free in the C allocator's main arena (glibc ``mallinfo2().fordblks``): mapped,
    so counted by ``VmData``, yet reusable by a probe. 0 where unknown (not glibc). ``trim``:
    first give the free top of the heap back to the system (``malloc_trim(0)``), so that less
    of the budget depends on reusing fragments."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    try:
        libc = ctypes.CDLL(None)
        mallinfo2 = libc.mallinfo2
        if trim:
            libc.malloc_trim(0)
    except (OSError, AttributeError):
        return 0
    mallinfo2.restype = MallInfo2
    return int(mallinfo2().fordblks)


def _enforced(budget: int) -> bool:
    """Whether a private writable mapping of ``budget`` and 64 MiB more is refused (never
    touched, so it costs no memory when it is not)."""
    try:
        mapping = mmap.mmap(-1, budget + 64 * MIB, flags=mmap.MAP_PRIVATE)
    except OSError:
        return True
    mapping.close()
    return False


def set_limit(which: int, limits: tuple[int, int]) -> None:
    """Set the resource limit ``which`` back to ``limits`` (what :func:`limit_memory`
    returned), e.g. to give a child room to describe its error."""
    import resource

    resource.setrlimit(which, limits)


def mem_available() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes, None when unknown."""
    try:
        return _proc_field(PROC_MEMINFO, "MemAvailable")
    except (OSError, ValueError, IndexError):
        return None


def cpu_budget(budget_mb: float) -> int:
    """A CPU probe's budget in bytes: ``--memory_budget_mb``, else :data:`CPU_BUDGET_SHARE` of
    ``MemAvailable``."""
    if budget_mb > 0:
        return int(budget_mb * MIB)
    try:
        available, why = _proc_field(PROC_MEMINFO, "MemAvailable"), f"not in {PROC_MEMINFO}"
    except (OSError, ValueError, IndexError) as err:
        available = None
        why = f"cannot read {PROC_MEMINFO}: {getattr(err, 'strerror', None) or err}"
    if not available:
        raise BenchmarkError(f"--batch_size max: MemAvailable is unknown ({why}); give "
                             "--memory_budget_mb")
    return int(available * CPU_BUDGET_SHARE)


def nothing() -> None:
    """Nothing to undo."""


def gpu_budget(budget_mb: float, num_gpus: int) -> tuple[float | None, str, Callable[[], None]]:
    """``--memory_budget_mb`` on a GPU: the probes' share of the device's memory (the run
    after them has the whole device). Returns the budget in MiB (None: the whole device), how
    it is enforced, and what undoes it."""
    import torch

    if budget_mb <= 0:
        return None, "gpu_memory", nothing
    devices = range(min(max(1, num_gpus), torch.cuda.device_count()))
    for device in devices:  # the GPUs of this process (DataParallel: each of them)
        total = torch.cuda.get_device_properties(device).total_memory
        fraction = min(1.0, budget_mb * MIB / total)
        torch.cuda.set_per_process_memory_fraction(fraction, device)

    def restore() -> None:
        for device in devices:
            torch.cuda.set_per_process_memory_fraction(1.0, device)
    return round(budget_mb, 1), "gpu_memory_fraction", restore
