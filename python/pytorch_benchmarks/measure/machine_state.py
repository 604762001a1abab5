"""The machine's state around a measured window: load, CPU frequency policy, others' CPU time.

Responsibility: read the kernel's own accounting before and after a window (never during it:
the timed loop gains no work) and turn the two readings into facts; every reader takes the file
system's root, so tests give a fake one. Anything it cannot read is ``None`` (logged as null)
with the reason in a note, never a guess.

*Other processes' CPU time* over a window = the busy time of the CPUs this process may run on
(``/proc/stat`` per-CPU lines: user + nice + system + irq + softirq; idle, iowait and steal are
not busy, guest is inside user) less the CPU time of this job's processes (``/proc/PID/stat``
utime + stime, all threads, of the job's root and its descendants, plus their ``cutime`` +
``cstime``: children reaped during the window). The job's root is this process, or, under
torchrun (or any launcher that starts one process per rank), its parent, the launcher: the
other local ranks and their workers are the job, not "other". Both counts are in clock ticks
(``SC_CLK_TCK``, usually 1/100 s), sampled by the kernel at each tick, so the figure is good to
about a tick per CPU and per process at each edge: :data:`MIN_WINDOW_S` is the shortest window
whose share is given. Under-counted (clamped at 0) when a job process runs outside this
process's CPUs (ranks pinned to other cores). In a container ``/proc/stat`` is the host's, so
"other" is everything else on those CPUs, other containers included: what competes with the run.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeio import read_capped

#: Shortest window whose other-CPU share is given: the accounting is sampled at each clock tick
#: (0.01 s), about +-2 ticks per CPU over a window, so +-0.02 of the share at 1 s.
MIN_WINDOW_S = 1.0
#: Most bytes read of one ``/proc`` file (``/proc/stat`` of 4,096 CPUs is about 400 KiB).
PROC_BYTES = 4 << 20
#: ``/proc/stat`` CPU columns counted busy: user nice system idle iowait irq softirq steal.
BUSY_COLUMNS = (0, 1, 2, 5, 6)
STEAL_COLUMN = 7


def _text(path: Path, limit: int = PROC_BYTES) -> str | None:
    try:
        return read_capped(path, limit).decode("utf-8", errors="replace")
    except OSError:
        return None


def load_average(root: str | Path = "/") -> list[float] | None:
    """The 1, 5 and 15 minute load averages (``/proc/loadavg``), or ``None``."""
    text = _text(Path(root) / "proc" / "loadavg")
    try:
        return [float(v) for v in (text or "").split()[:3]] if text else None
    except ValueError:
        return None


def cpu_ticks(cpus: Iterable[int] | None, root: str | Path = "/") -> tuple[int, int, int] | None:
    """``(busy ticks, steal ticks, CPUs counted)`` of the per-CPU lines of ``/proc/stat`` for
    ``cpus`` (all when ``None``), or ``None`` when none can be read."""
    text = _text(Path(root) / "proc" / "stat")
    if text is None:
        return None
    wanted = None if cpus is None else {f"cpu{c}" for c in cpus}
    busy = steal = count = 0
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not (name[:3] == "cpu" and name[3:].isdigit()) or (wanted and name not in wanted):
            continue
        values = [int(v) for v in rest.split() if v.isdigit()]
        if len(values) <= STEAL_COLUMN:
            return None  # a kernel older than 2.6.11 (no steal column): not read
        busy += sum(values[i] for i in BUSY_COLUMNS)
        steal += values[STEAL_COLUMN]
        count += 1
    return (busy, steal, count) if count else None


def _stat(path: Path) -> tuple[int, int] | None:
    """``(ppid, utime + stime + cutime + cstime)`` of one ``/proc/PID/stat``."""
    text = _text(path, 1 << 12)
    if text is None or ")" not in text:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the name (2nd field) may hold spaces and ")"
    try:  # fields[0] is the 3rd field (state): ppid is the 4th, utime..cstime the 14th-17th
        return int(fields[1]), sum(int(v) for v in fields[11:15])
    except (IndexError, ValueError):
        return None


def job_ticks(job_root: int, root: str | Path = "/") -> int | None:
    """CPU ticks of ``job_root`` and its descendants (with their reaped children's), or
    ``None`` when the root's own ``/proc`` entry cannot be read."""
    proc = Path(root) / "proc"
    try:
        pids = [int(p) for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return None
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for pid in pids:
        found = _stat(proc / str(pid) / "stat")
        if found is not None:  # a process may end while the folder is read
            children.setdefault(found[0], []).append(pid)
            ticks[pid] = found[1]
    if job_root not in ticks:
        return None
    total, todo = 0, [job_root]
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total


@dataclass(frozen=True)
class Snapshot:
    """One reading at a window's edge (``None``: not readable)."""

    at: float
    load: list[float] | None
    cpu: tuple[int, int, int] | None
    job: int | None


def snapshot(job_root: int, cpus: Iterable[int] | None,
             root: str | Path = "/") -> Snapshot:
    """Read the load average, the CPUs' busy ticks and the job's ticks now."""
    chosen = None if cpus is None else sorted(cpus)
    return Snapshot(time.monotonic(), load_average(root), cpu_ticks(chosen, root),
                    job_ticks(job_root, root))


def clock_tick() -> int | None:
    """Ticks per second of ``/proc``'s CPU times, where the OS says."""
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return None


def window_facts(before: Snapshot, after: Snapshot, hz: int | None,
                 prefix: str = "results.") -> tuple[dict[str, Any], list[str]]:
    """``{prefix}load_avg_before/after``, ``other_cpu_seconds``, ``other_cpu_share`` and
    ``steal_cpu_seconds`` of a window, and why any is null."""
    facts: dict[str, Any] = {f"{prefix}load_avg_before": before.load,
                             f"{prefix}load_avg_after": after.load}
    why: list[str] = []
    if before.load is None or after.load is None:
        why.append("load average: /proc/loadavg not readable")
    seconds = after.at - before.at
    other = share = steal = None
    if before.cpu is None or after.cpu is None or before.job is None or after.job is None \
            or not hz:
        why.append("other processes' CPU time: /proc/stat or this job's /proc/PID/stat not "
                   "readable")
    else:
        busy = (after.cpu[0] - before.cpu[0]) / hz
        own = (after.job - before.job) / hz
        other = max(0.0, busy - own)
        steal = max(0, after.cpu[1] - before.cpu[1]) / hz
        if seconds >= MIN_WINDOW_S:
            share = other / (seconds * after.cpu[2])
        else:
            why.append(f"other_cpu_share: window {seconds:.3g} s < {MIN_WINDOW_S:g} s, too "
                       f"short for the kernel's tick-sampled CPU accounting (1/{hz} s)")
    facts.update({f"{prefix}other_cpu_seconds": other, f"{prefix}other_cpu_share": share,
                  f"{prefix}steal_cpu_seconds": steal})
    return facts, why


def cpu_governor(root: str | Path = "/", cpus: Iterable[int] | None = None) -> str | None:
    """The cpufreq scaling governor of ``cpus`` (all), ``"a, b"`` when they differ, else
    ``None`` (no cpufreq: a VM, or a kernel without it)."""
    base = Path(root) / "sys" / "devices" / "system" / "cpu"
    indices = sorted(cpus) if cpus is not None else _cpu_indices(base)
    found: list[str] = []
    for index in indices:
        text = _text(base / f"cpu{index}" / "cpufreq" / "scaling_governor", 256)
        if text is not None and text.strip() and text.strip() not in found:
            found.append(text.strip())
    return ", ".join(found) if found else None


def _cpu_indices(base: Path) -> list[int]:
    try:
        return sorted(int(n[3:]) for n in os.listdir(base) if n[:3] == "cpu" and n[3:].isdigit())
    except OSError:
        return []


def cpu_turbo(root: str | Path = "/") -> bool | None:
    """Whether turbo/boost is allowed: ``intel_pstate/no_turbo`` (0: on), else
    ``cpufreq/boost`` (1: on; acpi-cpufreq, amd-pstate); ``None`` when neither is readable."""
    base = Path(root) / "sys" / "devices" / "system" / "cpu"
    for name, on in (("intel_pstate/no_turbo", "0"), ("cpufreq/boost", "1")):
        text = _text(base / name, 64)
        if text is not None and text.strip() in ("0", "1"):
            return text.strip() == on
    return None


def settings_facts(root: str | Path = "/", cpus: Iterable[int] | None = None) -> dict[str, Any]:
    """``hw.cpu_governor`` and ``hw.cpu_turbo`` (null where not readable)."""
    return {"hw.cpu_governor": cpu_governor(root, cpus), "hw.cpu_turbo": cpu_turbo(root)}
