"""What the runner knows about where an experiment ran: host, OS, Python, project commit.

These become ``hw.*``/``exp.*`` facts in each log's header. Everything is computed once per
sweep (cached) and without importing torch: the benchmark itself writes the torch, CUDA and
cuDNN versions it sees, from inside the container when there is one.
"""
from __future__ import annotations

import datetime
import os
import platform
import re
import socket
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import dlbs

NVIDIA_VERSION_FILE = "/proc/driver/nvidia/version"


def utc_now() -> str:
    """The current time as ISO 8601 UTC, to the millisecond."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def memory_gb() -> float | None:
    """Total physical memory in GiB (``sysconf``), or None where it cannot be read."""
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 2)
    except (ValueError, OSError, AttributeError):
        return None


def git_commit(root: Path) -> str | None:
    """The commit checked out in ``root`` read from ``.git`` directly (no ``git`` process)."""
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        ref_file = git / ref
        if ref_file.exists():
            return ref_file.read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        pass
    return None


def nvidia_driver() -> str | None:
    """The NVIDIA kernel driver version (``/proc/driver/nvidia/version``), None without one.

    Read from the file rather than through NVML: no import, no library load on CPU hosts.
    """
    try:
        text = Path(NVIDIA_VERSION_FILE).read_text(errors="replace")
    except OSError:
        return None
    match = re.search(r"Kernel Module(?: for [\w]+)?\s+([0-9][0-9.]*)", text)
    return match.group(1) if match else text.splitlines()[0].strip() if text else None


def os_name() -> str:
    """The distribution's name (``/etc/os-release``), else ``system-release``."""
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME") or platform.system()
    except (OSError, AttributeError):
        return f"{platform.system()}-{platform.release()}"


@lru_cache(maxsize=1)
def host_facts() -> tuple[tuple[str, Any], ...]:
    """Facts about the host that runs the sweep (computed once)."""
    facts: list[tuple[str, Any]] = [
        ("hw.hostname", socket.gethostname()),
        ("hw.os", os_name()),
        ("hw.kernel", platform.release()),
        ("hw.cpu_model", cpu_model()),
        ("hw.num_cpus", os.cpu_count()),
        ("hw.memory_gb", memory_gb()),
        ("exp.runner_python", platform.python_version()),
        ("exp.runner_python_path", sys.executable),
        ("exp.dlbs_version", getattr(dlbs, "__version__", None)),
        ("exp.dlbs_commit", git_commit(Path(dlbs.PROJECT_ROOT))),
    ]
    driver = nvidia_driver()
    if driver:
        facts.append(("hw.nvidia_driver", driver))
    return tuple(facts)


def report_maker(root: Path | None = None) -> dict[str, Any]:
    """The dlbs that makes a report: version, commit and whether tracked files differ from
    it (asked of ``git`` itself when it is installed; else the commit read from ``.git``)."""
    root = Path(dlbs.PROJECT_ROOT) if root is None else root
    info: dict[str, Any] = {"version": getattr(dlbs, "__version__", None),
                            "commit": None, "dirty": None}
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True)
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True,
                                timeout=10, check=True)
        info["commit"], info["dirty"] = head.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        info["commit"] = git_commit(root)
    return info
