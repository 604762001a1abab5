"""The Slurm executor (``exp.scheduler=slurm``): each experiment is one batch job.

- ``start`` renders the batch script beside the log (``<log>.sbatch``, see
  ``dlbs.slurm.script``), submits it with its output appended to the log's ``.part``, and
  writes the job id to ``<log>.job`` so that a later ``run`` or ``status`` knows the job.
- ``wait`` polls ``squeue`` (one call for every job in flight, once a second; at once when a
  job's batch script has written its end file ``<log>.end``) until a job has ended, then asks
  how it ended (``scontrol``, else ``sacct``). It stops a job at ``exp.timeout`` seconds after
  it started (``scancel``), and on Ctrl-C cancels every job this runner has in flight.
- ``recover`` adopts a job a previous runner submitted (``--detach``, or a runner that died):
  still pending or running, it is waited for instead of submitted twice; ended, its log is
  completed from what the scheduler says.
- ``slurm.max_jobs`` bounds the jobs in flight. With ``--detach`` nobody waits, so the bound is
  kept by Slurm itself: jobs are submitted in ``max_jobs`` chains, each job depending on the
  end of the one before it in its chain (``--dependency=afterany``).
- While a job waits in the queue, its pending reason is told (``note``) each time it changes;
  ``slurm.queue_timeout`` seconds pending (a dependency aside) cancel it: ``pending_timeout``.
- Jobs are submitted ``--no-requeue`` unless ``slurm.requeue=true``; how a job that ended
  becomes ``results.status`` (Slurm's end states, requeues, the rank that failed first) is
  ``dlbs.slurm.endings``'s; the job record beside the log is ``dlbs.slurm.jobfile``'s.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from safeio import UnsafeFileError, atomic_write_text, check_writable_target

from dlbs.errors import DLBSError, RunError
from dlbs.experiment import Experiment
from dlbs.runner import runlog
from dlbs.runner.job import Ending, Job
from dlbs.slurm import ctl, endings, output
from dlbs.slurm.ctl import JobInfo
from dlbs.slurm.jobfile import job_file, read_job_file, write_job_file
from dlbs.slurm.script import (
    MAX_ARRAY_TASKS,
    array_group,
    array_stem,
    batch_file_for,
    build_array_script,
    build_batch_script,
    end_file_for,
    queue_timeout,
    requeue,
)

#: ``squeue`` is asked every QUEUE_POLL_S (gentle on a real controller); the job's end file,
#: written by its batch script when srun returns, is looked at every FILE_POLL_S, and once it
#: is there ``squeue`` is asked every FILE_POLL_S until Slurm says the job has ended.
QUEUE_POLL_S, FILE_POLL_S = 1.0, 0.05
CANCEL_WAIT_S = 30.0
LOST_CONTACT_S = 120.0
#: Job states of a job waiting in the queue (a requeued job passes through the REQUEUE ones).
PENDING_STATES = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"})
#: Pending reasons that are the plan's own order, not a wait for resources: not counted by
#: ``slurm.queue_timeout`` (jobs of a ``--detach`` chain wait for the one before them, tasks of
#: a job array for their turn under ``%slurm.max_jobs``).
ORDER_REASONS = ("Dependency", "JobArrayTaskLimit")


def print_note(index: int, text: str) -> None:
    """Where an executor's news go when no progress display is attached: stderr."""
    print(text, file=sys.stderr, flush=True)


class SlurmExecutor:
    """Runs jobs as Slurm batch jobs; see the module docstring."""

    name = "slurm"

    def __init__(self, max_jobs: int = 1, detach: bool = False,
                 clock: Callable[[], float] = time.monotonic, array: bool = False) -> None:
        self.detached = detach
        self.max_jobs = max(1, max_jobs)
        self.array = array
        self.deferred = array  # jobs handed over are submitted at flush(), not at start()
        # Arrays: every job is handed over first, then submitted at once (flush); Slurm keeps
        # the bound (--array=...%max_jobs), as it does for detached chains.
        self.capacity = 1 << 30 if detach or array else self.max_jobs
        self._unsubmitted: list[Job] = []
        self._jobs: dict[str, Job] = {}
        self._running_since: dict[str, float] = {}
        self._cancelled: dict[str, str] = {}  # job id -> why this runner cancelled it
        self._chains: list[str | None] = [None] * self.max_jobs
        self._next_chain = 0
        self._stop: str | None = None
        self._silent_since: float | None = None
        self._clock = clock
        self._pending_since: dict[str, float] = {}  # job id -> since when it waits (clock)
        self._reasons: dict[str, str] = {}  # job id -> the pending reason last told
        self._requeued: set[str] = set()  # jobs told to be requeued
        #: Told of a pending reason or a requeue: (index of the experiment, one line).
        self.note: Callable[[int, str], None] = print_note

    def attach_note(self, note: Callable[[int, str], None]) -> None:
        """Tell pending reasons and requeues to ``note`` (the runner's progress display)."""
        self.note = note

    # -- submitting --------------------------------------------------------------------------
    def start(self, job: Job) -> None:
        """Write the batch script and submit it; record the job id beside the log."""
        assert job.script is not None
        batch = Path(batch_file_for(str(job.log_file)))
        end_file = Path(end_file_for(str(job.log_file)))
        for path in (batch, job_file(job.log_file), end_file):
            check_writable_target(path)  # planted: refused before anything is submitted
        try:
            end_file.unlink(missing_ok=True)
            text = build_batch_script(job.view, str(job.script.resolve()), str(end_file.resolve()))
        except DLBSError as err:
            raise RunError(str(err)) from None
        atomic_write_text(batch, text, mode=0o755)
        if self.array:  # submitted with the others of its array by flush()
            self._unsubmitted.append(job)
            return
        dependency = self._chains[self._next_chain] if self.detached else None
        job_id = ctl.submit(str(batch.resolve()), str(job.part.resolve()), dependency,
                                 requeue=requeue(job.view))
        if self.detached:
            self._chains[self._next_chain] = job_id
            self._next_chain = (self._next_chain + 1) % self.max_jobs
        self._submitted(job, job_id)

    def _submitted(self, job: Job, job_id: str) -> None:
        """Record the job id beside the log (a RunError, the job cancelled, when it cannot
        be: a job nobody could adopt later would run twice)."""
        try:
            write_job_file(job.log_file, {"job_id": job_id, "offset": job.offset,
                                          "submitted": time.time()})
        except OSError as err:
            ctl.cancel([job_id])
            raise RunError(f"job {job_id} was submitted but its record {job.log_file}.job "
                           f"could not be written ({err.strerror or err}); it was cancelled"
                           ) from None
        job.handle = job_id
        self._jobs[job_id] = job

    # -- job arrays --------------------------------------------------------------------------
    def flush(self) -> list[tuple[Job, Ending]]:
        """Submit the jobs handed over since the last flush as job arrays: one per group of
        equal sbatch options (``array_group``), split every MAX_ARRAY_TASKS tasks. Returns the
        jobs that could not be submitted, each with its ending (the others are in flight)."""
        if self._stop:  # stopped before they were submitted: nothing of them ran
            stopped, self._unsubmitted = self._unsubmitted, []
            return [(job, Ending(exit_code=None, stopped="interrupted", not_started=True))
                    for job in stopped]
        groups: dict[tuple[str, ...], list[Job]] = {}
        for job in self._unsubmitted:
            groups.setdefault(array_group(job.view), []).append(job)
        self._unsubmitted = []
        failed: list[tuple[Job, Ending]] = []
        # slurm.max_jobs bounds the sweep, and %K bounds one array: each array waits for the
        # end of the one before it, the first for the jobs already in flight (a resumed run's)
        after = sorted({job_id.split("_")[0] for job_id in self._jobs})
        for group, jobs in groups.items():
            for first in range(0, len(jobs), MAX_ARRAY_TASKS):
                chunk = jobs[first:first + MAX_ARRAY_TASKS]
                try:
                    failed_now, array_id = self._submit_array(group, chunk, ":".join(after))
                    failed += failed_now
                    after = [array_id]
                except (DLBSError, OSError) as err:
                    why = str(err) if isinstance(err, (DLBSError, UnsafeFileError)) else \
                        f"{err.strerror or err} ({err.filename})"
                    failed += [(job, Ending(exit_code=None,
                                            error=f"the job array was not submitted: {why}"))
                               for job in chunk]
        return failed

    def _submit_array(self, group: tuple[str, ...], jobs: list[Job],
                      after: str) -> tuple[list[tuple[Job, Ending]], str]:
        """Write one array's batch script (its task list inside) beside its first log, submit
        it, and record each task's id (``ARRAYID_TASK``) beside its log."""
        stem = array_stem(str(jobs[0].log_file))
        script, out_file = Path(stem + ".sbatch"), Path(stem + ".out")
        for path in (script, out_file):
            check_writable_target(path)
        entries = [(str(Path(batch_file_for(str(job.log_file))).resolve()),
                    str(job.part.resolve())) for job in jobs]
        atomic_write_text(script, build_array_script(group, entries, self.max_jobs),
                          mode=0o755)
        array_id = ctl.submit(str(script.resolve()), str(out_file.resolve()), after or None,
                                   requeue=group[0] == "--requeue")
        failed: list[tuple[Job, Ending]] = []
        for task, job in enumerate(jobs):
            try:
                self._submitted(job, f"{array_id}_{task}")
            except RunError as err:
                failed.append((job, Ending(exit_code=None, error=str(err))))
        return failed, array_id

    # -- adopting what a previous runner left ------------------------------------------------
    def recover(self, index: int, exp: Experiment) -> tuple[Job, Ending | None] | None:
        """The job of ``exp`` left by a previous runner: (job, None) while it is pending or
        running (it is now tracked), (job, ending) when it has ended; None when there is none."""
        log_file = Path(exp.log_file)
        record = read_job_file(log_file)
        if record is None or not runlog.part_file(log_file).exists():
            return None
        job_id = str(record["job_id"])
        job = Job(index=index, exp=exp.raw, log_file=log_file,
                  offset=int(record.get("offset", 0)), handle=job_id, made=exp)
        info = ctl.queue([job_id]).get(job_id)
        if info is not None and info.active:
            self._jobs[job_id] = job
            if info.state == "RUNNING":
                self._running_since[job_id] = self._clock()
            if self.detached:  # keep the bound: new jobs wait behind it in its chain
                self._chains[self._next_chain] = job_id
                self._next_chain = (self._next_chain + 1) % self.max_jobs
            return job, None
        return job, self._ending(job)

    # -- waiting -----------------------------------------------------------------------------
    def wait(self) -> list[tuple[Job, Ending]]:
        """Poll until at least one job in flight has ended; return the ended ones."""
        if self._unsubmitted:
            failed = self.flush()
            if failed:
                return failed
        cancel_deadline: float | None = None
        next_query = 0.0
        while True:
            if self._stop and cancel_deadline is None:
                self._cancel_all("interrupted")
                cancel_deadline = self._clock() + CANCEL_WAIT_S
            if self._clock() >= next_query or self._ending_soon():
                states = self._queue()
                if states is None:  # Slurm did not answer this time
                    next_query = self._clock() + QUEUE_POLL_S
                    time.sleep(FILE_POLL_S)
                    continue
                ended = [job_id for job_id in self._jobs
                         if job_id not in states or not states[job_id].active]
                if ended:
                    return [self._finish(job_id) for job_id in ended]
                if cancel_deadline is not None and self._clock() > cancel_deadline:
                    return [self._finish(job_id) for job_id in list(self._jobs)]
                self._watch(states)
                next_query = self._clock() + QUEUE_POLL_S
            time.sleep(FILE_POLL_S)

    def _queue(self) -> dict[str, JobInfo] | None:
        """``squeue`` of the jobs in flight; None while Slurm does not answer, a RunError once
        it has not answered for LOST_CONTACT_S (the jobs go on; a later run adopts them)."""
        try:
            states = ctl.queue(self._jobs)
        except RunError as err:
            now = self._clock()
            if self._silent_since is None:
                self._silent_since = now
            if now - self._silent_since > LOST_CONTACT_S:
                raise RunError(f"lost contact with Slurm for {LOST_CONTACT_S:.0f} s ({err}); "
                               "the jobs in flight go on: run the same plan again to follow "
                               "them") from None
            return None
        self._silent_since = None
        return states

    def _ending_soon(self) -> bool:
        """Whether a job's batch script has written its end file (srun has returned)."""
        return any(Path(end_file_for(str(job.log_file))).exists()
                   for job in self._jobs.values())

    def _watch(self, states: Mapping[str, JobInfo]) -> None:
        """Follow the jobs in flight: pending reasons and ``slurm.queue_timeout`` while they
        wait, ``exp.timeout`` while they run (counted afresh for each attempt)."""
        now = self._clock()
        for job_id, info in states.items():
            if job_id not in self._jobs:
                continue
            if info.state in PENDING_STATES:
                self._while_pending(job_id, info, now)
            elif info.state == "RUNNING":
                self._while_running(job_id, now)

    def _while_pending(self, job_id: str, info: JobInfo, now: float) -> None:
        job = self._jobs[job_id]
        # A pending job has no end: an end file is an earlier attempt's (Slurm requeued it).
        Path(end_file_for(str(job.log_file))).unlink(missing_ok=True)
        ran = self._running_since.pop(job_id, None) is not None
        reason = info.reason if info.reason not in ("", "None") else ""
        if reason and reason != self._reasons.get(job_id):
            self._reasons[job_id] = reason
            # Requeued between two looks at the queue: its output holds an attempt already.
            ran = ran or output.started_before(job.part, job.offset)
            if ran and job_id not in self._requeued:
                self._requeued.add(job_id)
                self.note(job.index, f"requeued: Slurm job {job_id} ({job.log_file.name}) "
                                     "is back in the queue; the log keeps its last attempt")
            self.note(job.index, f"pending: Slurm job {job_id} ({job.log_file.name}): {reason}")
        if reason.startswith(ORDER_REASONS):
            self._pending_since.pop(job_id, None)
            return
        since = self._pending_since.setdefault(job_id, now)
        limit = queue_timeout(job.view)
        if limit > 0 and now - since > limit and job_id not in self._cancelled:
            self._cancelled[job_id] = "pending_timeout"
            ctl.cancel([job_id])

    def _while_running(self, job_id: str, now: float) -> None:
        self._pending_since.pop(job_id, None)
        since = self._running_since.setdefault(job_id, now)
        timeout = self._jobs[job_id].view.timeout
        if timeout > 0 and now - since > timeout and job_id not in self._cancelled:
            self._cancelled[job_id] = "timeout"
            ctl.cancel([job_id])

    def _cancel_all(self, reason: str) -> None:
        for job_id in self._jobs:
            self._cancelled.setdefault(job_id, reason)
        ctl.cancel(self._jobs)

    def _finish(self, job_id: str) -> tuple[Job, Ending]:
        job = self._jobs.pop(job_id)
        self._running_since.pop(job_id, None)
        self._pending_since.pop(job_id, None)
        ending = self._ending(job)
        self._reasons.pop(job_id, None)
        self._requeued.discard(job_id)
        return job, ending

    def _ending(self, job: Job) -> Ending:
        """How ``job`` ended (``endings``); its job record and end file are removed."""
        job_id = str(job.handle)
        info = ctl.end_info(job_id)
        job_file(job.log_file).unlink(missing_ok=True)
        Path(end_file_for(str(job.log_file))).unlink(missing_ok=True)
        ours = self._cancelled.pop(job_id, None)
        if self._stop and ours == "interrupted" and not (info is not None and info.nodes) \
                and not output.started_before(job.part, job.offset):
            # cancelled by the interruption while still queued (no node was ever allocated,
            # no output): its batch script never ran. A job Slurm had started on a node whose
            # script had not written yet (a busy machine) did run: it ends interrupted.
            return Ending(exit_code=None, stopped="interrupted", not_started=True)
        return endings.ended(job, info, ours, self._reasons.get(job_id))

    def stop(self, reason: str) -> None:
        """From a signal handler: remember; ``wait`` cancels the jobs in flight."""
        self._stop = reason

    def close(self) -> None:
        """Nothing to release: the jobs belong to Slurm (``--detach`` leaves them running)."""

