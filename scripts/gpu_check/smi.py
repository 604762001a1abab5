"""``nvidia-smi``'s own samples beside a run: power, memory, SM clock, temperature.

A background ``nvidia-smi --query-gpu=... -lms N`` writes one CSV line per GPU and sample into
the run's log folder; :func:`summarise` turns the file into the figures the tables show."""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

#: Newer drivers average power over the sampling interval (``power.draw.average``); older
#: ones know only ``power.draw``.
FIELDS = ("timestamp,power.draw.average,power.draw.instant,memory.used,clocks.sm,"
          "temperature.gpu")
FALLBACK = "timestamp,power.draw,power.draw,memory.used,clocks.sm,temperature.gpu"
STAMP = "%Y/%m/%d %H:%M:%S.%f"
_chosen: list[str] = []


def available() -> bool:
    """Whether ``nvidia-smi`` is on the PATH."""
    return shutil.which("nvidia-smi") is not None


def fields() -> str:
    """The query fields this driver accepts (the newer ones, else the fallback)."""
    if not _chosen:
        probe = subprocess.run(["nvidia-smi", f"--query-gpu={FIELDS}", "--format=csv"],
                               capture_output=True, text=True, timeout=30, check=False)
        _chosen.append(FIELDS if probe.returncode == 0 else FALLBACK)
    return _chosen[0]


def first_visible_gpu() -> str:
    """The GPU a run's ``cuda:0`` is, as ``nvidia-smi --id`` takes it: the first entry of
    ``CUDA_VISIBLE_DEVICES`` (an index or a UUID) when set, else ``0``."""
    visible = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")]
    return visible[0] if visible and visible[0] else "0"


@dataclass
class SmiSummary:
    """Figures of the samples (None where no sample had a number)."""
    samples: int
    power_w: float | None  # mean power over the samples used
    power_field: str
    memory_mib: float | None  # the largest memory.used (all processes, context included)
    sm_clock_mhz: float | None  # median over the same samples as power_w
    temperature_c: float | None  # largest


class SmiSampler:
    """``with SmiSampler(path, period_ms):`` samples the run's GPU while the block runs (a no-op
    when ``nvidia-smi`` is absent or ``enabled`` is false)."""

    def __init__(self, path: Path, period_ms: int = 500, enabled: bool = True) -> None:
        self.path, self.gpu, self.period_ms = path, first_visible_gpu(), period_ms
        self.enabled = enabled and available()
        self.process: subprocess.Popen[bytes] | None = None
        self.ended: datetime | None = None

    def __enter__(self) -> SmiSampler:  # noqa: PYI034 - Self needs Python 3.11
        if self.enabled:
            with self.path.open("wb") as out:
                self.process = subprocess.Popen(
                    ["nvidia-smi", f"--query-gpu={fields()}", "--format=csv,noheader,nounits",
                     f"--loop-ms={self.period_ms}", f"--id={self.gpu}"],
                    stdout=out, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.ended = datetime.now()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def summary(self, last_s: float | None = None,
                window_end: float | None = None) -> SmiSummary | None:
        """The samples' figures; ``last_s``: power and SM clock over the ``last_s`` seconds
        before ``window_end`` (Unix time: the run's ``results.energy_window_end``, the span
        NVML's energy covers) or, without it, before the block ended (that span then holds
        the process's teardown, about a second)."""
        if not self.enabled or not self.path.is_file():
            return None
        ended = datetime.fromtimestamp(window_end) if window_end else self.ended
        return summarise(self.path.read_text(errors="replace").splitlines(), ended,
                         last_s, fields().split(",")[1])


def _floats(rows: list[list[str]], column: int) -> list[float]:
    values = []
    for row in rows:
        try:
            values.append(float(row[column]))
        except (IndexError, ValueError):
            continue
    return values


def _recent(rows: list[list[str]], ended: datetime | None, last_s: float | None
            ) -> list[list[str]]:
    if last_s is None or ended is None:
        return rows
    start = ended - timedelta(seconds=last_s)
    kept = []
    for row in rows:
        try:
            when = datetime.strptime(row[0].strip(), STAMP)
        except (IndexError, ValueError):
            continue
        if start <= when <= ended:
            kept.append(row)
    return kept


def summarise(lines: list[str], ended: datetime | None, last_s: float | None,
              power_field: str) -> SmiSummary:
    """Figures of CSV sample lines (non-numbers such as ``[N/A]`` skipped)."""
    rows = [[c.strip() for c in line.split(",")] for line in lines if line.count(",") >= 5]
    recent = _recent(rows, ended, last_s)
    power, clock = _floats(recent, 1), _floats(recent, 4)
    memory, temp = _floats(rows, 3), _floats(rows, 5)
    return SmiSummary(samples=len(rows),
                      power_w=statistics.fmean(power) if power else None,
                      power_field=power_field,
                      memory_mib=max(memory) if memory else None,
                      sm_clock_mhz=statistics.median(clock) if clock else None,
                      temperature_c=max(temp) if temp else None)
