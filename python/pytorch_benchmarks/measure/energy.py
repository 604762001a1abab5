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
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

POWERCAP_ENV = "DLBS_POWERCAP_ROOT"
POWERCAP_ROOT = "/sys/class/powercap"
_PACKAGE = re.compile(r"^intel-rapl:\d+$")


class EnergyUnavailable(Exception):
    """No energy counter can be read; the message says why."""


class NvmlEnergy:
    """The GPUs' cumulative energy counters (mJ), read at the window's edges."""

    source = "nvml"

    def __init__(self, nvml: ModuleType, handles: Sequence[Any]) -> None:
        self.nvml = nvml
        self.handles = list(handles)
        self._start: list[int] = []

    def _read(self) -> list[int]:
        return [int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self.handles]

    def check(self) -> None:
        """Raise :class:`EnergyUnavailable` when a GPU does not report energy (pre-Volta)."""
        try:
            self._read()
        except Exception as exc:  # noqa: BLE001 - NVMLError_NotSupported and the like
            raise EnergyUnavailable(f"NVML reports no energy counter: {exc}") from None

    def start(self) -> None:
        """Read the counters at the start of the window."""
        self._start = self._read()

    def sample(self) -> None:
        """Nothing: a 64-bit counter does not wrap."""

    def stop(self) -> float:
        """Joules since :meth:`start`, summed over the GPUs."""
        return sum(b - a for a, b in zip(self._start, self._read())) / 1000.0


class RaplEnergy:
    """The CPU packages' RAPL counters (uJ), with wrap-around."""

    source = "rapl"

    def __init__(self, domains: Sequence[Path]) -> None:
        self.domains = list(domains)
        self.ranges = [_read_int(d / "max_energy_range_uj") for d in self.domains]
        self._last: list[int] = []
        self._total_uj = 0

    def _read(self) -> list[int]:
        return [_read_int(d / "energy_uj") for d in self.domains]

    def start(self) -> None:
        """Read the counters at the start of the window."""
        self._last = self._read()
        self._total_uj = 0

    def sample(self) -> None:
        """Add what the counters moved since the last read (a smaller value wrapped once)."""
        now = self._read()
        for last, value, span in zip(self._last, now, self.ranges):
            self._total_uj += value - last if value >= last else value + span - last
        self._last = now

    def stop(self) -> float:
        """Joules since :meth:`start`, summed over the packages."""
        self.sample()
        return self._total_uj / 1e6


def _read_int(path: Path) -> int:
    with open(path, encoding="ascii") as stream:
        return int(stream.read().strip())


def _is_package(folder: Path) -> bool:
    name = folder / "name"
    return not name.exists() or name.read_text(encoding="ascii").strip().startswith("package")


def open_rapl(root: str | None = None) -> RaplEnergy:
    """The meter of this host's CPU packages, or :class:`EnergyUnavailable` saying why."""
    folder = Path(root or os.environ.get(POWERCAP_ENV) or POWERCAP_ROOT)
    if not folder.is_dir():
        raise EnergyUnavailable(f"no RAPL energy counters ({folder} does not exist: not Linux, "
                                "or a VM/container without powercap)")
    domains = sorted(d for d in folder.iterdir() if _PACKAGE.match(d.name) and _is_package(d))
    if not domains:
        raise EnergyUnavailable(f"no RAPL package domains (intel-rapl:N) under {folder}")
    try:
        meter = RaplEnergy(domains)
        meter.start()
    except PermissionError:
        raise EnergyUnavailable(f"RAPL energy counters under {folder} are not readable "
                                "(root only since Linux 5.10)") from None
    except (OSError, ValueError) as exc:
        raise EnergyUnavailable(f"RAPL energy counters under {folder} cannot be read: "
                                f"{exc}") from None
    return meter
