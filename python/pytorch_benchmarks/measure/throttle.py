"""Why the GPUs' clocks were held down during the timed window (NVML clock event reasons).

Responsibility: OR together the reason bits that
``nvmlDeviceGetCurrentClocksEventReasons`` (``...ThrottleReasons`` in older NVML) reports at
each sample, and name those that lower clocks. ``gpu_idle``,
``applications_clocks_setting``, ``user_defined_clocks`` and ``display_clock_setting`` are
left out: they describe an idle GPU or a clock setting someone chose, not throttling.
``sw_power_cap`` is apart (:func:`power_capped`): the driver lowered clocks to hold the board
at its power limit, which is what a saturated GPU does at its TDP (an H100 running a big
GEMM), so it is stated as the run being power-capped, never as a fault. The rest (thermal,
hardware slowdown, power brake, sync boost) are slowdowns worth looking into.
"""
from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

#: NVML's reason bits (nvml.h ``nvmlClocksEventReason*``) that mean throttling, by name.
#: ``sw_power_cap``: clocks held down to stay within the power limit (normal at TDP).
POWER_CAP = 0x4
THROTTLE_BITS: dict[int, str] = {
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
}


def reason_names(mask: int) -> list[str]:
    """The throttling reasons set in ``mask``, in bit order (``sw_power_cap`` is not one:
    see :func:`power_capped`)."""
    return [name for bit, name in sorted(THROTTLE_BITS.items()) if mask & bit]


def power_capped(mask: int) -> bool:
    """Whether ``mask`` has ``sw_power_cap``: the GPU ran at its power limit."""
    return bool(mask & POWER_CAP)


def _reader(nvml: ModuleType) -> Any:
    """NVML's reason query: the current name, or the one before 12.x."""
    return getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
        nvml.nvmlDeviceGetCurrentClocksThrottleReasons


class ThrottleSampler:
    """Collects the reason bits of ``handles`` over every :meth:`sample`."""

    def __init__(self, nvml: ModuleType, handles: Sequence[Any]) -> None:
        self.read = _reader(nvml)
        self.handles = list(handles)
        self.mask = 0
        self.samples = 0
        self.error: str | None = None

    def sample(self) -> None:
        """OR in the reasons active now (an NVML error stops sampling and is kept)."""
        if self.error is not None:
            return
        try:
            for handle in self.handles:
                self.mask |= int(self.read(handle))
            self.samples += 1
        except Exception as exc:  # noqa: BLE001 - kept and reported, never raised in a thread
            self.error = str(exc)

    def reasons(self) -> list[str]:
        """The throttling reasons seen in any sample."""
        return reason_names(self.mask)
