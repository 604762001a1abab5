"""Sample the resources an experiment uses while it runs (psutil; NVML when GPUs are found).

A ``Monitor`` thread samples the process tree of the launched process (and of its container)
every ``monitor.frequency`` seconds: CPU % (100 = one core) and resident memory, summed over
the tree; on GPUs, utilisation (mean over the experiment's GPUs), memory and power (sums).
``facts()`` returns the series and their peaks as ``results.use.*`` facts for the log trailer
(keys: docs/log-format.md).
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

MB = 2**20


class GpuSampler:
    """Reads utilisation, memory and power of some GPUs through NVML."""

    def __init__(self, indices: list[int]) -> None:
        import pynvml
        self._nvml = pynvml
        pynvml.nvmlInit()  # raises NVMLError_LibraryNotFound without a driver
        count = pynvml.nvmlDeviceGetCount()
        wanted = [i for i in indices if 0 <= i < count] or list(range(count))
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in wanted]

    @classmethod
    def create(cls, indices: list[int]) -> GpuSampler | None:
        """A sampler, or None where NVML or GPUs are absent."""
        try:
            sampler = cls(indices)
        except Exception:  # noqa: BLE001 - ImportError, NVMLError_LibraryNotFound, NVMLError...
            return None
        return sampler if sampler.handles else None

    def sample(self) -> tuple[float, float, float]:
        """``(mean utilisation %, memory used MB, power W)`` over the GPUs."""
        nvml = self._nvml
        util = [nvml.nvmlDeviceGetUtilizationRates(h).gpu for h in self.handles]
        mem = [nvml.nvmlDeviceGetMemoryInfo(h).used / MB for h in self.handles]
        power = []
        for handle in self.handles:
            try:
                power.append(nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0)
            except Exception:  # noqa: BLE001 - not every board reports power
                power.append(0.0)
        return sum(util) / len(util), sum(mem), sum(power)

    def close(self) -> None:
        """Release NVML."""
        with contextlib.suppress(Exception):
            self._nvml.nvmlShutdown()


class Monitor(threading.Thread):
    """Samples a process tree until ``stop()``; ``extra_root`` finds more roots (a container)."""

    def __init__(self, pid: int, interval: float, gpus: list[int] | None = None,
                 extra_root: Callable[[], int | None] | None = None) -> None:
        super().__init__(name="dlbs-monitor", daemon=True)
        self.pid, self.interval, self.extra_root = pid, max(0.01, interval), extra_root
        self._stop_event = threading.Event()
        self._procs: dict[int, psutil.Process] = {}
        self._cpu: dict[int, tuple[float, int]] = {}  # pid -> (CPU seconds, parent pid) last seen
        self._last_time: float | None = None
        self._gpu = GpuSampler.create(gpus) if gpus is not None else None
        self.times: list[float] = []
        self.series: dict[str, list[float]] = {"cpu": [], "rss_mb": []}
        if self._gpu is not None:
            self.series.update({"gpu_util": [], "gpu_mem_mb": [], "gpu_power_w": []})
        self._start = time.monotonic()

    def run(self) -> None:
        """Sample now, then every ``interval`` seconds until stopped."""
        self._start = time.monotonic()
        while True:
            self._sample()
            if self._stop_event.wait(self.interval):
                break
        if self._gpu is not None:
            self._gpu.close()

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=5)

    def _roots(self) -> list[int]:
        roots = [self.pid]
        extra = self.extra_root() if self.extra_root else None
        return roots + ([extra] if extra else [])

    def _tree(self) -> dict[int, psutil.Process]:
        found: dict[int, psutil.Process] = {}
        for root in self._roots():
            try:
                top = self._procs.get(root) or psutil.Process(root)
                found[root] = top
                for child in top.children(recursive=True):
                    found[child.pid] = self._procs.get(child.pid, child)
            except psutil.Error:
                continue
        self._procs = found
        return found

    def _cpu_seconds_since_last(self, readings: dict[int, tuple[float, int]]) -> float:
        """CPU seconds the tree used since the previous sample, from cumulative readings.

        A process first seen now (born since the previous sample, or a container's tree found
        late) has used all its CPU time since it was last counted: none of it was. A process gone since (reaped by a parent in the tree) has its whole life in that
        parent's children's times now: what was counted of it before is taken off. psutil's
        ``cpu_percent`` is not used: its first reading of a process is 0, which lost the CPU of
        every short-lived child on a busy machine, where samples come late."""
        used = 0.0
        for pid, (total, _) in readings.items():
            if pid in self._cpu:
                used += total - self._cpu[pid][0]
            elif self._last_time is not None:
                used += total
        for pid, (total, parent) in self._cpu.items():
            if pid not in readings and parent in readings:
                used -= total
        return max(0.0, used)

    def _sample(self) -> None:
        rss = 0.0
        readings: dict[int, tuple[float, int]] = {}
        for pid, proc in self._tree().items():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    total = times.user + times.system + times.children_user + times.children_system
                    readings[pid] = (total, proc.ppid())
                    rss += proc.memory_info().rss / MB
            except psutil.Error:
                continue
        now = time.monotonic()
        used = self._cpu_seconds_since_last(readings)
        cpu = 100.0 * used / (now - self._last_time) if self._last_time is not None else 0.0
        self._cpu, self._last_time = readings, now
        self.times.append(round(now - self._start, 3))
        self.series["cpu"].append(round(cpu, 1))
        self.series["rss_mb"].append(round(rss, 1))
        if self._gpu is not None:
            try:
                util, mem, power = self._gpu.sample()
            except Exception:  # noqa: BLE001 - a GPU that went away must not kill the run
                util = mem = power = 0.0
            self.series["gpu_util"].append(round(util, 1))
            self.series["gpu_mem_mb"].append(round(mem, 1))
            self.series["gpu_power_w"].append(round(power, 1))

    def facts(self) -> list[tuple[str, Any]]:
        """The series and their peaks as ``results.use.*`` facts."""
        out: list[tuple[str, Any]] = [("results.use.interval", self.interval),
                                      ("results.use.samples", len(self.times)),
                                      ("results.use.time", self.times)]
        for name, values in self.series.items():
            out.append((f"results.use.{name}", values))
            out.append((f"results.use.{name}_peak", max(values) if values else None))
        return out
