"""Stopping an experiment's processes: its process group, the descendants that left it, and
what its mark finds (``leftovers``).

Responsibility: :class:`GroupStopper` (SIGTERM now, SIGKILL after a grace) and
:func:`kill_group`, shared by the local executor (a timeout, Ctrl-C) and the watchdog (a
runner that died). It starts nothing and knows no executor.
"""
from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING

from dlbs.runner import leftovers

if TYPE_CHECKING:
    import psutil


def kill_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to a process group; a group that is gone already is fine."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class GroupStopper:
    """Stops a process group once: SIGTERM now, SIGKILL ``grace`` seconds later.

    The signals also reach the descendants seen while stopping that left the group (torchrun
    starts its workers in their own sessions): once the launcher is dead they are orphans that
    no process group signal finds; and the members of ``mark`` (``leftovers``:
    daemons double-forked out of the tree). The killed are reaped when they are this
    process's children (orphans adopted by a subreaper).
    """

    def __init__(self, pgid: int, grace: float, mark: leftovers.Mark | None = None) -> None:
        import psutil  # here, not first in a signal handler
        self._psutil = psutil
        self.mark = mark
        self.pgid, self.grace = pgid, max(grace, 0.0)
        self.reason: str | None = None
        self._lock = threading.RLock()  # re-entrant: a second Ctrl-C may arrive inside stop()
        self._kill_timer: threading.Timer | None = None
        self._leader: psutil.Process | None = None
        self._tree: dict[int, psutil.Process] = {}

    def stop(self, reason: str) -> None:
        """Record ``reason`` (the first one wins) and start stopping the group."""
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            try:
                self._leader = self._psutil.Process(self.pgid)
            except self._psutil.Error:
                self._leader = None
            self._remember_tree()
            kill_group(self.pgid, signal.SIGTERM)
            self._signal_tree(signal.SIGTERM)
            self._kill_timer = threading.Timer(self.grace, self.kill)
            self._kill_timer.daemon = True
            self._kill_timer.start()

    def _remember_tree(self) -> None:
        try:  # psutil refuses a leader whose pid was reused after it was reaped
            found = self._leader.children(recursive=True) if self._leader else []
        except self._psutil.Error:
            found = []
        for proc in found:
            self._tree.setdefault(proc.pid, proc)
        for pid in leftovers.members(self.mark) if self.mark else ():
            try:
                self._tree.setdefault(pid, self._psutil.Process(pid))
            except self._psutil.Error:
                pass

    def _signal_tree(self, sig: int) -> None:
        """Send ``sig`` to every descendant and member of the mark seen."""
        for proc in self._tree.values():
            try:
                proc.send_signal(sig)  # psutil checks that the pid was not reused
            except self._psutil.Error:
                pass

    def kill(self) -> None:
        """SIGKILL the group and every descendant (or member) seen since :meth:`stop`,
        and reap those that are this process's children."""
        with self._lock:
            self._remember_tree()
            kill_group(self.pgid, signal.SIGKILL)
            self._signal_tree(signal.SIGKILL)
            leftovers.reap(list(self._tree))

    def kill_left(self) -> None:
        """The leader has exited: SIGKILL what is left of a stopped experiment."""
        if self.reason is not None:
            self.kill()

    def cancel(self) -> None:
        """The group's leader has exited: no SIGKILL is due any more."""
        with self._lock:
            if self._kill_timer is not None:
                self._kill_timer.cancel()
