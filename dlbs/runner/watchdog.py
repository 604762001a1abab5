"""A watchdog that outlives the runner: when the runner dies, the experiment it ran dies too.

Linux's parent-death signal (``die_with_parent`` in ``local.py``) reaches only the process the
launch script ``exec``s, with SIGTERM. A benchmark that ignores SIGTERM, or a child it started
(a data-loader worker, a helper process), would outlive a runner killed with ``kill -9``. So
the local executor starts this small process once per sweep, in its own session, with a pipe
as its standard input: the runner writes ``+PGID GRACE TOKEN`` when an experiment's process
group starts (``+c NAME`` for its Docker container, ``+c ["podman", ..., NAME]`` for a podman
one: a JSON list of its launcher's words and the name) and ``-PGID`` (``-c ...``) when it is over;
TOKEN marks every process of the experiment (``dlbs.runner.leftovers``), so the daemons it
double-forked out of the group are stopped too (and those left in its session, PGID). Only the
runner holds the pipe's write end, so the watchdog reads end-of-file exactly when the runner
is gone, however it went (kill -9, a crash, a closed terminal). It then stops every group still
registered as the runner would have: SIGTERM to the group and the descendants that left it,
SIGKILL after the grace period, and removes the containers.

Run as ``python -m dlbs.runner.watchdog``; nothing else imports it at run time.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import IO

#: What a sweep's runner pays for the watchdog: one process, started once.
COMMAND = (sys.executable, "-m", "dlbs.runner.watchdog")


class Watchdog:
    """The runner's side: starts the watchdog lazily and tells it what to stop."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    def _send(self, line: str) -> None:
        if self._proc is None:
            try:
                self._proc = subprocess.Popen(
                    COMMAND, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
            except OSError:
                return  # no watchdog: the parent-death signal still stops the benchmark
        stdin = self._proc.stdin
        if stdin is None:
            return
        try:
            stdin.write(line.encode() + b"\n")
            stdin.flush()
        except OSError:
            pass  # the watchdog died: the parent-death signal still stops the benchmark

    def pids(self) -> list[int]:
        """The watchdog's pid, once started (a child of the runner, in a session of its own)."""
        return [self._proc.pid] if self._proc is not None else []

    def watch_group(self, pgid: int, grace: float, token: str = "") -> None:
        """Stop process group ``pgid`` (and the processes marked ``token``) if the runner dies
        before :meth:`release_group`."""
        self._send(f"+{pgid} {max(grace, 0.0)} {token}".rstrip())

    def release_group(self, pgid: int) -> None:
        """The group is over (stopped and reaped by the runner)."""
        self._send(f"-{pgid}")

    def watch_container(self, name: str) -> None:
        """Remove container ``name`` if the runner dies before :meth:`release_container`."""
        self._send(f"+c {name}")

    def release_container(self, name: str) -> None:
        """The container is gone (or never started)."""
        self._send(f"-c {name}")

    def close(self) -> None:
        """End the watchdog (nothing is registered any more): EOF with nothing to stop."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.stdin is not None:
            try:
                proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass


def read_registrations(stream: IO[bytes]) -> tuple[dict[int, tuple[float, str]], set[str]]:
    """Read the runner's lines until end-of-file; return the groups (grace, token) and
    containers left."""
    groups: dict[int, tuple[float, str]] = {}
    containers: set[str] = set()
    for raw in stream:
        line = raw.decode(errors="replace").strip()
        if line.startswith("+c "):
            containers.add(line[3:])
        elif line.startswith("-c "):
            containers.discard(line[3:])
        elif line.startswith("+"):
            pgid, grace, token = (line[1:].split(" ", 2) + ["", ""])[:3]
            groups[int(pgid)] = (float(grace or 0), token)
        elif line.startswith("-"):
            groups.pop(int(line[1:]), None)
    return groups, containers


def stop_all(groups: dict[int, tuple[float, str]], containers: set[str]) -> None:
    """Stop what the dead runner left: groups and their marked processes (TERM, then KILL
    after grace), containers."""
    from dlbs.runner.leftovers import Mark
    from dlbs.runner.stopper import GroupStopper

    stoppers = []
    for pgid, (grace, token) in groups.items():
        stopper = GroupStopper(pgid, grace, Mark(token, session=pgid))
        stopper.stop("the runner died")
        stoppers.append(stopper)
    if stoppers:
        time.sleep(max(grace for grace, _ in groups.values()))
    for stopper in stoppers:
        stopper.cancel()
        stopper.kill()
    for name in containers:
        try:
            if name.startswith("["):  # a podman container: [launcher words..., name]
                *launcher, podman_name = json.loads(name)
                subprocess.run([*launcher, "rm", "--force", "--ignore", podman_name],
                               capture_output=True, check=False, timeout=120)
                continue
            from dlbs.runner.dockerengine import remove_container
            remove_container(name)
        except Exception:  # noqa: BLE001, S110 - nothing left to tell: the runner is gone
            pass


def main() -> int:
    """Wait for the runner to go, then stop what it left running."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)  # Ctrl-C and hang-ups are the runner's to handle
    groups, containers = read_registrations(sys.stdin.buffer)
    if groups or containers:
        stop_all(groups, containers)
    return 0


if __name__ == "__main__":
    os._exit(main())
