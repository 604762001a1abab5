"""Run expanded experiments: the one place that starts experiment processes and writes logs.

For each experiment (in plan order) the runner decides from ``exp.status`` and ``exp.rerun``
whether to run it, renders its launch script (``dlbs.launchers``) beside its log, writes the
log header (every parameter, then provenance), runs ``bash <script>`` in a new session with
its output appended to the log, and appends the trailer (exit code, duration, monitor series,
final ``results.status``). See ``dlbs.runlog`` for the ``.part``-then-rename rule that keeps
logs complete, and for the rerun policy.

One experiment's failure, timeout (``exp.timeout``) or crash never stops the sweep. Ctrl-C or
SIGTERM stops it: the running experiment's whole process group (and its container) is
stopped, its log says ``interrupted``, and a summary is printed.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from dlbs import runlog
from dlbs.errors import DLBSError, RunError
from dlbs.launchers import build_script, container_name, script_file_for
from dlbs.launchers.command import as_bool
from dlbs.progress import Progress
from dlbs.provenance import host_facts, utc_now

if TYPE_CHECKING:
    import psutil

    from dlbs.monitor import Monitor

SKIP_STATUSES = frozenset({"disabled", "inactive"})
SIGNAL_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


@dataclass
class Outcome:
    """How one experiment ended: ``status`` is a ``results.status`` value, or skipped/simulated."""

    status: str
    duration: float | None = None
    log_file: str | None = None


@dataclass
class Summary:
    """What a sweep did."""

    total: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: str | None = None

    def count(self, *statuses: str) -> int:
        """How many experiments ended with one of ``statuses``."""
        return sum(1 for o in self.outcomes if o.status in statuses)

    @property
    def failures(self) -> list[Outcome]:
        """Experiments that ran and did not end ``ok``."""
        return [o for o in self.outcomes if o.status not in ("ok", "skipped", "simulated")]

    @property
    def exit_code(self) -> int:
        """130 when interrupted, 1 when an experiment failed, else 0."""
        return 130 if self.interrupted else (1 if self.failures else 0)

    def text(self) -> str:
        """A human summary (several lines) for stderr."""
        ran = len(self.outcomes)
        head = (f"run: {self.total} experiments: {self.count('ok')} ok, {len(self.failures)} "
                f"failed, {self.count('skipped')} skipped, {self.count('simulated')} simulated")
        if self.interrupted:
            head += f"; interrupted by {self.interrupted}, {self.total - ran} not started"
        lines = [head] + [f"  {o.status}: {o.log_file}" for o in self.failures]
        return "\n".join(lines)


class Runner:
    """Runs a sequence of expanded experiments; see the module docstring."""

    def __init__(self, progress_file: str | None = None, out: IO[str] | None = None,
                 err: IO[str] | None = None, bar: bool | None = None,
                 docker_images: Mapping[str, str] | None = None) -> None:
        self.progress_file, self.bar = progress_file, bar
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.docker_images = dict(docker_images or {})
        self._stopper: GroupStopper | None = None
        self._stop: str | None = None

    # -- the sweep ---------------------------------------------------------------------------
    def run(self, experiments: Sequence[Mapping[str, Any]]) -> Summary:
        """Run every experiment in order; return the summary (never raises for one failure)."""
        summary = Summary(total=len(experiments))
        progress = Progress(summary.total, self.progress_file, self.err, self.bar)
        restore = self._install_signals()
        try:
            for index, exp in enumerate(experiments):
                if self._stop:
                    break
                outcome = self._dispatch(index, exp, progress)
                summary.outcomes.append(outcome)
                progress.finish(index, outcome.status, outcome.duration)
        finally:
            restore()
            summary.interrupted = self._stop
            progress.close("interrupted" if self._stop else "finished")
        return summary

    def _dispatch(self, index: int, exp: Mapping[str, Any], progress: Progress) -> Outcome:
        status = str(exp.get("exp.status", "ok"))
        if status in SKIP_STATUSES:
            return Outcome("skipped", log_file=exp.get("exp.log_file"))
        if status == "simulate":
            self._simulate(index, exp, progress.total)
            return Outcome("simulated", log_file=exp.get("exp.log_file"))
        if not str(exp.get("exp.log_file") or "").strip():
            raise RunError(f"experiment {index}: exp.log_file is not set; set exp.log_dir "
                           "(a plan file needs exp.log_file in every experiment)")
        run, _ = runlog.rerun_decision(exp)
        if not run:
            return Outcome("skipped", log_file=exp.get("exp.log_file"))
        progress.start(index, exp)
        return self.run_experiment(exp)

    def _simulate(self, index: int, exp: Mapping[str, Any], total: int) -> None:
        log_file = json.dumps(str(exp.get("exp.log_file", "")))
        self.out.write(f"# ---- experiment {index + 1}/{total}: {log_file}\n")
        self.out.write(build_script(exp))
        self.out.flush()

    # -- one experiment ----------------------------------------------------------------------
    def run_experiment(self, exp: Mapping[str, Any]) -> Outcome:
        """Run one experiment whatever its log says; write its complete log."""
        log_file = Path(str(exp["exp.log_file"]))
        part = runlog.part_file(log_file)
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            script, problem = self._write_script(exp, log_file)
            t0 = time.monotonic()
            # A new file, not the old one truncated: a benchmark orphaned by a runner killed
            # outright may still be appending to the old ``.part``.
            part.unlink(missing_ok=True)
            with part.open("w", encoding="utf-8") as stream:
                runlog.write_facts_to(stream, self._header(exp))
                offset = stream.tell()
        except OSError as err:
            raise RunError(f"cannot write the log of {exp.get('exp.model')} in "
                           f"{log_file.parent}: {err.strerror}") from None
        code, stopped, monitor = (None, None, None) if script is None else \
            self._launch(exp, script, part)
        duration = time.monotonic() - t0
        status = self._write_trailer(exp, part, offset, code, stopped, monitor, duration, problem)
        runlog.finish_log(log_file)
        return Outcome(status, duration, str(log_file))

    def _write_script(self, exp: Mapping[str, Any], log_file: Path) -> tuple[Path | None, str]:
        """Render and keep the launch script; a bad experiment gives ``(None, reason)``."""
        try:
            text = build_script(exp)
        except DLBSError as err:
            return None, str(err)
        path = Path(script_file_for(str(log_file)))
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)
        return path, ""

    def _header(self, exp: Mapping[str, Any]) -> list[tuple[str, Any]]:
        facts = list(exp.items()) + list(host_facts())
        image = str(exp.get("exp.docker_image", ""))
        if as_bool(exp.get("exp.docker", False)) and image in self.docker_images:
            facts.append(("exp.docker_image_id", self.docker_images[image]))
        facts.append(("exp.runner_start_time", utc_now()))
        return facts

    def _write_trailer(self, exp: Mapping[str, Any], part: Path, offset: int, code: int | None,
                       stopped: str | None, monitor: Monitor | None, duration: float,
                       problem: str) -> str:
        output = runlog.read_output_facts(part, offset)
        status, error = runlog.final_status(output, code, stopped)
        if problem:
            error = problem
        elif stopped == "timeout":
            error = (f"timed out after {exp.get('exp.timeout')} s (exp.timeout); "
                     "process group killed")
        elif stopped:
            error = f"interrupted by {self._stop or stopped}"
        elif status != "ok" and not output.get("results.error"):
            last = runlog.last_output_line(part, offset)
            error = f"{error}; last output: {last}" if error and last else (error or last or None)
        facts: list[tuple[str, Any]] = list(monitor.facts()) if monitor else []
        facts += [("exp.runner_end_time", utc_now()), ("results.exit_code", code),
                  ("results.duration", round(duration, 3)), ("results.status", status)]
        if error:
            facts.append(("results.error", error))
        with part.open("a", encoding="utf-8") as stream:
            runlog.write_facts_to(stream, facts)
        return status

    def _launch(self, exp: Mapping[str, Any], script: Path,
                part: Path) -> tuple[int, str | None, Monitor | None]:
        """Start ``bash script`` in its own session; wait; return (exit code, stopped, monitor)."""
        docker = as_bool(exp.get("exp.docker", False))
        name = container_name(exp) if docker else None
        if name:
            from dlbs.dockerengine import remove_container
            remove_container(name)  # a container left by a runner that was killed outright
        with part.open("ab") as out:
            proc = subprocess.Popen(["bash", str(script)], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        monitor = self._start_monitor(exp, proc.pid, name)
        try:
            stopped = self._wait(proc, exp)
        finally:
            kill_group(proc.pid, signal.SIGKILL)  # whatever the launcher left behind
            if monitor:
                monitor.stop()
        if name and stopped:
            from dlbs.dockerengine import remove_container
            remove_container(name)
        return proc.returncode, stopped, monitor

    def _start_monitor(self, exp: Mapping[str, Any], pid: int,
                       container: str | None) -> Monitor | None:
        frequency = float(exp.get("monitor.frequency", 0) or 0)
        if frequency <= 0:
            return None
        from dlbs.monitor import Monitor  # psutil only when monitoring
        gpus = (gpu_indices(exp) or None) if as_bool(exp.get("monitor.gpu", True)) else None
        monitor = Monitor(pid, frequency, gpus, container_root(container) if container else None)
        monitor.start()
        return monitor

    def _wait(self, proc: subprocess.Popen[bytes], exp: Mapping[str, Any]) -> str | None:
        """Wait for ``proc``; stop its group on timeout or signal; return why it was stopped.

        The wait blocks (no polling latency); a timer thread stops the group at
        ``exp.timeout``, the signal handler does on Ctrl-C/SIGTERM.
        """
        timeout = float(exp.get("exp.timeout", 0) or 0)
        stopper = GroupStopper(proc.pid, float(exp.get("runtime.kill_grace", 5) or 0))
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

    # -- signals -----------------------------------------------------------------------------
    def _install_signals(self) -> Callable[[], None]:
        """Route SIGINT/SIGTERM to :meth:`_on_signal`; return what restores the old handlers."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        old = {sig: signal.signal(sig, self._on_signal) for sig in SIGNAL_NAMES}

        def restore() -> None:
            for sig, handler in old.items():
                signal.signal(sig, handler)
        return restore

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Remember the stop and pass SIGTERM to the running experiment's process group."""
        self._stop = SIGNAL_NAMES.get(signal.Signals(signum), str(signum))
        stopper = self._stopper
        if stopper is not None:
            stopper.stop("interrupted")


def kill_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to a process group; a group that is gone already is fine."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class GroupStopper:
    """Stops a process group once: SIGTERM now, SIGKILL ``grace`` seconds later.

    The SIGKILL also reaches the descendants seen while stopping that left the group (torchrun
    starts its workers in their own sessions): once the launcher is dead they are orphans that
    no process group signal finds.
    """

    def __init__(self, pgid: int, grace: float) -> None:
        import psutil  # here, not first in a signal handler
        self._psutil = psutil
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

    def kill(self) -> None:
        """SIGKILL the group and every descendant seen since :meth:`stop`."""
        with self._lock:
            self._remember_tree()
            kill_group(self.pgid, signal.SIGKILL)
            for proc in self._tree.values():
                try:
                    proc.kill()  # psutil checks that the pid was not reused
                except self._psutil.Error:
                    pass

    def kill_left(self) -> None:
        """The leader has exited: SIGKILL what is left of a stopped experiment."""
        if self.reason is not None:
            self.kill()

    def cancel(self) -> None:
        """The group's leader has exited: no SIGKILL is due any more."""
        with self._lock:
            if self._kill_timer is not None:
                self._kill_timer.cancel()


def gpu_indices(exp: Mapping[str, Any]) -> list[int]:
    """Host GPU indices of a GPU experiment (from ``exp.gpus``); empty on CPU."""
    text = str(exp.get("exp.gpus", "")).replace(":", ",")
    return [int(g) for g in text.split(",") if g.strip().isdigit()]


def container_root(name: str) -> Callable[[], int | None]:
    """A function giving the host pid of container ``name`` (looked up until found)."""
    found: list[int] = []

    def lookup() -> int | None:
        if not found:
            from dlbs.dockerengine import container_pid
            pid = container_pid(name)
            if pid:
                found.append(pid)
        return found[0] if found else None
    return lookup
