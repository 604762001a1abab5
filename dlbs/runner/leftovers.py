"""What an experiment left running after its end: found by a mark in the environment, ended.

A benchmark may start a daemon: a child in its own session (``setsid``), double-forked so that
its parent is gone, ignoring SIGTERM and SIGHUP. Neither the experiment's process group nor the
tree under the launched process finds it: it has been re-parented to init (or to the nearest
child subreaper). So every process of an experiment is marked: the launch script runs with
``DLBS_EXPERIMENT_TOKEN=<random>`` in its environment, which every process it starts inherits
(unless it clears its environment), and :func:`marked` finds them in ``/proc/PID/environ``
(the environment a process was started with, whatever it did to its variables since). The
local executor ends them with the experiment (at its end, its timeout, Ctrl-C), and the
watchdog does when the runner dies.

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


def marked(token: str) -> list[int]:
    """Pids of the live processes whose environment holds ``TOKEN_VAR=token`` (this process
    excluded)."""
    needle = f"{TOKEN_VAR}={token}".encode()
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if name.isdigit() and int(name) != os.getpid() and needle in _environ_entries(name):
            found.append(int(name))
    return found


def _environ_entries(pid: str) -> list[bytes]:
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


def end_marked(token: str, sig: int = signal.SIGKILL) -> list[int]:
    """Send ``sig`` to every process marked with ``token``; with SIGKILL, reap those that are
    this process's children (orphans it adopted as subreaper). Returns the pids signalled."""
    pids = marked(token)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass  # gone meanwhile (its pid is not reused before it is reaped)
    if sig == signal.SIGKILL:
        reap(pids)
    return pids


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
