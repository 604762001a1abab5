"""Energy of the timed window: NVIDIA GPUs through NVML, CPU packages through RAPL.

Responsibility: meters with ``start()``, ``sample()`` (called every ~0.1 s by
:class:`~.poller.Poller`) and ``stop() -> joules``. NVML's
``nvmlDeviceGetTotalEnergyConsumption`` is a 64-bit millijoule counter per GPU (Volta and
newer), summed over the GPUs used. RAPL is read from the Linux powercap folder
(``/sys/class/powercap``, or ``$DLBS_POWERCAP_ROOT``): each package domain
``intel-rapl:N/energy_uj`` (also on AMD), a microjoule counter that wraps at
``max_energy_range_uj``; sampling every 0.1 s catches every wrap. Sub-domains (``core``,
``dram``, ``intel-rapl:N:M``) and ``psys`` are left out: they overlap the packages. Since
Linux 5.10 ``energy_uj`` is readable by root only. Nothing here decides what to do when no
meter is available: :func:`open_rapl` raises :class:`EnergyUnavailable` with the reason.

Every powercap file is read without blocking and up to :data:`COUNTER_BYTES`: a FIFO, a
socket, a device (``/dev/zero``) or a directory in a counter's place is "not a counter",
never a hang or an out-of-memory. A counter that fails during the window (``sample``) stops
the meter, which keeps the reason in ``error``; ``stop`` then gives NaN, never raises.
"""
from __future__ import annotations

import errno
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from safeio import UnsafeFileError, file_kind, read_capped

POWERCAP_ENV = "DLBS_POWERCAP_ROOT"
POWERCAP_ROOT = "/sys/class/powercap"
_PACKAGE = re.compile(r"^intel-rapl:\d+$")
#: Most bytes read of a powercap file (a counter is a line of digits; sysfs gives a page).
COUNTER_BYTES = 4096


#: Shortest window whose NVML energy is logged, seconds. The GPU's energy counter moves in
#: steps of about 100 ms (A100/H100 sample their power sensor part of the time: Yang et al.,
#: "Part-time Power Measurements", arXiv 2312.02741), so each edge of the window may be off by
#: one step: up to ~20% of a 1 s window, ~4% of a 5 s one. RAPL updates every ~1 ms: no limit.
MIN_NVML_WINDOW_S = 5.0


def too_short(source: str, seconds: float) -> str | None:
    """Why a window of ``seconds`` is too short for the ``source`` meter's energy, or None."""
    if source != "nvml" or seconds >= MIN_NVML_WINDOW_S:
        return None
    return (f"the timed window lasted {seconds:.3g} s, under the {MIN_NVML_WINDOW_S:g} s "
            "NVML's energy counter needs (it moves in steps of about 100 ms): no energy, "
            "power or samples per joule; time more work (--num_batches, or --max_time with "
            "--target_precision)")


class EnergyUnavailable(Exception):
    """No energy counter can be read; the message says why."""


class NvmlEnergy:
    """The GPUs' cumulative energy counters (mJ), read at the window's edges."""

    source = "nvml"

    def __init__(self, nvml: ModuleType, handles: Sequence[Any]) -> None:
        self.nvml = nvml
        self.handles = list(handles)
        self._start: list[int] = []
        #: Why the meter stopped during the window (its figure is then NaN), else None.
        self.error: str | None = None

    def _read(self) -> list[int]:
        return [int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self.handles]

    def check(self) -> None:
        """Raise :class:`EnergyUnavailable` when a GPU does not report energy (pre-Volta)."""
        try:
            self._read()
        except Exception as exc:  # noqa: BLE001 - NVMLError_NotSupported and the like
            raise EnergyUnavailable(f"NVML reports no energy counter: {exc}") from None

    def start(self) -> None:
        """Read the counters at the start of the window (a failure is kept, never raised)."""
        self.error = None
        try:
            self._start = self._read()
        except Exception as exc:  # noqa: BLE001 - NVMLError and the like: kept, never raised
            self.error = f"NVML energy counter failed: {exc}"

    def sample(self) -> None:
        """Nothing: a 64-bit counter does not wrap."""

    def stop(self) -> float:
        """Joules since :meth:`start`, summed over the GPUs (NaN after a failure)."""
        if self.error is None:
            try:
                return sum(b - a for a, b in zip(self._start, self._read())) / 1000.0
            except Exception as exc:  # noqa: BLE001
                self.error = f"NVML energy counter failed: {exc}"
        return math.nan


class RaplEnergy:
    """The CPU packages' RAPL counters (uJ), with wrap-around."""

    source = "rapl"

    def __init__(self, domains: Sequence[Path]) -> None:
        self.domains = list(domains)
        self.ranges = [_read_int(d / "max_energy_range_uj") for d in self.domains]
        for domain, span in zip(self.domains, self.ranges):
            if span <= 0:
                raise ValueError(f"{domain / 'max_energy_range_uj'} is {span}, not a range")
        self._last: list[int] = []
        self._total_uj = 0
        #: Why the meter stopped during the window (its figure is then NaN), else None.
        self.error: str | None = None

    def _read(self) -> list[int]:
        return [_read_int(d / "energy_uj") for d in self.domains]

    def check(self) -> None:
        """Read the counters once; raise ``OSError``/``ValueError`` saying why they cannot be
        (:func:`open_rapl` turns it into the reason there is no meter)."""
        self._read()

    def start(self) -> None:
        """Read the counters at the start of the window (a failure stops the meter, never
        raises)."""
        self.error = None
        self._total_uj = 0
        try:
            self._last = self._read()
        except (OSError, ValueError) as exc:
            self.error = f"a RAPL energy counter failed at the timed window's start: {exc}"

    def sample(self) -> None:
        """Add what the counters moved since the last read (a smaller value wrapped once).
        A counter that cannot be read stops the meter (``error``); it never raises."""
        if self.error is not None:
            return
        try:
            now = self._read()
        except (OSError, ValueError) as exc:
            self.error = f"a RAPL energy counter failed during the timed window: {exc}"
            return
        for last, value, span in zip(self._last, now, self.ranges):
            self._total_uj += value - last if value >= last else value + span - last
        self._last = now

    def stop(self) -> float:
        """Joules since :meth:`start`, summed over the packages (NaN after a failure)."""
        self.sample()
        return math.nan if self.error is not None else self._total_uj / 1e6


def _read_text(path: Path, what: str = "a counter") -> str:
    """A powercap file's text: never blocking, at most :data:`COUNTER_BYTES`, ASCII."""
    try:
        data = read_capped(path, COUNTER_BYTES)
    except UnsafeFileError as err:
        raise ValueError(f"{path} is not {what} ({_what(path, err)})") from None
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not ASCII text") from None


def _what(path: Path, err: UnsafeFileError) -> str:
    """``a character device, not a regular file``, ``over 4,096 bytes``..."""
    if err.errno == errno.EFBIG:
        return f"over {COUNTER_BYTES:,} bytes"
    try:
        return f"{file_kind(os.stat(path).st_mode)}, not a regular file"
    except OSError:
        return str(err.strerror)


def _read_int(path: Path) -> int:
    text = _read_text(path).strip()
    if not text.isdigit():
        raise ValueError(f"{path} holds {text[:40]!r}, not a counter (a whole number)")
    return int(text)


def _is_package(folder: Path) -> bool:
    name = folder / "name"
    return not name.exists() or \
        _read_text(name, "a domain's name").strip().startswith("package")


def open_rapl(root: str | None = None) -> RaplEnergy:
    """The meter of this host's CPU packages, or :class:`EnergyUnavailable` saying why."""
    folder = Path(root or os.environ.get(POWERCAP_ENV) or POWERCAP_ROOT)
    if not folder.is_dir():
        raise EnergyUnavailable(f"no RAPL energy counters ({folder} does not exist: not Linux, "
                                "or a VM/container without powercap)")
    try:
        domains = sorted(d for d in folder.iterdir() if _PACKAGE.match(d.name) and
                         _is_package(d))
    except (OSError, ValueError) as exc:  # a name file that is not one: no meter at all
        raise EnergyUnavailable(f"RAPL domains under {folder} cannot be told apart: "
                                f"{exc}") from None
    if not domains:
        raise EnergyUnavailable(f"no RAPL package domains (intel-rapl:N) under {folder}")
    try:
        meter = RaplEnergy(domains)
        meter.check()
    except PermissionError:
        raise EnergyUnavailable(f"RAPL energy counters under {folder} are not readable "
                                "(root only since Linux 5.10)") from None
    except (OSError, ValueError) as exc:
        raise EnergyUnavailable(f"RAPL energy counters under {folder} cannot be read: "
                                f"{exc}") from None
    return meter
