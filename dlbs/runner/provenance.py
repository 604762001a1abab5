"""What the runner knows about where an experiment ran: host, OS, Python, project commit.

These become ``hw.*``/``exp.*`` facts in each log's header. Everything is computed once per
sweep (cached) and without importing torch: the benchmark itself writes the torch, CUDA and
cuDNN versions it sees, from inside the container when there is one.

Every file is read without blocking and up to a stated size (:func:`safeio.read_capped`): a
FIFO, a device or a huge file in place of ``/proc/cpuinfo``, the driver's version file,
``/etc/os-release`` or ``.git/HEAD`` never hangs the sweep. A file that is there and cannot be
read costs its fact (a fallback is used where there is one) and is said in
``exp.runner_warnings``; a file that is not there (no NVIDIA driver, not a checkout) is normal.
"""
from __future__ import annotations

import datetime
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from safeio import read_capped

import dlbs

NVIDIA_VERSION_FILE = "/proc/driver/nvidia/version"
CPUINFO = "/proc/cpuinfo"
OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")
#: Most bytes read of ``/proc/cpuinfo`` (4,096 CPUs take about 8 MiB) ...
MAX_CPUINFO_BYTES = 16 << 20
#: ... and of the other small files read here.
MAX_SMALL_FILE_BYTES = 64 << 10
#: Problems met while reading host facts, for ``exp.runner_warnings`` (see :func:`host_facts`).
_problems: dict[str, None] = {}


def utc_now() -> str:
    """The current time as ISO 8601 UTC, to the millisecond."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def read_optional(path: str | Path, limit: int = MAX_SMALL_FILE_BYTES) -> str | None:
    """The text of ``path`` (read without blocking, at most ``limit`` bytes), or None when it
    is not there; any other failure (a FIFO, a device, too large, unreadable) is None too, and
    noted for ``exp.runner_warnings``."""
    try:
        return read_capped(path, limit).decode("utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        _problems[f"cannot read {path}: {err.strerror or err}"] = None
        return None


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    for line in (read_optional(CPUINFO, MAX_CPUINFO_BYTES) or "").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
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
    head = (read_optional(git / "HEAD") or "").strip()
    if not head.startswith("ref: "):
        return head or None
    ref = head[5:]
    found = read_optional(git / ref)
    if found is not None:
        return found.strip()
    for line in (read_optional(git / "packed-refs", MAX_CPUINFO_BYTES) or "").splitlines():
        if line.endswith(" " + ref):
            return line.split()[0]
    return None


def nvidia_driver() -> str | None:
    """The NVIDIA kernel driver version (``/proc/driver/nvidia/version``), None without one.

    Read from the file rather than through NVML: no import, no library load on CPU hosts.
    """
    text = read_optional(NVIDIA_VERSION_FILE)
    if not text:
        return None
    match = re.search(r"Kernel Module(?: for [\w]+)?\s+([0-9][0-9.]*)", text)
    return match.group(1) if match else text.splitlines()[0].strip()


def os_name() -> str:
    """The distribution's name (``PRETTY_NAME`` of ``/etc/os-release``), else the system's."""
    for path in OS_RELEASE:
        text = read_optional(path)
        if text is None:
            continue
        for line in text.splitlines():
            if line.startswith("PRETTY_NAME="):
                try:
                    words = shlex.split(line[len("PRETTY_NAME="):])
                except ValueError:
                    words = []
                if words:
                    return words[0]
        return platform.system()
    return f"{platform.system()}-{platform.release()}"


@lru_cache(maxsize=1)
def host_facts() -> tuple[tuple[str, Any], ...]:
    """Facts about the host that runs the sweep (computed once); ``exp.runner_warnings``
    names the files that were there and could not be read."""
    _problems.clear()
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
    if _problems:
        facts.append(("exp.runner_warnings", list(_problems)))
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
