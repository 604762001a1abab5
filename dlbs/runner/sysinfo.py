"""``exp.sys_info``: DLBS's system facts, ``hw.<source>``, written at the end of each log.

``exp.sys_info`` is a comma list of sources, as in DLBS: ``inxi`` (``inxi -Fbfrlp``),
``cpuinfo`` (``/proc/cpuinfo``, one object per processor), ``meminfo`` (``/proc/meminfo``),
``lscpu``, ``nvidiasmi`` (``nvidia-smi -q``, its lines) and ``dmi`` (the readable files of
``/sys/devices/virtual/dmi/id``). Each available source becomes ``hw.<source>``; those that are
not (a tool not installed, a file not readable, an unknown name) are named in
``hw.sys_info_missing`` with the reason, and in one warning on stderr per sweep. The facts
describe the host the runner runs on (DLBS's behaviour too); a Slurm job's node is not it,
so with ``exp.scheduler=slurm`` nothing is collected and the log says why.
"""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

TIMEOUT_S = 20
DMI = Path("/sys/devices/virtual/dmi/id")
DMI_FILES = ("board_name", "board_vendor", "product_name", "sys_vendor")


class Missing(Exception):
    """A source that is not available here (the message says why)."""


def _command(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        raise Missing(f"{argv[0]} is not installed")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S,
                              check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise Missing(f"{argv[0]} did not answer: {err}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise Missing(f"{argv[0]} failed: {lines[-1] if lines else done.returncode}")
    return done.stdout


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError as err:
        raise Missing(f"{path} is not readable ({err.strerror})") from None


def _pairs(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def cpuinfo() -> list[dict[str, str]]:
    """``/proc/cpuinfo``: one object per processor."""
    blocks = _read("/proc/cpuinfo").strip().split("\n\n")
    return [_pairs(block.splitlines()) for block in blocks if block.strip()]


def meminfo() -> dict[str, str]:
    """``/proc/meminfo`` as name -> value."""
    return _pairs(_read("/proc/meminfo").splitlines())


def lscpu() -> dict[str, str]:
    """``lscpu`` as name -> value."""
    return _pairs(_command(["lscpu"]).splitlines())


def inxi() -> list[str]:
    """``inxi -Fbfrlp -c0``: its lines."""
    return _command(["inxi", "-Fbfrlp", "-c0"]).splitlines()


def nvidiasmi() -> list[str]:
    """``nvidia-smi -q``: its lines."""
    return _command(["nvidia-smi", "-q"]).splitlines()


def dmi() -> dict[str, str]:
    """The DMI names readable without root (board, product, vendor)."""
    found = {}
    for name in DMI_FILES:
        try:
            found[name] = (DMI / name).read_text().strip()
        except OSError:
            continue
    if not found:
        raise Missing(f"{DMI} has none of {', '.join(DMI_FILES)}")
    return found


SOURCES: dict[str, Callable[[], Any]] = {
    "inxi": inxi, "cpuinfo": cpuinfo, "meminfo": meminfo, "lscpu": lscpu,
    "nvidiasmi": nvidiasmi, "dmi": dmi,
}


def requested(value: Any) -> list[str]:
    """The source names of an ``exp.sys_info`` value (``"a, b"``), in order, without repeats."""
    names = [n.strip() for n in str(value or "").split(",") if n.strip()]
    return list(dict.fromkeys(names))


def collect(value: Any) -> tuple[list[tuple[str, Any]], dict[str, str]]:
    """``hw.<source>`` facts of the requested sources, and the missing ones with the reason."""
    facts: list[tuple[str, Any]] = []
    missing: dict[str, str] = {}
    for name in requested(value):
        source = SOURCES.get(name)
        if source is None:
            missing[name] = f"unknown source (use {', '.join(SOURCES)})"
            continue
        try:
            facts.append((f"hw.{name}", source()))
        except Missing as err:
            missing[name] = str(err)
    if missing:
        facts.append(("hw.sys_info_missing", missing))
    return facts, missing
