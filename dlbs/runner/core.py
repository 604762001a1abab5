"""The sweep, written once for every executor: what to run, the log, the progress, the summary.

For each experiment (in plan order) the runner decides from ``exp.status`` and ``exp.rerun``
whether to run it, renders its launch script (``dlbs.launchers``) beside its log, writes the
log header (every parameter, then provenance), hands the job to an executor (``local``: a
process group on this host; ``slurm``: a batch job), and when the executor says it ended,
appends the trailer (exit code, duration, the executor's facts, final ``results.status``).
See ``dlbs.runner.runlog`` for the ``.part``-then-rename rule that keeps logs complete, and
for the rerun policy.

An executor runs at most ``capacity`` jobs at once; the runner waits for one to end before it
starts the next. An executor that holds jobs back until all are handed over (Slurm job arrays,
``slurm.array``) submits them when the runner calls its ``flush``. One experiment's failure, timeout (``exp.timeout``) or crash never stops the
sweep. Ctrl-C or SIGTERM stops it: the executor stops the jobs in flight, their logs say
``interrupted``, and a summary is printed.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from safeio import UnsafeFileError, atomic_write_text, check_writable_target, open_text

from dlbs.errors import DLBSError, RunError
from dlbs.experiment import Experiment, ExperimentLike
from dlbs.launchers import build_script, script_file_for
from dlbs.runner import launcher_errors, runlog, sysinfo
from dlbs.runner.headline import Measured, counts, measured
from dlbs.runner.job import Ending, Executor, Job
from dlbs.runner.lock import FolderLocks
from dlbs.runner.oom import OOM_SKIP, OomMemory
from dlbs.runner.ownfiles import check_log_paths, folder_escape, remove_ours
from dlbs.runner.progress import Progress, varying_keys
from dlbs.runner.provenance import host_facts, utc_now
from dlbs.runner.saturation import SATURATION_SKIP, SaturationMemory

SKIP_STATUSES = frozenset({"disabled", "inactive"})
#: Experiments in a row whose log cannot be written before the sweep stops.
MAX_WRITE_FAILURES = 3
#: Signals that stop a sweep (SIGHUP: the terminal closed; left alone when ignored, as under
#: ``nohup``, so such a sweep keeps running).
SIGNAL_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


#: Outcomes of experiments this run did not run to an end: no result of theirs to record.
NOT_RUN_HERE = ("skipped", "simulated", "submitted", "in_flight")
#: How the reason of an experiment skipped for its finished log (``exp.rerun``) begins.
ALREADY_DONE = "already done"


@dataclass
class Outcome:
    """How one experiment ended: ``status`` is a ``results.status`` value, or skipped/simulated
    /submitted."""

    status: str
    duration: float | None = None
    log_file: str | None = None
    error: str | None = None  # the one-line reason of a failure, or why it was skipped
    warning: str | None = None  # said in the summary whatever the status (Ending.warning)
    #: The benchmark's ``exp.warnings``: said once per sweep in the summary, with how many
    #: experiments share each (the log keeps them all).
    warnings: list[str] = field(default_factory=list)
    #: What an ``ok`` run measured: its headline figure and marks (the console's line and
    #: the summary's counts); None for the rest.
    measured: Measured | None = None

    @property
    def done_before(self) -> bool:
        """Skipped because an earlier run finished its log (``exp.rerun``)."""
        return self.status == "skipped" and (self.error or "").startswith(ALREADY_DONE)


@dataclass
class Summary:
    """What a sweep did."""

    total: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: str | None = None
    halted: str | None = None

    def count(self, *statuses: str) -> int:
        """How many experiments ended with one of ``statuses``."""
        return sum(1 for o in self.outcomes if o.status in statuses)

    @property
    def failures(self) -> list[Outcome]:
        """Experiments that ran and did not end ``ok``."""
        return [o for o in self.outcomes
                if o.status != "ok" and o.status not in NOT_RUN_HERE]

    @property
    def exit_code(self) -> int:
        """130 when interrupted, 1 when an experiment failed, else 0."""
        return 130 if self.interrupted else (1 if self.failures else 0)

    def text(self) -> str:
        """A human summary (several lines) for stderr."""
        ran = len(self.outcomes)
        head = (f"run: {self.total} experiments: {self.count('ok')} ok, {len(self.failures)} "
                f"failed, {self.count('skipped')} skipped, {self.count('simulated')} simulated")
        if self.count("submitted"):
            head += (f", {self.count('submitted')} submitted (see 'experimenter status'; "
                     "'experimenter run' of the same plan records them when they end)")
        if self.count("in_flight"):
            head += (f", {self.count('in_flight')} already in flight (submitted by an earlier "
                     "run, not again; see 'experimenter status')")
        if self.interrupted:
            head += f"; interrupted by {self.interrupted}, {self.total - ran} not started"
        elif self.halted:
            head += f"; {self.halted}, {self.total - ran} not started"
        lines = [head] + [f"  {o.status}: {o.log_file}" + (f": {o.error}" if o.error else "")
                          for o in self.failures]
        lines += [f"  warning: {o.log_file}: {o.warning}" for o in self.outcomes if o.warning]
        lines += sweep_warnings(self.outcomes)
        lines += counts([o.measured for o in self.outcomes if o.measured is not None])
        skipped = [o for o in self.outcomes if o.status == "skipped"]
        one_by_one = (OOM_SKIP, SATURATION_SKIP)  # each its own reason, said with its log
        kinds = Counter((o.error or "skipped").split(" (")[0] for o in skipped
                        if not (o.error or "").startswith(one_by_one))
        if kinds:
            lines.append("  skipped: " + ", ".join(f"{n} {why}" for why, n in kinds.items()))
        lines += [f"  skipped: {o.log_file}: {o.error}" for o in skipped
                  if (o.error or "").startswith(one_by_one)]
        folders = sorted({str(Path(o.log_file).parent) for o in self.outcomes if o.log_file})
        if folders:
            lines.append(f"  logs in: {', '.join(folders[:5])}"
                         + (f" and {len(folders) - 5} more folders" if len(folders) > 5 else ""))
        if folders and self.count("ok"):
            lines.append(next_step(folders))
        return "\n".join(lines)


class Runner:
    """Runs a sequence of expanded experiments; see the module docstring."""

    def __init__(self, progress_file: str | None = None, out: IO[str] | None = None,
                 err: IO[str] | None = None, bar: bool | None = None,
                 docker_images: Mapping[str, str] | None = None,
                 executor: Executor | None = None,
                 on_finished: Callable[[Outcome], None] | None = None) -> None:
        self.progress_file, self.bar = progress_file, bar
        #: called with each outcome that has a log: of a run that ended, and of an experiment
        #: skipped as already done (``experimenter run --db`` stores it: an earlier runner
        #: killed between the log's end and its store left it in no database)
        self.on_finished = on_finished
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.docker_images = dict(docker_images or {})
        self._executor = executor
        self._inflight: list[Job] = []
        self._stop: str | None = None  # the signal that stops the sweep
        self._halt: str | None = None  # why the sweep cannot go on (logs cannot be written)
        self._write_failures = 0
        self._oom = OomMemory()
        self._saturated = SaturationMemory()
        self._warned_sources: set[str] = set()
        self._locks: FolderLocks | None = None

    @property
    def executor(self) -> Executor:
        """The executor jobs go to (the local one unless another was given)."""
        if self._executor is None:
            from dlbs.runner.local import LocalExecutor
            self._executor = LocalExecutor()
        return self._executor

    # -- the sweep ---------------------------------------------------------------------------
    def run(self, experiments: Sequence[ExperimentLike]) -> Summary:
        """Run every experiment in order; return the summary (never raises for one failure).

        Each experiment is read once, here, into its :class:`Experiment` view: the sweep and
        the executors read its fields; its dict (``raw``) goes into the log's header as it is.
        """
        views = [Experiment.of(exp) for exp in experiments]
        summary = Summary(total=len(views))
        progress = Progress(summary.total, self.progress_file, self.err, self.bar,
                            varying_keys([exp.raw for exp in views]))
        self.executor.attach_note(progress.note)  # news while a job waits (Slurm)
        locks = self._locks = FolderLocks(log_folders(views))
        try:
            locks.acquire()  # one runner per log folder
        except BaseException:
            progress.close("refused")
            raise
        restore = self._install_signals()
        state = "finished"
        try:
            self._oom.learn_from_logs(views)  # OOMs of earlier runs
            for index, exp in enumerate(views):
                if self._stop or self._halt:
                    break
                self._dispatch(index, exp, progress, summary)
            self._flush(progress, summary)
            while self._inflight:
                self._collect(progress, summary)
        except BaseException:
            state = "error"  # the sweep did not finish: never say it did
            raise
        finally:
            restore()
            self.executor.close()
            summary.interrupted, summary.halted = self._stop, self._halt
            progress.close("interrupted" if self._stop or self._halt else state)
            locks.release()
        return summary

    def _record(self, index: int, outcome: Outcome, progress: Progress,
                summary: Summary, exp: Experiment | None = None) -> None:
        if exp is not None:
            self._oom.note(exp, outcome.status, outcome.log_file)
            self._saturated.note(exp, outcome.log_file)
        summary.outcomes.append(outcome)
        progress.finish(index, outcome.status, outcome.duration,
                        outcome.measured.text() if outcome.measured else "")
        if self.on_finished is not None and outcome.log_file and \
                (outcome.status not in NOT_RUN_HERE or outcome.done_before):
            try:
                self.on_finished(outcome)
            except Exception as err:  # noqa: BLE001 - a hook never stops the sweep
                print(f"warning: {outcome.log_file}: {err}", file=self.err)

    def _dispatch(self, index: int, exp: Experiment, progress: Progress,
                  summary: Summary) -> None:
        status, log_file = exp.status, exp.log_file
        if status in SKIP_STATUSES:
            return self._record(index, Outcome("skipped", error=f"exp.status={status}"),
                                progress, summary)
        if status == "simulate":
            self._simulate(index, exp, progress.total)
            return self._record(index, Outcome("simulated", log_file=log_file or None),
                                progress, summary)
        if not log_file.strip():
            raise RunError(f"experiment {index}: exp.log_file is not set; set exp.log_dir "
                           "(a plan file needs exp.log_file in every experiment)")
        try:  # something planted at one of its names fails this experiment only
            check_log_paths(exp, *side_files(log_file))
            return self._dispatch_logged(index, exp, progress, summary)
        except UnsafeFileError as err:
            return self._record(index, refused(exp, err), progress, summary)

    def _dispatch_logged(self, index: int, exp: Experiment, progress: Progress,
                         summary: Summary) -> None:
        """Adopt, skip or start an experiment whose log names were found fit to write."""
        log_file = exp.log_file
        adopted = self._adopt(index, exp, progress, summary)
        if adopted is True:
            return None
        if adopted is False:
            stale = self._close_stale(Path(str(log_file)))
            if stale is not None:  # this experiment fails alone: the sweep goes on
                return self._record(index, stale, progress, summary)
        run, why = runlog.rerun_decision(exp)
        if not run:  # an ended job just recorded counts as what it ended with
            outcome = adopted or Outcome("skipped", log_file=log_file,
                                         error=f"{ALREADY_DONE} ({why})")
            return self._record(index, outcome, progress, summary)
        self._make_room(progress, summary)  # the jobs ended meanwhile teach OomMemory too
        if self._stop or self._halt:
            return None
        too_large = self._oom.reason_to_skip(exp) or self._saturated.reason_to_skip(exp)
        if too_large:
            return self._record(index, Outcome("skipped", log_file=log_file, error=too_large),
                                progress, summary)
        progress.start(index, exp)
        self._start(index, exp, progress, summary)
        return None

    def _close_stale(self, log_file: Path) -> Outcome | None:
        """A ``.part`` no runner writes (this one holds the folder's lock, and no job of it is
        in flight) was left by a runner killed outright: mark it interrupted, keeping a
        complete older log in place (the ``.part`` is then set aside as ``<log>.interrupted``).
        Where it goes is checked before the ``.part`` is touched; something planted there
        raises ``UnsafeFileError``, and a ``.part`` that cannot be settled gives this
        experiment's failure (never the sweep's end)."""
        part = runlog.part_file(log_file)
        if not os.path.lexists(part):
            return None
        why = "the runner writing this log was killed outright (no trailer); it runs again"
        facts = [("results.exit_code", None), ("results.status", "interrupted"),
                 ("results.error", why)]
        check_writable_target(part)
        check_writable_target(settled_name(log_file, interrupted=True))
        try:
            with open_text(part, append=True, create=False) as stream:
                runlog.write_facts_to(stream, facts)
            self._settle(part, log_file, interrupted=True)
        except UnsafeFileError:
            raise
        except OSError as err:
            return Outcome("failure", log_file=str(log_file),
                           error=f"cannot mark the stale {part} interrupted: "
                                 f"{err.strerror or err}")
        self.err.write(f"note: {part} was left by a runner killed outright; marked "
                       "interrupted\n")
        return None

    def _adopt(self, index: int, exp: Experiment, progress: Progress,
               summary: Summary) -> bool | Outcome:
        """Take over a job a previous runner left; True when it still runs (nothing to start).

        A job that ended unwatched gets its trailer now and its outcome is returned; the rerun
        policy then reads its log. False: there was no such job.
        """
        found = self.executor.recover(index, exp)
        if found is None:
            return False
        job, ending = found
        if ending is not None:
            return self.finish(job, ending)
        if self.executor.detached:  # left in flight by an earlier run: nothing submitted now
            self._record(index, Outcome("in_flight", log_file=str(job.log_file),
                                        error=f"job {job.handle}"), progress, summary)
        else:
            progress.start(index, exp)
            self._inflight.append(job)
        return True

    def _flush(self, progress: Progress, summary: Summary) -> None:
        """Submit what an executor holds back until every job is handed over (Slurm job
        arrays); with ``--detach`` the submitted jobs are then recorded as such."""
        if not self._stop:
            for job, ending in self.executor.flush():
                self._inflight.remove(job)
                self._record(job.index, self.finish(job, ending), progress, summary, job.view)
        if self.executor.detached:
            for job in self._inflight:
                self._record(job.index, Outcome("submitted", log_file=str(job.log_file)),
                             progress, summary)
            self._inflight.clear()

    def _make_room(self, progress: Progress, summary: Summary) -> None:
        while len(self._inflight) >= max(1, self.executor.capacity) and not self._stop:
            self._collect(progress, summary)

    def _collect(self, progress: Progress, summary: Summary) -> None:
        for job, ending in self.executor.wait():
            if job in self._inflight:
                self._inflight.remove(job)
            if ending.not_started:  # nothing of it ran: no log, counted as not started
                remove_ours(job.part, *([job.script] if job.script else []))
                progress.drop(job.index)
                continue
            outcome = self.finish(job, ending)
            self._record(job.index, outcome, progress, summary, job.view)

    def _simulate(self, index: int, exp: Experiment, total: int) -> None:
        log_file = json.dumps(exp.log_file)
        self.out.write(f"# ---- experiment {index + 1}/{total}: {log_file}\n")
        self.out.write(build_script(exp))
        self.out.flush()

    # -- one experiment ----------------------------------------------------------------------
    def _start(self, index: int, exp: Experiment, progress: Progress,
               summary: Summary) -> None:
        try:
            job, problem = self.prepare(index, exp)
        except RunError as err:  # no log could be written (disk full, folder gone...)
            return self._record(index, self._write_failed(exp, str(err)), progress, summary)
        if not problem:
            try:
                self.executor.start(job)
            except UnsafeFileError as err:  # planted after the checks: nothing of ours is left
                remove_ours(job.part, *([job.script] if job.script else []))
                return self._record(index, refused(exp, err), progress, summary)
            except DLBSError as err:
                problem = str(err)
            except OSError as err:  # e.g. the log or a script could not be opened
                problem = f"could not start: {err.strerror or err} ({err.filename or job.part})"
        if problem:
            outcome = self.finish(job, Ending(exit_code=None, error=problem))
            return self._record(index, outcome, progress, summary)
        if self.executor.detached and not self.executor.deferred:
            return self._record(index, Outcome("submitted", log_file=str(job.log_file)),
                                progress, summary)
        self._inflight.append(job)
        return None

    def run_experiment(self, exp: Experiment) -> Outcome:
        """Run one experiment whatever its log says; write its complete log."""
        job, problem = self.prepare(0, exp)
        if problem:
            return self.finish(job, Ending(exit_code=None, error=problem))
        try:
            self.executor.start(job)
            ((job, ending),) = self.executor.wait()
        finally:
            self.executor.close()
        return self.finish(job, ending)

    def _write_failed(self, exp: Experiment, error: str,
                      keep: Path | None = None) -> Outcome:
        """An experiment whose log could not be written: nothing of it is left behind, except
        ``keep``, the ``.part`` of a run that ended (its trailer or rename failed: it holds
        the benchmark's facts, and its name says it is incomplete); after MAX_WRITE_FAILURES
        in a row the sweep stops (the next ones would fail the same way)."""
        log_file = Path(exp.log_file)
        if keep is not None and os.path.isfile(keep):
            error += f"; what the run wrote is kept in {keep}"
        else:
            remove_ours(runlog.part_file(log_file), Path(script_file_for(str(log_file))))
        error = error.replace(f" {log_file}:", ":")  # the summary line names the log already
        self._write_failures += 1
        if self._write_failures >= MAX_WRITE_FAILURES:
            self._halt = (f"stopped: the logs of {MAX_WRITE_FAILURES} experiments in a row "
                          f"could not be written ({error})")
        return Outcome("failure", log_file=str(log_file), error=error)

    def prepare(self, index: int, exp: Experiment) -> tuple[Job, str]:
        """Write the launch script and the log header; return the job and a build problem.
        Something planted at a name it writes raises ``UnsafeFileError`` (nothing of this
        experiment is left then); a log that cannot be written, ``RunError``."""
        log_file = Path(exp.log_file)
        part = runlog.part_file(log_file)
        escape = folder_escape(exp)  # before a folder is made: it would be made outside
        if escape is not None:
            raise escape
        script: Path | None = None
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            if self._locks is not None:
                self._locks.renew(log_file.parent)  # the folder may have been removed
            script, problem = self._write_script(exp, log_file)
            # A new file, not the old one truncated: a benchmark orphaned by a runner killed
            # outright may still be appending to the old ``.part``.
            check_writable_target(part)
            part.unlink(missing_ok=True)
            with open_text(part) as stream:
                runlog.write_facts_to(stream, self._header(exp))
                offset = stream.tell()
        except UnsafeFileError:
            remove_ours(*([script] if script else []))
            raise
        except OSError as err:
            raise RunError(f"cannot write the log {log_file}: {err.strerror or err}") from None
        return Job(index=index, exp=exp.raw, log_file=log_file, offset=offset, script=script,
                   made=exp), problem

    def _write_script(self, exp: Experiment, log_file: Path) -> tuple[Path | None, str]:
        """Render and keep the launch script; a bad experiment gives ``(None, reason)``."""
        try:
            text = build_script(exp)
        except DLBSError as err:
            return None, str(err)
        path = Path(script_file_for(str(log_file)))
        atomic_write_text(path, text, mode=0o755)  # never through a link planted at its name
        return path, ""

    def _header(self, exp: Experiment) -> list[tuple[str, Any]]:
        """The log's header: every parameter as the plan gives it, then provenance (and the
        image's id, of a container experiment whose image the sweep looked up)."""
        facts = list(exp.raw.items()) + list(host_facts())
        if exp.in_container and exp.image in self.docker_images:
            facts.append(("exp.docker_image_id", self.docker_images[exp.image]))
        facts.append(("exp.runner_start_time", utc_now()))
        return facts

    def finish(self, job: Job, ending: Ending) -> Outcome:
        """Append the trailer to the job's ``.part`` and rename it to the log (an interrupted
        run never replaces a complete older log: it is set aside as ``<log>.interrupted``)."""
        duration = ending.duration if ending.duration is not None else \
            time.monotonic() - job.started
        ending.facts = [*ending.facts, *self._sys_info(job.view)]
        try:
            check_log_paths(job.view)  # a sub-folder swapped for a link while it ran
            status, error, warnings, found = write_trailer(job, ending, duration, self._stop)
            kept = self._settle(job.part, job.log_file,
                                interrupted=status in runlog.RERUN_STATUSES)
            if kept == job.log_file:
                drop_stale_attempts(job)
        except UnsafeFileError as err:  # its .part was replaced by a link meanwhile
            return refused(job.view, err)
        except OSError as err:  # a full disk: what the benchmark wrote stays in the .part
            return self._write_failed(job.view, f"cannot write the log {job.log_file}: "
                                               f"{err.strerror or err}", keep=job.part)
        self._write_failures = 0
        return Outcome(status, duration, str(kept), error, warning=ending.warning,
                       warnings=warnings, measured=found if status == "ok" else None)

    @staticmethod
    def _settle(part: Path, log_file: Path, interrupted: bool) -> Path:
        """Rename a finished ``.part``; return where the log is (something planted there
        raises ``UnsafeFileError``, and the ``.part`` stays)."""
        target = settled_name(log_file, interrupted)
        check_writable_target(target)
        os.replace(part, target)
        return target

    def _sys_info(self, exp: Experiment) -> list[tuple[str, Any]]:
        """``exp.sys_info``'s ``hw.<source>`` facts; a missing source is warned about once."""
        names = sysinfo.requested(exp.sys_info)
        if not names:
            return []
        if self.executor.name != "local":
            why = (f"not collected: with exp.scheduler={self.executor.name} the runner's host "
                   "is not the one that ran the experiment")
            facts, missing = [("hw.sys_info_missing", dict.fromkeys(names, why))], \
                dict.fromkeys(names, why)
        else:
            facts, missing = sysinfo.collect(exp.sys_info)
        new = {name: why for name, why in missing.items() if name not in self._warned_sources}
        if new:  # one line a sweep names them all (more only if later experiments ask others)
            self._warned_sources.update(new)
            named = "; ".join(f"'{name}': {why}" for name, why in new.items())
            self.err.write(f"warning: exp.sys_info sources not in the logs: {named}\n")
        cut = [name for name in sysinfo.truncated(facts) if f"{name}:cut" not in
               self._warned_sources]
        if cut:
            self._warned_sources.update(f"{name}:cut" for name in cut)
            self.err.write(f"warning: exp.sys_info output cut at {sysinfo.MAX_SOURCE_BYTES >> 20} "
                           f"MiB (hw.<source>_truncated): {', '.join(cut)}\n")
        return facts

    # -- signals -----------------------------------------------------------------------------
    def _install_signals(self) -> Callable[[], None]:
        """Route SIGINT/SIGTERM to :meth:`_on_signal`; return what restores the old handlers."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        old = {sig: signal.signal(sig, self._on_signal) for sig in SIGNAL_NAMES
               if signal.getsignal(sig) is not signal.SIG_IGN}

        def restore() -> None:
            for sig, handler in old.items():
                signal.signal(sig, handler)
        return restore

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Remember the stop and pass it to the executor (which stops the jobs in flight)."""
        self._stop = SIGNAL_NAMES.get(signal.Signals(signum), str(signum))
        self.executor.stop(self._stop)


def log_folders(experiments: Sequence[Experiment]) -> set[Path]:
    """The folders the runnable experiments write their logs to (a folder that resolves
    outside its ``exp.log_dir`` is not one: its experiment is refused, and no lock file is
    made there)."""
    return {Path(e.log_file).parent for e in experiments
            if e.status not in SKIP_STATUSES | {"simulate"}
            and e.log_file.strip() and folder_escape(e) is None}


def side_files(log_file: str) -> list[Path]:
    """Every name the runner or an executor writes for the experiment logged in
    ``log_file``: the log, its ``.part``, script, ``.interrupted``, Slurm's ``.job`` and
    ``.end``, and the ``.attemptN`` files already there (checked before any is written)."""
    path = Path(log_file)
    names = [path, runlog.part_file(path), Path(script_file_for(log_file)),
             Path(f"{log_file}.interrupted"), Path(f"{log_file}.job"), Path(f"{log_file}.end")]
    try:
        attempts = sorted(entry for entry in os.listdir(path.parent or ".")
                          if entry.startswith(f"{path.name}.attempt"))
    except OSError:
        attempts = []
    return names + [path.parent / entry for entry in attempts]


def drop_stale_attempts(job: Job) -> None:
    """Remove the ``<log>.attemptN`` files of an earlier run of the log just replaced (a run
    Slurm requeued, then run again without requeues): they were written before this job was
    handed over, and would be read as this log's attempts."""
    if not os.path.lexists(f"{job.log_file}.attempt1"):
        return  # the usual case: no attempt files to look for (no listing of the folder)
    started = time.time() - (time.monotonic() - job.started) - 1.0
    for path in side_files(str(job.log_file)):
        if not path.name.startswith(f"{job.log_file.name}.attempt"):
            continue
        try:
            if os.lstat(path).st_mtime < started:
                remove_ours(path)
        except OSError:
            pass


def settled_name(log_file: Path, interrupted: bool) -> Path:
    """Where a finished ``.part`` goes: the log, or ``<log>.interrupted`` for an interrupted
    run while a complete older log is kept."""
    if interrupted and runlog.log_state(log_file) in (runlog.LogState.OK,
                                                      runlog.LogState.FAILED):
        return Path(f"{log_file}.interrupted")
    return log_file


def refused(exp: Experiment, err: UnsafeFileError) -> Outcome:
    """An experiment refused because something was planted at a name of its log: a failure
    whose one-line reason names the path (no log is written: the next run tries again)."""
    return Outcome("failure", log_file=exp.log_file, error=str(err))


def failure_reason(exp: Experiment, part: Path, offset: int, output: Mapping[str, Any],
                   error: str | None) -> str | None:
    """The one-line reason of a failed run (None: the benchmark's own ``results.error``
    stands). A failed torchrun's own line comes first: a rendezvous nobody came to, or the
    rank that failed first, named with its signal (before what the log's rank reported, which
    is then a symptom, when that rank was killed); else the exit and the last output line."""
    reported = output.get("results.error")
    text = runlog.output_tail(part, offset, launcher_errors.TAIL_CHARS)
    where, timeout = "", None
    if exp.num_nodes > 1:
        where, timeout = exp.rendezvous, exp.rendezvous_timeout or None
    line = launcher_errors.launcher_failure(text, where, timeout)
    if line and reported:
        first = launcher_errors.parse_failures(text)[:1]
        own = launcher_errors.rank_error(text, first[0].rank) if first else None
        if own and own != reported:  # the first failed rank's own reason, not a symptom
            return f"{line}; the benchmark reported: {own}"
        if not first or first[0].exitcode is None or first[0].exitcode >= 0:
            return None  # the failed rank's own error (or one launcher line less) is better
        return f"{line}; the benchmark reported: {reported}"
    if line or reported:
        return line
    last = runlog.last_output_line(part, offset)
    return f"{error}; last output: {last}" if error and last else (error or last or None)


def peer_crash_reason(part: Path, offset: int, output: Mapping[str, Any]) -> str | None:
    """The one line of a run whose torchrun summary names a rank that crashed before any rank
    stopped cleanly (torchrun then sends SIGTERM to the survivors, so the benchmark's
    ``interrupted`` is a symptom): torchrun's line, then what the benchmark reported; None
    when no rank crashed first."""
    text = runlog.output_tail(part, offset, launcher_errors.TAIL_CHARS)
    if launcher_errors.crashed_first(text) is None:
        return None
    line = launcher_errors.failure_line(text) or "torchrun: a rank failed"
    first = launcher_errors.crashed_first(text)
    reported = (launcher_errors.rank_error(text, first.rank if first else None)
                or output.get("results.error"))
    return f"{line}; the benchmark reported: {reported}" if reported else line


def write_trailer(job: Job, ending: Ending, duration: float, signal_name: str | None
                  ) -> tuple[str, str | None, list[str], Measured]:
    """Append the trailer facts of ``job`` to its ``.part``; return the final status, its
    one-line reason, the benchmark's warnings (``exp.warnings``) and what it measured."""
    exp, part = job.view, job.part
    output = runlog.read_output_facts(part, job.offset)
    status, error = runlog.final_status(output, ending.exit_code, ending.stopped)
    if ending.error:
        error = ending.error
        if ending.stopped is None and status == "ok" or ending.stopped is None and ending.exit_code is None:
            status = "failure"
    elif ending.stopped == "timeout":
        error = (f"timed out after {exp.timeout_text} s (exp.timeout); "
                 "process group killed")
    elif ending.stopped == "interrupted":
        error = f"interrupted by {signal_name or 'a signal'}"
    elif status == "interrupted" and (crash := peer_crash_reason(part, job.offset, output)):
        status, error = "failure", crash  # torchrun stopped this rank: another one died first
    elif status != "ok":
        error = failure_reason(exp, part, job.offset, output, error)
    facts: list[tuple[str, Any]] = list(ending.facts)
    facts += [("exp.runner_end_time", utc_now()), ("results.exit_code", ending.exit_code),
              ("results.duration", round(duration, 3)), ("results.status", status)]
    if error:
        facts.append(("results.error", error))
    runlog.append_facts(part, facts)
    said = output.get("exp.warnings")
    warnings = [str(w) for w in said] if isinstance(said, list) else []
    return status, (error or output.get("results.error")), warnings, measured(output)


#: Distinct benchmark warnings a sweep's summary names (the rest are counted).
MAX_SWEEP_WARNINGS = 5


def next_step(folders: Sequence[str]) -> str:
    """The command that turns this sweep's logs into tables and charts (quoted for a shell)."""
    many = len(folders) > 1
    target = shlex.quote(os.path.commonpath(folders) if many else folders[0])
    return (f"  next: dlbs report {target}{' --recursive' if many else ''} --plot charts "
            "(tables with intervals, and charts; docs/reports.md)")


def sweep_warnings(outcomes: Sequence[Outcome]) -> list[str]:
    """Each distinct ``exp.warnings`` sentence once, with how many experiments said it: a
    warning that does not change between runs (no energy counter on this host) is said once
    per sweep, not once per experiment."""
    counts = Counter(w for o in outcomes for w in dict.fromkeys(o.warnings))
    ran = sum(1 for o in outcomes if o.warnings or o.status not in ("skipped", "simulated",
                                                                   "submitted"))
    lines = [f"  warning ({n} of {ran} experiment{'s' if ran != 1 else ''}): {text}"
             for text, n in list(counts.items())[:MAX_SWEEP_WARNINGS]]
    if len(counts) > MAX_SWEEP_WARNINGS:
        lines.append(f"  and {len(counts) - MAX_SWEEP_WARNINGS} more distinct warnings "
                     "(exp.warnings in the logs)")
    return lines
