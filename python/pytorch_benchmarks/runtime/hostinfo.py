"""Facts only the target machine knows: versions, device names, host, CPU, threads.

Responsibility: collect ``exp.*``/``hw.*`` facts describing where the benchmark ran, so each
log describes itself. Read-only; changes no setting. ``/proc/cpuinfo`` is read without
blocking and up to :data:`CPUINFO_BYTES`; when it is there and cannot be read (a FIFO or a
device in its place, too large), the CPU's name comes from :mod:`platform` and a warning says
why.
"""
from __future__ import annotations

import datetime
import os
import platform
import socket
from collections.abc import Callable
from typing import Any

import torch
from safeio import read_capped

CPUINFO = "/proc/cpuinfo"
#: Most bytes read of ``/proc/cpuinfo`` (4,096 CPUs take about 8 MiB).
CPUINFO_BYTES = 16 << 20


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds (``2026-11-21T16:30:00+00:00``)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def cpu_model(warn: Callable[[str], None] | None = None) -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what :mod:`platform` says (``warn``
    hears why when ``/proc/cpuinfo`` is there but cannot be read)."""
    try:
        text = read_capped(CPUINFO, CPUINFO_BYTES).decode("utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        text = ""
    except OSError as err:
        if warn is not None:
            warn(f"hw.cpu_model from the platform module: cannot read {CPUINFO}: "
                 f"{err.strerror or err}")
        text = ""
    for line in text.splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def device_names(device: torch.device, num_devices: int) -> list[str]:
    """Names of the devices the model runs on (the CPU's model name on a CPU)."""
    if device.type != "cuda":
        return [cpu_model()]
    first = device.index or 0
    return [torch.cuda.get_device_name(i) for i in range(first, first + num_devices)]


def host_facts(warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Versions and host facts that need no device choice (``warn``: see :func:`cpu_model`)."""
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "exp.framework_version": torch.__version__,
        "exp.python_version": platform.python_version(),
        "hw.hostname": socket.gethostname(),
        "hw.cpu_model": cpu_model(warn),
        "hw.num_cpus": os.cpu_count(),
        "hw.num_threads": torch.get_num_threads(),
        "hw.cuda_version": torch.version.cuda,
        "hw.cudnn_version": cudnn,
    }
