"""The machine's state around a serving run: load average and other processes' CPU share.

Responsibility: the same facts, under the same keys, as a training run's
(``pytorch_benchmarks.measure.machine_state``: ``results.load_avg_before/after``,
``results.other_cpu_seconds``, ``results.other_cpu_share``), read before and after the run from
``/proc`` (this package may not import the benchmark's). "Other" is every process but this
client: a server on the same machine counts as other (it competes with the client for the
CPUs; a cell whose share is high is marked busy, and ``results.server_local`` is not guessed).
Anything not readable is null, never a guess.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

#: Shortest window whose share is given (the kernel samples CPU time at each tick).
MIN_WINDOW_S = 1.0


@dataclass(frozen=True)
class Snapshot:
    at: float
    load: list[float] | None
    busy_s: float | None   # all CPUs' busy seconds
    cpus: int
    own_s: float           # this process's and its reaped children's CPU seconds


def _busy_seconds(path: str = "/proc/stat") -> tuple[float, int] | None:
    try:
        with open(path, encoding="ascii") as f:
            lines = [line.split() for line in f if line.startswith("cpu")]
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    per_cpu = [v for v in lines if v[0] != "cpu"]
    busy = sum(int(v[i]) for v in per_cpu for i in (1, 2, 3, 6, 7))
    return busy / hz, len(per_cpu)


def snapshot() -> Snapshot:
    """Read the load average, the CPUs' busy time and this process's CPU time now."""
    try:
        load: list[float] | None = list(os.getloadavg())
    except OSError:
        load = None
    busy = _busy_seconds()
    t = os.times()
    return Snapshot(time.monotonic(), load, busy[0] if busy else None, busy[1] if busy else 0,
                    t.user + t.system + t.children_user + t.children_system)


def window_facts(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """The training run's machine-state keys for the window between two snapshots."""
    other = share = None
    if before.busy_s is not None and after.busy_s is not None:
        other = max(0.0, (after.busy_s - before.busy_s) - (after.own_s - before.own_s))
        seconds = after.at - before.at
        if seconds >= MIN_WINDOW_S and after.cpus:
            share = other / (seconds * after.cpus)
    return {"results.load_avg_before": before.load, "results.load_avg_after": after.load,
            "results.other_cpu_seconds": other, "results.other_cpu_share": share}
