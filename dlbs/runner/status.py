"""``experimenter status``: where each experiment of a plan stands, from its log and the scheduler.

Read-only: it never writes a log or submits a job. A complete log gives ``done`` with its
``results.status`` (a log no dlbs runner wrote, DLBS's own, is complete: ``runlog.classify_log``); a ``.part`` with a Slurm job record gives the job's state from one ``squeue``
call for the whole plan (``pending``, ``running``, or ``ended`` when the job is over but no runner
has written its trailer yet: running the plan again does); a ``.part`` alone is ``incomplete``
(a local run in progress, or one that was killed outright); no log is ``not run``.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlbs.errors import RunError
from dlbs.runner import runlog, slurmctl
from dlbs.runner.slurm import read_job_file

NOT_RUN = frozenset({"disabled", "inactive", "simulate"})


@dataclass
class ExperimentState:
    """One experiment's line in the status."""

    index: int
    state: str  # done, pending, running, ended, incomplete, not run, disabled...
    log_file: str
    status: str = ""  # results.status of a done experiment
    job_id: str = ""
    detail: str = ""


def local_state(index: int, exp: Mapping[str, Any]) -> ExperimentState:
    """The state as far as the log files tell (a job's state is filled in later)."""
    log_file = str(exp.get("exp.log_file") or "")
    declared = str(exp.get("exp.status", "ok"))
    if declared in NOT_RUN:
        return ExperimentState(index, declared, log_file)
    path = Path(log_file)
    if path.exists():
        try:
            state, status = runlog.classify_log(path)
        except OSError as err:
            return ExperimentState(index, "unreadable", log_file,
                                   detail=str(err.strerror or err))
        if state is not runlog.LogState.INCOMPLETE:
            return ExperimentState(index, "done", log_file, status=status)
        if not runlog.part_file(path).exists():  # interrupted, pending_timeout: runs again
            return ExperimentState(index, "incomplete", log_file, status=status,
                                   detail=f"{status}; the next run repeats it" if status else "")
    if runlog.part_file(path).exists():
        record = read_job_file(path)
        if record is not None:
            return ExperimentState(index, "submitted", log_file, job_id=str(record["job_id"]))
        return ExperimentState(index, "incomplete", log_file)
    return ExperimentState(index, "not run", log_file)


def plan_status(experiments: Sequence[Mapping[str, Any]]) -> list[ExperimentState]:
    """Every experiment's state; jobs are looked up with one ``squeue`` call."""
    states = [local_state(i, exp) for i, exp in enumerate(experiments)]
    jobs = [s for s in states if s.job_id]
    if not jobs:
        return states
    try:
        queue = slurmctl.queue(s.job_id for s in jobs)
    except RunError as err:
        for s in jobs:
            s.state, s.detail = "submitted", f"scheduler not reachable: {err}"
        return states
    for s in jobs:
        info = queue.get(s.job_id)
        if info is not None and info.active:
            s.state = "running" if info.state in ("RUNNING", "COMPLETING") else "pending"
            s.detail = info.state if info.state not in ("RUNNING", "PENDING") else \
                (info.reason if info.state == "PENDING" and info.reason != "None" else "")
        else:
            s.state = "ended"
            s.detail = (f"{info.state if info else 'gone'}; not recorded yet: "
                        "'experimenter run' of this plan records it")
    return states


def summary_line(states: Iterable[ExperimentState]) -> str:
    """``12 experiments: 8 done (7 ok, 1 timeout), 1 running, 3 pending``."""
    states = list(states)
    counts = Counter(s.state for s in states)
    done = Counter(s.status for s in states if s.state == "done")
    parts = []
    for state in ("done", "running", "pending", "ended", "submitted", "incomplete", "not run",
                  "unreadable", "disabled", "inactive", "simulate"):
        if counts[state]:
            text = f"{counts[state]} {state}"
            if state == "done":
                text += " (" + ", ".join(f"{n} {k or 'no status'}" for k, n in
                                         sorted(done.items(), key=lambda kv: -kv[1])) + ")"
            parts.append(text)
    return f"{len(states)} experiments: " + ", ".join(parts)


def table(states: Sequence[ExperimentState]) -> str:
    """One line per experiment: index, state, status or job, log file, detail."""
    lines = [f"{'#':>4}  {'state':<10} {'status/job':<12} log"]
    for s in states:
        what = s.status if s.state == "done" else (f"job {s.job_id}" if s.job_id else "")
        detail = f"  ({s.detail})" if s.detail else ""
        lines.append(f"{s.index:>4}  {s.state:<10} {what:<12} {s.log_file}{detail}")
    return "\n".join(lines)
