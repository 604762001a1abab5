"""The local executor: one experiment at a time, ``bash <script>`` in a new session on this host.

The launch script's output is appended to the log's ``.part``. The wait blocks (no polling); a
timer stops the process group at ``exp.timeout``, a signal stops it on Ctrl-C/SIGTERM
(SIGTERM, then SIGKILL after ``runtime.kill_grace``), and the experiment's container, if
any, is removed. ``monitor.frequency`` samples the process tree (and GPUs) meanwhile.
Every process of the experiment carries a mark in its environment, so what it left (a daemon
in its own session, double-forked away from the tree) is ended with it (``leftovers``).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from safeio import open_for_write

from dlbs.experiment import Experiment
from dlbs.launchers import container_name
from dlbs.runner import leftovers
from dlbs.runner.containerctl import PodmanContainer, runtime_of
from dlbs.runner.follow import LogFollower
from dlbs.runner.job import Ending, Job
from dlbs.runner.stopper import GroupStopper, kill_group
from dlbs.runner.watchdog import Watchdog

if TYPE_CHECKING:

    from dlbs.runner.monitor import Monitor


#: prctl(2) option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


class LocalExecutor:
    """Runs one job at a time as a process group on this host."""

    name = "local"
    capacity = 1
    detached = False
    deferred = False  # started at once: nothing held back for flush()

    def __init__(self) -> None:
        self._job: Job | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._monitor: Monitor | None = None
        self._container: str | None = None
        self._podman: PodmanContainer | None = None
        self._stopper: GroupStopper | None = None
        self._stop: str | None = None
        self._mark = leftovers.Mark("")  # tells the running experiment's processes
        self._watchdog = Watchdog()  # stops what runs if this runner dies (kill -9, a crash)
        self._was_subreaper: bool | None = None  # set back by close()
        self._note: Callable[[int, str], None] | None = None
        self._follower: LogFollower | None = None

    def attach_note(self, note: Callable[[int, str], None]) -> None:
        """A local job never waits in a queue; a serving run's news (each step of a capacity
        search as it ends, its warnings) is read from its log as it runs (``follow``)."""
        self._note = note

    def flush(self) -> list[tuple[Job, Ending]]:
        """Nothing is held back: each job started at ``start``."""
        return []

    def recover(self, index: int, exp: Experiment) -> tuple[Job, Ending] | None:
        """Nothing outlives a local runner that could be adopted: a stale ``.part`` re-runs."""
        return None

    def start(self, job: Job) -> None:
        """Start ``bash <script>`` with its output appended to the job's ``.part``."""
        exp = job.view
        token = leftovers.new_token()  # marks every process of the experiment
        if self._was_subreaper is None:  # orphans of experiments come here to be reaped
            self._was_subreaper = leftovers.set_subreaper(True)
        runtime = runtime_of(exp)
        # Docker's container goes through the SDK (and the watchdog); podman's through its CLI.
        self._container = container_name(exp) if runtime == "docker" else None
        self._podman = PodmanContainer(exp, container_name(exp)) if runtime == "podman" else None
        if self._container:
            from dlbs.runner.dockerengine import remove_container
            remove_container(self._container)  # left by a runner that was killed outright
        if self._podman:
            self._podman.remove()  # left by a runner that was killed outright
        # The .part is opened again by name: never through a link planted there meanwhile.
        with os.fdopen(open_for_write(job.part, append=True, create=False), "ab") as out:
            self._proc = subprocess.Popen(
                ["bash", str(job.script)], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, leftovers.TOKEN_VAR: token},
                # Safe with threads: it only calls prctl through a handle made before fork.
                preexec_fn=die_with_parent())  # noqa: PLW1509
        self._watchdog.watch_group(self._proc.pid, exp.kill_grace, token)
        self._mark = leftovers.Mark(token, self._proc.pid, leftovers.start_time(self._proc.pid),
                                    frozenset(self._watchdog.pids()))
        if self._container:
            self._watchdog.watch_container(self._container)
        if self._podman:
            self._watchdog.watch_container(self._podman.watch_entry())
        self._job = job
        self._monitor = start_monitor(exp, self._proc.pid, self._container, self._podman)
        note = self._note
        if note is not None and exp.serves:
            self._follower = LogFollower(job.part, lambda line: note(job.index, line))
            self._follower.start()

    def wait(self) -> list[tuple[Job, Ending]]:
        """Wait for the running job; return it with how it ended."""
        job, proc = self._job, self._proc
        assert job is not None and proc is not None, "wait() without a running job"
        try:
            stopped = self._wait(proc, job.view)
        finally:
            kill_group(proc.pid, signal.SIGKILL)  # whatever the launcher left behind
            leftovers.end_members(self._mark)  # and what left the group (daemons)
            if self._monitor:
                self._monitor.stop()
            if self._follower is not None:
                self._follower.stop()
                self._follower = None
        self._watchdog.release_group(proc.pid)
        if self._container and stopped:
            from dlbs.runner.dockerengine import remove_container
            remove_container(self._container)
        if self._container:
            self._watchdog.release_container(self._container)
        if self._podman and stopped:  # --rm removes it; a stopped podman client may leave it
            self._podman.remove()
        if self._podman:
            self._watchdog.release_container(self._podman.watch_entry())
        facts = list(self._monitor.facts()) if self._monitor else []
        self._job, self._proc, self._monitor = None, None, None
        return [(job, Ending(exit_code=proc.returncode, stopped=stopped, facts=facts))]

    def _wait(self, proc: subprocess.Popen[bytes], exp: Experiment) -> str | None:
        timeout = exp.timeout
        stopper = GroupStopper(proc.pid, exp.kill_grace, self._mark)
        self._stopper = stopper
        timer = threading.Timer(timeout, stopper.stop, args=("timeout",)) if timeout > 0 else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        if self._stop:  # a signal arrived before the stopper was in place
            stopper.stop("interrupted")
        try:
            proc.wait()
        finally:
            self._stopper = None
            if timer is not None:
                timer.cancel()
            stopper.cancel()
            stopper.kill_left()
        return "interrupted" if self._stop else stopper.reason

    def close(self) -> None:
        """The sweep is over: end the watchdog; this process is a subreaper no more (unless
        it was one before)."""
        self._watchdog.close()
        if self._was_subreaper is False:
            leftovers.set_subreaper(False)
        self._was_subreaper = None

    def stop(self, reason: str) -> None:
        """From a signal handler: stop the running experiment's process group."""
        self._stop = reason
        stopper = self._stopper
        if stopper is not None:
            stopper.stop("interrupted")


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the launched process get SIGTERM when the runner dies.

    The launch script ``exec``s its command, so the signal reaches the benchmark itself (or
    torchrun, which stops its workers, or ``docker run``, which passes it to the container):
    a runner killed outright (SIGKILL, a crash) never leaves an experiment running. Linux's
    ``PR_SET_PDEATHSIG``; elsewhere None (nothing is set).
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    prctl, parent = libc.prctl, os.getpid()

    def preexec() -> None:  # runs in the child between fork and exec: no imports, no locks
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the runner died before prctl took effect
            os._exit(1)
    return preexec


def start_monitor(exp: Experiment, pid: int, container: str | None,
                  podman: PodmanContainer | None = None) -> Monitor | None:
    """Start sampling the experiment when ``monitor.frequency`` > 0."""
    frequency = exp.monitor_frequency
    if frequency <= 0:
        return None
    from dlbs.runner.monitor import Monitor  # psutil only when monitoring
    gpus = (gpu_indices(exp) or None) if exp.monitor_gpu else None
    root = container_root(container) if container else (podman_root(podman) if podman else None)
    monitor = Monitor(pid, frequency, gpus, root)
    monitor.start()
    return monitor


def gpu_indices(exp: Experiment) -> list[int]:
    """Host GPU indices of a GPU experiment (from ``exp.gpus``); empty on CPU."""
    text = exp.gpus.replace(":", ",")
    return [int(g) for g in text.split(",") if g.strip().isdigit()]


def container_root(name: str) -> Callable[[], int | None]:
    """A function giving the host pid of container ``name`` (looked up until found)."""
    found: list[int] = []

    def lookup() -> int | None:
        if not found:
            from dlbs.runner.dockerengine import container_pid
            pid = container_pid(name)
            if pid:
                found.append(pid)
        return found[0] if found else None
    return lookup


def podman_root(container: PodmanContainer) -> Callable[[], int | None]:
    """A function giving the host pid of a podman container (looked up until found): its
    processes run under conmon, outside the launch script's process tree."""
    found: list[int] = []

    def lookup() -> int | None:
        if not found:
            pid = container.pid()
            if pid:
                found.append(pid)
        return found[0] if found else None
    return lookup
