"""A CPU's theoretical dense peak: cores x clock x FLOPs per cycle per core of its vector units.

Responsibility: the denominator of a CPU run's MFU, stated, from what the kernel says about the
CPU (``/proc/cpuinfo``, ``/sys/devices/system/cpu``); every function takes the file system's
root, so tests give a fake one. It measures nothing (:mod:`.calibration` measures a matmul
rate, which is a fact of its own and no denominator) and guesses nothing: a CPU whose vector
units or clock cannot be read has no peak, and the caller logs no MFU.

*Cores*: the physical cores among the CPUs this process may run on (its affinity), counted by
``(physical id, core id)`` pairs of ``/proc/cpuinfo`` (logical CPUs where it names no cores),
and at most the threads torch uses: a thread beyond the physical cores (SMT) adds no FMA unit,
and fewer threads than cores use only that many (assumed on distinct cores); torchrun's
ranks of one node whose threads outnumber its cores share them (each counts its share).

*Clock*: ``cpufreq/cpuinfo_max_freq`` of those CPUs (the highest boost clock: with every core
busy a CPU usually runs lower, so the peak is an upper bound), else the highest ``cpu MHz`` of
``/proc/cpuinfo`` (the clock when read; without cpufreq, e.g. in a VM, the nominal clock). Which
one is said in the source text (``lscpu`` reads the same files).

*FLOPs per cycle per core* (:data:`UNITS`, first match): lanes x 2 (a fused multiply-add) x FMA
units, with **2 FMA units per core assumed** (Intel Xeon Scalable Gold 6xxx/Platinum, AMD Zen
2-5 at 256 bits, Zen 5 at 512 bits). Xeon Bronze/Silver, some Gold 5xxx and Zen 4 at 512 bits
issue one 512-bit FMA a cycle: for them the figure is 2x too high (the MFU 2x too low, never
above the truth). bfloat16/float16 use their own units where the CPU has them (AMX: 1024
FLOP/cycle per core, Intel's figure; AVX-512 BF16 / FP16), else the float32 units (the CPU
converts and computes in float32, so that is its ceiling).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from safeio import read_capped

#: FMA units per core assumed (see the module's notes).
FMA_UNITS = 2
#: Most bytes read of ``/proc/cpuinfo`` (4,096 CPUs take about 8 MiB).
CPUINFO_BYTES = 16 << 20


@dataclass(frozen=True)
class VectorUnit:
    """One kind of vector math: the CPU flags it needs and its FLOPs per cycle per core."""

    name: str
    flags: frozenset[str]
    flops_per_cycle: int
    how: str


def _unit(name: str, flags: str, flops: int, how: str) -> VectorUnit:
    return VectorUnit(name, frozenset(flags.split()), flops, how)


F32_UNITS: tuple[VectorUnit, ...] = (
    _unit("AVX-512 + FMA", "avx512f", 16 * 2 * FMA_UNITS,
          f"16 float32 lanes x 2 (FMA) x {FMA_UNITS} FMA units assumed"),
    _unit("AVX2 + FMA", "avx2 fma", 8 * 2 * FMA_UNITS,
          f"8 float32 lanes x 2 (FMA) x {FMA_UNITS} FMA units assumed"),
    _unit("AVX", "avx", 8 * 2, "8 float32 lanes x (1 add + 1 multiply port)"),
    _unit("SSE2", "sse2", 4 * 2, "4 float32 lanes x (1 add + 1 multiply port)"),
    _unit("NEON", "asimd", 4 * 2 * FMA_UNITS,
          f"4 float32 lanes x 2 (FMA) x {FMA_UNITS} FMA units assumed"),
)
#: Per dtype, its own units first; the float32 units follow (the ceiling of converted math).
UNITS: dict[str, tuple[VectorUnit, ...]] = {
    "float32": F32_UNITS,
    "bfloat16": (_unit("AMX-BF16", "amx_bf16 amx_tile", 1024,
                       "AMX tile multiply: 1024 bfloat16 FLOP/cycle per core (Intel)"),
                 _unit("AVX-512 BF16", "avx512_bf16", 16 * 4 * FMA_UNITS,
                       f"VDPBF16PS: 16 lanes x 4 FLOP x {FMA_UNITS} FMA units assumed"),
                 *F32_UNITS),
    "float16": (_unit("AMX-FP16", "amx_fp16 amx_tile", 1024,
                      "AMX tile multiply: 1024 float16 FLOP/cycle per core (Intel)"),
                _unit("AVX-512 FP16", "avx512_fp16", 32 * 2 * FMA_UNITS,
                      f"32 float16 lanes x 2 (FMA) x {FMA_UNITS} FMA units assumed"),
                *F32_UNITS),
}


@dataclass(frozen=True)
class Processor:
    """One logical CPU of ``/proc/cpuinfo``."""

    index: int
    core: tuple[str, str] | None
    flags: frozenset[str]
    mhz: float | None


def _read(path: Path, limit: int = 1 << 16) -> str | None:
    """The text of a kernel file; ``None`` when missing or unreadable (a FIFO or a device in
    its place is refused without blocking, by :func:`safeio.read_capped`)."""
    try:
        return read_capped(path, limit).decode("utf-8", errors="replace")
    except OSError:
        return None


def _block(lines: list[str]) -> Processor | None:
    fields: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            fields.setdefault(name.strip().lower(), value.strip())
    if not fields.get("processor", "").isdigit():
        return None
    core = (fields.get("physical id", "0"), fields["core id"]) if "core id" in fields else None
    try:
        mhz: float | None = float(fields["cpu mhz"])
    except (KeyError, ValueError):
        mhz = None
    flags = fields.get("flags") or fields.get("features") or ""
    return Processor(int(fields["processor"]), core, frozenset(flags.split()), mhz)


def processors(root: str | Path = "/") -> list[Processor]:
    """The logical CPUs ``/proc/cpuinfo`` lists (empty when it cannot be read)."""
    text = _read(Path(root) / "proc" / "cpuinfo", CPUINFO_BYTES) or ""
    found = []
    for chunk in text.split("\n\n"):
        cpu = _block(chunk.splitlines())
        if cpu is not None:
            found.append(cpu)
    return found


def count_cores(cpus: list[Processor]) -> tuple[int, str]:
    """Physical cores of ``cpus`` (by core id), or their number where no core id is given."""
    if cpus and all(c.core is not None for c in cpus):
        return len({c.core for c in cpus}), "physical cores"
    return len(cpus), "logical CPUs (no core ids in /proc/cpuinfo)"


def clock_ghz(cpus: list[Processor], root: str | Path = "/") -> tuple[float, str] | None:
    """The highest clock of ``cpus`` (GHz) and where it was read, or ``None``."""
    base = Path(root) / "sys" / "devices" / "system" / "cpu"
    khz = []
    for cpu in cpus:
        text = _read(base / f"cpu{cpu.index}" / "cpufreq" / "cpuinfo_max_freq")
        if text is not None and text.strip().isdigit() and int(text) > 0:
            khz.append(int(text))
    if khz:
        return max(khz) / 1e6, "cpufreq cpuinfo_max_freq: the highest boost clock"
    mhz = [c.mhz for c in cpus if c.mhz is not None and c.mhz > 0]
    if mhz:
        return max(mhz) / 1e3, ("/proc/cpuinfo cpu MHz: the clock when read (no cpufreq "
                                "max frequency readable)")
    return None


def vector_unit(dtype: str, flags: Iterable[str]) -> VectorUnit | None:
    """The fastest of :data:`UNITS` for ``dtype`` that a CPU with ``flags`` has."""
    have = set(flags)
    return next((u for u in UNITS.get(dtype, ()) if u.flags <= have), None)


def affinity() -> set[int] | None:
    """The CPUs this process may run on, where the OS says."""
    getter = getattr(os, "sched_getaffinity", None)
    return set(getter(0)) if getter is not None else None


def theoretical_peak(dtype: str, threads: int, root: str | Path = "/",
                     allowed: set[int] | None = None, ranks: int = 1
                     ) -> tuple[float, str] | str:
    """``(TFLOPS, source)`` of the cores ``threads`` torch threads use (of ``allowed`` CPUs;
    all by default) in ``dtype``, or why there is none. ``ranks``: the processes of this
    node that share those CPUs (torchrun's local ranks, ``threads`` each): when they hold
    more threads than there are cores, each rank's peak is its share of the cores (a
    fraction), so that a run's devices x a rank's peak is never more than the node has."""
    cpus = [c for c in processors(root) if allowed is None or c.index in allowed]
    if not cpus:
        return f"no CPU peak: {Path(root) / 'proc' / 'cpuinfo'} lists no processor"
    unit = vector_unit(dtype, cpus[0].flags)
    if unit is None:
        return (f"no CPU peak: no known {dtype} vector unit in the CPU flags "
                f"(known: {', '.join(u.name for u in UNITS.get(dtype, F32_UNITS))})")
    clock = clock_ghz(cpus, root)
    if clock is None:
        return "no CPU peak: no clock in cpufreq nor in /proc/cpuinfo"
    cores, counted = count_cores(cpus)
    used: float = max(1, min(threads, cores))
    shared = ""
    if ranks > 1 and ranks * used > cores:
        used = cores / ranks
        shared = f", shared by {ranks} ranks"
    ghz, where = clock
    tflops = used * ghz * unit.flops_per_cycle / 1e3
    native = "" if dtype == "float32" or unit not in F32_UNITS else \
        f"no native {dtype} math, its float32 units: "
    source = (f"theoretical: {used:.3g} of {cores} {counted} ({threads} threads{shared}) x "
              f"{ghz:.4g} GHz ({where}) x {unit.flops_per_cycle} FLOP/cycle "
              f"({native}{unit.name}: {unit.how})")
    return tflops, source
