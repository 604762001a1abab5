"""What an experiment left running after its end: found by a mark in the environment, ended.

A benchmark may start a daemon: a child in its own session (``setsid``), double-forked so that
its parent is gone, ignoring SIGTERM and SIGHUP. Neither the experiment's process group nor the
tree under the launched process finds it: it has been re-parented to init (or to the nearest
child subreaper). So an experiment's processes are found three ways (:func:`members`):

- a mark: the launch script runs with ``DLBS_EXPERIMENT_TOKEN=<random>`` in its environment,
  which every process it starts inherits, found in ``/proc/PID/environ`` (the environment a
  process was started with, whatever it did to its variables since);
- its session: the launch script leads a session of its own, which a process that clears its
  environment keeps unless it calls ``setsid``;
- adoption, while the runner lives: the runner is a child subreaper, so an orphan of the
  experiment (even one that cleared its environment and left the session) becomes its child.

Only a process that clears its environment, leaves the session and outlives the runner (a
runner killed with SIGKILL: the watchdog then has only the mark and the session) escapes; a
cgroup per experiment would close that, where one can be made. The local executor ends the
members with the experiment (at its end, its timeout, Ctrl-C), the watchdog when the runner
dies.

While a sweep runs, the runner is also a child subreaper (``PR_SET_CHILD_SUBREAPER``, set
back when the sweep ends): the orphans of its experiments are re-parented to it rather than to
an init that may reap them late or never (a container's, a VM's), so the daemons it kills are
reaped at once (:func:`reap`), not left as zombies.

Linux only; elsewhere nothing is found and nothing is set. Processes of other users (whose
environment cannot be read) are never touched.
"""
from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass

#: The variable that marks every process of one experiment.
TOKEN_VAR = "DLBS_EXPERIMENT_TOKEN"
#: The most of one process's environment read (Linux's own limit on it is a few MiB at most).
ENVIRON_LIMIT = 8 << 20
#: prctl(2) options: orphaned descendants are re-parented to this process (or not); is it so.
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37
#: How long :func:`end_marked` waits to reap a killed child of its own.
REAP_WAIT_S = 2.0


def new_token() -> str:
    """A fresh mark for one experiment."""
    return secrets.token_hex(16)


def set_subreaper(on: bool) -> bool | None:
    """Make this process a child subreaper, or no longer one (Linux); return whether it was
    one before (None: unknown, nothing was changed)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        was = ctypes.c_int(0)
        if libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(was), 0, 0, 0) != 0:
            return None
        if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return bool(was.value)


@dataclass(frozen=True)
class Mark:
    """What tells one experiment's processes apart.

    ``token``: the mark in their environment. ``session``: the launch script's session (its
    leader's pid; a daemon that left the process group but not the session, its environment
    cleared, is still in it). ``since``: for the runner alone, the leader's start time (clock
    ticks since boot): a process the runner adopted as subreaper (its parent is the runner, its
    session not the runner's) that started since is an orphan of the experiment, even one that
    cleared its environment and left the session; ``spare``: the runner's own such children
    (the watchdog). The leader itself is never a member (its parent waits for it).
    """

    token: str
    session: int = 0
    since: int | None = None
    spare: frozenset[int] = frozenset()


def members(mark: Mark) -> list[int]:
    """Pids of the processes of ``mark``'s experiment, this process and the leader excluded:
    marked with its token, in its session, or (with ``since``) adopted orphans of it. Zombies
    count (in the session, or adopted): reaping them is what is left to do."""
    needle = f"{TOKEN_VAR}={mark.token}".encode() if mark.token else None
    me, found = os.getpid(), []
    try:
        names = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
    for pid in names:
        if pid in (me, mark.session) or pid in mark.spare:
            continue
        stat = _stat(pid)
        if (needle is not None and needle in _environ_entries(pid)) or (
                stat is not None and _belongs(stat, mark, me)):
            found.append(pid)
    return found


def marked(token: str) -> list[int]:
    """Pids of the processes whose environment holds ``TOKEN_VAR=token``."""
    return members(Mark(token))


def _belongs(stat: tuple[int, int, int], mark: Mark, me: int) -> bool:
    """In the experiment's session, or an orphan of it that this runner adopted."""
    ppid, session, started = stat
    if mark.session and session == mark.session:
        return True
    return (mark.since is not None and ppid == me and session != os.getsid(0)
            and started >= mark.since)


def _stat(pid: int) -> tuple[int, int, int] | None:
    """``(ppid, session, start time in clock ticks)`` of ``pid``; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            fields = stream.read(4096).rsplit(b")", 1)[1].split()
        return int(fields[1]), int(fields[3]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (None: gone)."""
    stat = _stat(pid)
    return stat[2] if stat else None


def _environ_entries(pid: int) -> list[bytes]:
    """The ``NAME=value`` entries of a process's starting environment; [] when it cannot be
    read (gone, another user's, a zombie)."""
    try:
        fd = os.open(f"/proc/{pid}/environ", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return []
    chunks: list[bytes] = []
    size = 0
    try:
        while size < ENVIRON_LIMIT and (chunk := os.read(fd, ENVIRON_LIMIT - size)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError:
        return []
    finally:
        os.close(fd)
    return b"".join(chunks).split(b"\0")


def end_members(mark: Mark, sig: int = signal.SIGKILL) -> list[int]:
    """Send ``sig`` to every process of ``mark``'s experiment; with SIGKILL, reap those that
    are this process's children (orphans it adopted as subreaper). Returns the pids."""
    pids = members(mark)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass  # gone meanwhile (its pid is not reused before it is reaped)
    if sig == signal.SIGKILL:
        reap(pids)
    return pids


def end_marked(token: str, sig: int = signal.SIGKILL) -> list[int]:
    """:func:`end_members` of the processes marked with ``token`` alone."""
    return end_members(Mark(token), sig)


def reap(pids: list[int]) -> None:
    """Reap the pids that are children of this process, waiting :data:`REAP_WAIT_S` at most
    (a process killed in an uninterruptible wait dies later; its zombie then waits)."""
    left = set(pids)
    deadline = time.monotonic() + REAP_WAIT_S
    while left:
        for pid in list(left):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                left.discard(pid)  # not a child of ours: its own parent or init reaps it
                continue
            if done:
                left.discard(pid)
        if not left or time.monotonic() > deadline:
            return
        time.sleep(0.02)
