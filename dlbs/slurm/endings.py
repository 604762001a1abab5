"""How a Slurm job that has ended becomes an :class:`~dlbs.runner.job.Ending`.

The benchmark's own facts decide when the job ran to its end; otherwise Slurm's end state
(``scontrol``, else ``sacct``) does, as below. What the executor alone knows is passed in:
why it cancelled the job itself (``ours``: ``timeout``, ``interrupted``,
``pending_timeout``) and the pending reason it last told.

====================  ===============================================================
Slurm state           ``results.status``
====================  ===============================================================
COMPLETED             the benchmark's status (``ok``...), as for a local run
FAILED                the benchmark's status when it wrote one (``oom``...), else ``failure``
TIMEOUT, DEADLINE     ``timeout`` (Slurm's time limit, ``slurm.time``)
CANCELLED             ``timeout`` / ``interrupted`` / ``pending_timeout`` when this runner
                      cancelled it for ``exp.timeout`` / Ctrl-C / ``slurm.queue_timeout``,
                      else ``cancelled`` (scancel by someone else)
PREEMPTED             ``preempted``
NODE_FAIL, BOOT_FAIL  ``node_failure``
OUT_OF_MEMORY         ``oom``
====================  ===============================================================

A job Slurm requeued ends with ``results.slurm_restarts`` > 0, the output of its earlier
attempts set aside (``<log>.attempt1``...: see ``dlbs.slurm.output``), and a warning in
``exp.warnings`` and in the run summary. A multi-node job that failed names the rank that
failed first and how (``output.first_failure``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from dlbs.runner import runlog
from dlbs.runner.job import Ending, Job
from dlbs.slurm import acct, output
from dlbs.slurm.ctl import JobInfo
from dlbs.slurm.script import limit_seconds, queue_timeout, requeue, warn_signal

#: Slurm sends ``slurm.signal``'s warning up to 60 s before the time it was asked for: a warning
#: later than (time limit - warning seconds - this) is the time limit's, an earlier one a
#: preemption's.
WARNING_SLACK_S = 65.0
#: Slurm end states that are a status by themselves (see the table above).
STATE_STATUS = {
    "TIMEOUT": "timeout", "DEADLINE": "timeout", "PREEMPTED": "preempted",
    "NODE_FAIL": "node_failure", "BOOT_FAIL": "node_failure", "OUT_OF_MEMORY": "oom",
    "CANCELLED": "cancelled",
}


def ended(job: Job, info: JobInfo | None, ours: str | None, reason: str | None) -> Ending:
    """How ``job`` ended, as a trailer: status per the table, job id, nodes, state, the
    accounting's facts and the restarts. ``info`` is Slurm's word (None: it knows no more),
    ``ours`` why this runner cancelled the job (None: it did not), ``reason`` the pending
    reason last told."""
    job_id = str(job.handle)
    attempts, unsplit = set_aside(job, info.restarts if info else None)
    facts: list[tuple[str, Any]] = [
        ("results.slurm_job_id", int(job_id) if job_id.isdigit() else job_id)]
    if info is None and "_" in job_id and not output.started_before(job.part, job.offset):
        ending = task_cancelled_pending(job, facts, ours, reason)
    elif info is None:
        ending = lost(job, job_id, facts)
    else:
        facts += [("results.nodes", info.nodes), ("results.slurm_state", info.state),
                  ("results.slurm_start_time", info.start_time),
                  ("results.slurm_end_time", info.end_time)]
        stopped, error = verdict(info, job, ours, reason)
        facts += unsaid_stop(info, job, stopped)
        if not attempts.last_started and stopped is None:
            stopped, error = "failure", (
                f"the last attempt of the requeued Slurm job (restart {info.restarts}) "
                f"never started its batch script (Slurm state {info.state}, exit code "
                f"{info.exit_code}; Slurm's reason is in slurmctld's log)")
        code = info.exit_code if not info.signal else -info.signal
        ending = Ending(exit_code=code, stopped=stopped, facts=facts,
                        duration=info.elapsed, error=error)
    ending.facts.extend(acct.sacct_facts(job_id))
    restarts = max(info.restarts if info else 0, len(attempts.aside))
    if info is not None or restarts:
        ending.facts.append(("results.slurm_restarts", restarts))
    if restarts:
        warn_restarts(job, ending, restarts, attempts.aside, unsplit)
    return ending


def verdict(info: JobInfo, job: Job | None, ours: str | None = None,
            reason: str | None = None) -> tuple[str | None, str | None]:
    """(stopped, error) of an ended job: None, None when the benchmark's facts decide.
    ``job`` gives its output, read for the node that failed or the rank that failed first."""
    if info.state == "CANCELLED" and ours:
        return ours, why_we_cancelled(ours, job, reason)
    stopped_early = warned(info, job)
    if stopped_early is not None:
        return stopped_early
    status = STATE_STATUS.get(info.state)
    if status is None:
        return (None, None) if info.state == "COMPLETED" or job is None else \
            output.first_failure(job)
    reasons = {
        "timeout": f"Slurm ended the job at its time limit ({info.time_limit}; slurm.time)",
        "cancelled": f"the Slurm job was {info.state.lower()} outside dlbs",
        "preempted": preempted(job),
        "node_failure": node_failure(info, job),
        "oom": "Slurm killed the job for exceeding its memory (slurm.mem)",
    }
    return status, reasons[status]


def set_aside(job: Job, restarts: int | None) -> tuple[output.Attempts, str]:
    """Move the output of a requeued job's earlier attempts out of the log (see
    ``output.set_aside_attempts``), and why nothing was moved when it could not be."""
    try:
        return output.set_aside_attempts(job.log_file, job.part, job.offset, restarts), ""
    except OSError as err:
        return output.Attempts([]), f"they could not be set aside: {err.strerror or err}"


def warn_restarts(job: Job, ending: Ending, restarts: int, aside: list[Path],
                  unsplit: str) -> None:
    """Say in ``exp.warnings`` and the run summary that Slurm ran the job more than once,
    and where each attempt's output is."""
    times = "once" if restarts == 1 else f"{restarts} times"
    if aside:
        where = ("this log holds the last attempt only; earlier attempts' output: "
                 + ", ".join(path.name for path in aside))
    else:
        where = ("every attempt's output is in this log, and facts of an earlier one may "
                 f"be in the record ({unsplit or 'the attempts are not marked'})")
    text = (f"Slurm requeued this job {times} (node failure, preemption or scontrol "
            f"requeue; results.slurm_restarts={restarts}): {where}")
    earlier = [value for key, value in ending.facts if key == "exp.warnings"]
    if earlier:
        warnings = earlier[-1]
    else:
        warnings = runlog.read_output_facts(job.part, job.offset).get("exp.warnings") or []
    warnings = warnings if isinstance(warnings, list) else [str(warnings)]
    ending.facts.append(("exp.warnings", [*warnings, text]))
    ending.warning = text


def task_cancelled_pending(job: Job, facts: list[tuple[str, Any]], ours: str | None,
                           reason: str | None) -> Ending:
    """An array task that Slurm no longer knows and whose batch script never started: it
    was cancelled while it waited in the queue (Slurm keeps no record of such a task)."""
    facts.append(("results.slurm_state", "CANCELLED"))
    if ours:
        return Ending(exit_code=None, stopped=ours, facts=facts,
                      error=why_we_cancelled(ours, job, reason))
    return Ending(exit_code=None, stopped="cancelled", facts=facts,
                  error=f"Slurm array task {job.handle} was cancelled outside dlbs while it "
                        "waited in the queue, before it started (Slurm keeps no record "
                        "of such a task)")


def lost(job: Job, job_id: str, facts: list[tuple[str, Any]]) -> Ending:
    """A job whose end Slurm no longer knows (no accounting, past MinJobAge): the
    benchmark's own facts say whether it finished; if not, it counts as interrupted (so
    a rerun repeats it), never as a failure of the experiment."""
    facts.append(("results.slurm_state", "UNKNOWN"))
    gone = (f"Slurm job {job_id} ended while no runner watched it and Slurm no longer knows "
            "how (no accounting, and past MinJobAge)")
    try:
        written = runlog.read_output_facts(job.part, job.offset)
    except OSError:  # gone, or a link planted in its place: the trailer says so
        written = {}
    if written.get("results.status") == "ok" and "results.throughput" in written:
        warnings = list(written.get("exp.warnings") or [])
        note = f"{gone}; the benchmark's own facts say it finished"
        facts.append(("exp.warnings", [*warnings, note]))
        return Ending(exit_code=0, facts=facts)
    return Ending(exit_code=None, stopped="interrupted", facts=facts,
                  error=f"{gone}; the benchmark did not finish, so it counts as interrupted")


def warned(info: JobInfo, job: Job | None) -> tuple[str, str] | None:
    """(status, error) of a job whose batch script got ``slurm.signal``'s warning and whose
    benchmark stopped early: ``timeout`` when the warning came near the time limit, else
    ``preempted``; None when it got none, or the benchmark had finished anyway."""
    if job is None or info.state not in ("COMPLETED", "FAILED", "TIMEOUT", "PREEMPTED"):
        return None
    signal_name = output.warning_signal(output.read_tail(job.part, job.offset))
    if signal_name is None:
        return None
    facts = runlog.read_output_facts(job.part, job.offset)
    if facts.get("results.status") == "ok" and not facts.get("results.partial"):
        return None  # it finished before the warning reached it: its facts are whole
    timed = "its facts are partial (results.partial)" if facts.get("results.partial") \
        else "it wrote no timing facts"
    warning = warn_signal(job.view)
    limit = limit_seconds(info.time_limit)
    if info.state == "PREEMPTED" or limit is None or info.elapsed is None or \
            info.elapsed < limit - (warning[1] if warning else 0) - WARNING_SLACK_S:
        return "preempted", (f"Slurm warned the job with {signal_name} well before its time "
                             f"limit (a preemption) and the benchmark stopped: {timed}")
    return "timeout", (f"Slurm warned the job with {signal_name} before its time limit "
                       f"({info.time_limit}; slurm.time, slurm.signal) and the benchmark "
                       f"stopped timing: {timed}")


def unsaid_stop(info: JobInfo, job: Job, stopped: str | None) -> list[tuple[str, Any]]:
    """``results.stop_signal`` (and ``results.partial=false``) of a job that ended on its own
    after ``slurm.signal``'s warning when its benchmark did not say so: the warning came before
    the tasks started, or before the benchmark had set its handler (Slurm may send it up to
    60 s early). The signal is the one the batch script noted; [] when the benchmark wrote
    its own, or Slurm itself ended the job (TIMEOUT, PREEMPTED: its kill stopped it)."""
    if stopped not in ("timeout", "preempted") or info.state not in ("COMPLETED", "FAILED"):
        return []
    signal_name = output.warning_signal(output.read_tail(job.part, job.offset))
    written = runlog.read_output_facts(job.part, job.offset)
    if signal_name is None or "results.stop_signal" in written:
        return []
    return [("results.stop_signal", signal_name), ("results.partial", False)]


def why_we_cancelled(why: str, job: Job | None, reason: str | None) -> str | None:
    """The error of a job this runner cancelled (None for Ctrl-C: the signal says it)."""
    if why == "interrupted":
        return None
    if why == "pending_timeout":
        limit = queue_timeout(job.view) if job is not None else 0
        return (f"still pending after {limit} s in the queue (slurm.queue_timeout), Slurm's "
                f"reason: {reason or 'none given'}; dlbs cancelled the job, and the next run "
                "of the plan submits it again")
    return "timed out (exp.timeout); dlbs cancelled the Slurm job"


def node_failure(info: JobInfo, job: Job | None) -> str:
    """``node n2 failed during the job (Slurm state NODE_FAIL); ...``: the node srun named."""
    text = output.read_tail(job.part, job.offset) if job is not None else ""
    node = output.failed_node(text)
    what = f"node {node} failed during the job" if node else "a node of the job failed"
    if job is not None and not requeue(job.view):
        return f"{what} (Slurm state {info.state}); Slurm did not requeue it (slurm.requeue=false)"
    return f"{what} (Slurm state {info.state})"


def preempted(job: Job | None) -> str:
    """The error of a job that Slurm preempted and did not requeue."""
    text = ("Slurm preempted the job (a job of a higher-priority partition or QOS took its "
            "nodes)")
    if job is not None and not requeue(job.view):
        return f"{text}; Slurm did not requeue it (slurm.requeue=false)"
    return text
