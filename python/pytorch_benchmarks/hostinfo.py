"""Facts only the target machine knows: versions, device names, host, CPU, threads.

Responsibility: collect ``exp.*``/``hw.*`` facts describing where the benchmark ran, so each
log describes itself. Read-only; changes no setting.
"""
from __future__ import annotations

import datetime
import os
import platform
import socket
from typing import Any

import torch


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds (``2026-11-21T16:30:00+00:00``)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what :mod:`platform` says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_names(device: torch.device, num_devices: int) -> list[str]:
    """Names of the devices the model runs on (the CPU's model name on a CPU)."""
    if device.type != "cuda":
        return [cpu_model()]
    first = device.index or 0
    return [torch.cuda.get_device_name(i) for i in range(first, first + num_devices)]


def host_facts() -> dict[str, Any]:
    """Versions and host facts that need no device choice."""
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "exp.framework_version": torch.__version__,
        "exp.python_version": platform.python_version(),
        "hw.hostname": socket.gethostname(),
        "hw.cpu_model": cpu_model(),
        "hw.num_cpus": os.cpu_count(),
        "hw.num_threads": torch.get_num_threads(),
        "hw.cuda_version": torch.version.cuda,
        "hw.cudnn_version": cudnn,
    }
