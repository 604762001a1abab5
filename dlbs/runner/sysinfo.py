"""``exp.sys_info``: DLBS's system facts, ``hw.<source>``, written at the end of each log.

``exp.sys_info`` is a comma list of sources, as in DLBS: ``inxi`` (``inxi -Fbfrlp``),
``cpuinfo`` (``/proc/cpuinfo``, one object per processor), ``meminfo`` (``/proc/meminfo``),
``lscpu``, ``nvidiasmi`` (``nvidia-smi -q``, its lines) and ``dmi`` (the readable files of
``/sys/devices/virtual/dmi/id``). Each available source becomes ``hw.<source>``; those that are
not (a tool not installed, a file not readable, an unknown name) are named in
``hw.sys_info_missing`` with the reason, and in one warning on stderr per sweep. The facts
describe the host the runner runs on (DLBS's behaviour too); a Slurm job's node is not it,
so with ``exp.scheduler=slurm`` nothing is collected and the log says why.

Nothing here blocks or grows without bound: a tool's output is read from its pipe up to
:data:`MAX_SOURCE_BYTES` (then the tool's process group is killed), a tool that does not end
is killed after :data:`TIMEOUT_S` seconds, and files are read without blocking (a FIFO or a
device in their place is refused) and up to the same size. A source cut at the size keeps its
first lines, whole, and ``hw.<source>_truncated`` is ``true``.
"""
from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safeio import read_capped, read_head

#: Seconds a tool may take.
TIMEOUT_S = 20
#: Most bytes of one source's output (or file) kept in a log (inxi writes about 10 KiB, the
#: /proc/cpuinfo of 256 CPUs about 400 KiB).
MAX_SOURCE_BYTES = 1 << 20
#: Most bytes of a tool's stderr kept for its error message (the end of it).
_STDERR_TAIL = 4096
#: Seconds a tool's pipe may stay open after the tool exited (a child it left holds it).
_LINGER_S = 1.0
DMI = Path("/sys/devices/virtual/dmi/id")
DMI_FILES = ("board_name", "board_vendor", "product_name", "sys_vendor")
CPUINFO = "/proc/cpuinfo"
MEMINFO = "/proc/meminfo"

#: What a source gives: its value, and whether its output was cut at MAX_SOURCE_BYTES.
Reading = tuple[Any, bool]


class Missing(Exception):
    """A source that is not available here (the message says why)."""


def _command(argv: list[str]) -> tuple[str, bool]:
    """The tool's stdout (cut at :data:`MAX_SOURCE_BYTES`) and whether it was cut."""
    if shutil.which(argv[0]) is None:
        raise Missing(f"{argv[0]} is not installed")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
    except OSError as err:
        raise Missing(f"{argv[0]} did not start: {err.strerror or err}") from None
    try:
        out, err_tail, cut, timed_out = _read_pipes(proc)
    finally:
        _end(proc)
    if timed_out:
        raise Missing(f"{argv[0]} did not answer within {TIMEOUT_S} s (killed)")
    if not cut and proc.returncode != 0:
        lines = (err_tail or out).decode("utf-8", "replace").strip().splitlines()
        raise Missing(f"{argv[0]} failed: {lines[-1][:200] if lines else proc.returncode}")
    return _text(out, cut), cut


def _read_pipes(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes, bool, bool]:
    """Read stdout up to the cap and the tail of stderr until both close, the cap is passed or
    time is up: ``(stdout, stderr tail, cut, timed out)``. Never holds more than the cap."""
    assert proc.stdout is not None and proc.stderr is not None
    out, err = bytearray(), bytearray()
    deadline, exited_at = time.monotonic() + TIMEOUT_S, None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, out)
        selector.register(proc.stderr, selectors.EVENT_READ, err)
        while selector.get_map():
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > _LINGER_S:
                break  # the tool ended; a child it left still holds the pipe
            if now >= deadline:
                return bytes(out), bytes(err), False, True
            for key, _ in selector.select(min(deadline - now, 0.5)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.data is out:
                    out += chunk[:MAX_SOURCE_BYTES + 1 - len(out)]
                    if len(out) > MAX_SOURCE_BYTES:
                        return bytes(out[:MAX_SOURCE_BYTES]), bytes(err), True, False
                else:
                    err[:] = (err + chunk)[-_STDERR_TAIL:]
    return bytes(out), bytes(err), False, False


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Kill what is left of the tool's process group, close its pipes, reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass  # already gone
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass  # unkillable (in the kernel): not waited on any longer


def _text(data: bytes, cut: bool) -> str:
    """Decoded; when ``cut``, without the line the cut split."""
    text = data.decode("utf-8", errors="replace")
    if cut and "\n" in text:
        text = text[:text.rindex("\n") + 1]
    return text


def _read(path: str | Path) -> tuple[str, bool]:
    try:
        data, cut = read_head(path, MAX_SOURCE_BYTES)
    except OSError as err:
        raise Missing(f"{path} is not readable ({err.strerror or err})") from None
    return _text(data, cut), cut


def _pairs(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def cpuinfo() -> Reading:
    """``/proc/cpuinfo``: one object per processor."""
    text, cut = _read(CPUINFO)
    blocks = text.strip().split("\n\n")
    if cut and len(blocks) > 1:
        blocks = blocks[:-1]  # the processor the cut split
    return [_pairs(block.splitlines()) for block in blocks if block.strip()], cut


def meminfo() -> Reading:
    """``/proc/meminfo`` as name -> value."""
    text, cut = _read(MEMINFO)
    return _pairs(text.splitlines()), cut


def lscpu() -> Reading:
    """``lscpu`` as name -> value."""
    text, cut = _command(["lscpu"])
    return _pairs(text.splitlines()), cut


def inxi() -> Reading:
    """``inxi -Fbfrlp -c0``: its lines."""
    text, cut = _command(["inxi", "-Fbfrlp", "-c0"])
    return text.splitlines(), cut


def nvidiasmi() -> Reading:
    """``nvidia-smi -q``: its lines."""
    text, cut = _command(["nvidia-smi", "-q"])
    return text.splitlines(), cut


def dmi() -> Reading:
    """The DMI names readable without root (board, product, vendor)."""
    found = {}
    for name in DMI_FILES:
        try:
            found[name] = read_capped(DMI / name, 4096).decode("utf-8", "replace").strip()
        except OSError:
            continue
    if not found:
        raise Missing(f"{DMI} has none of {', '.join(DMI_FILES)}")
    return found, False


SOURCES: dict[str, Callable[[], Reading]] = {
    "inxi": inxi, "cpuinfo": cpuinfo, "meminfo": meminfo, "lscpu": lscpu,
    "nvidiasmi": nvidiasmi, "dmi": dmi,
}


def requested(value: Any) -> list[str]:
    """The source names of an ``exp.sys_info`` value (``"a, b"``), in order, without repeats."""
    names = [n.strip() for n in str(value or "").split(",") if n.strip()]
    return list(dict.fromkeys(names))


def collect(value: Any) -> tuple[list[tuple[str, Any]], dict[str, str]]:
    """``hw.<source>`` facts of the requested sources (with ``hw.<source>_truncated`` for one
    cut at :data:`MAX_SOURCE_BYTES`), and the missing ones with the reason."""
    facts: list[tuple[str, Any]] = []
    missing: dict[str, str] = {}
    for name in requested(value):
        source = SOURCES.get(name)
        if source is None:
            missing[name] = f"unknown source (use {', '.join(SOURCES)})"
            continue
        try:
            found, cut = source()
        except Missing as err:
            missing[name] = str(err)
            continue
        facts.append((f"hw.{name}", found))
        if cut:
            facts.append((f"hw.{name}_truncated", True))
    if missing:
        facts.append(("hw.sys_info_missing", missing))
    return facts, missing


def truncated(facts: list[tuple[str, Any]]) -> list[str]:
    """The sources :func:`collect` cut, from its facts."""
    return [key[3:-len("_truncated")] for key, value in facts
            if key.startswith("hw.") and key.endswith("_truncated") and value is True]
