"""``experimenter status``: where each experiment of a plan stands, from its log and the scheduler.

Read-only: it never writes a log or submits a job. A complete log gives ``done`` with its
``results.status`` (a log no dlbs runner wrote, DLBS's own, is complete: ``runlog.classify_log``); a ``.part`` with a Slurm job record gives the job's state from one ``squeue``
call for the whole plan (``pending``, ``running``, or ``ended`` when the job is over but no runner
has written its trailer yet: running the plan again does); a ``.part`` alone is ``running``
while a process on this host has it open for writing (a local run's launch script writes its
output there), else ``incomplete`` (a run that was killed outright, or one running on another
host); no log is ``not run``.
"""
from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlbs.errors import RunError
from dlbs.experiment import Experiment
from dlbs.logs.parser import parse_log
from dlbs.runner import runlog
from dlbs.runner.progress import printable
from dlbs.slurm import ctl as slurmctl
from dlbs.slurm.jobfile import read_job_file

NOT_RUN = frozenset({"disabled", "inactive", "simulate"})


@dataclass
class ExperimentState:
    """One experiment's line in the status: what it is (model, batch, device, replicas,
    repeat), where it stands, and how long it ran or why it did not end ``ok``."""

    index: int
    state: str  # done, pending, running, ended, incomplete, not run, disabled...
    log_file: str
    status: str = ""  # results.status of a done experiment
    job_id: str = ""
    detail: str = ""
    model: str = ""
    batch: Any = None  # exp.replica_batch: an int, or 'max'
    device: str = ""  # 'cpu', or 'gpu' and the exp.gpus layout: 'gpu 0,1'
    replicas: Any = None  # exp.num_replicas (all nodes)
    repeat: str = ""  # '2/3': run exp.repeat_index + 1 of exp.repeat; '' for one run
    duration_s: float | None = None  # results.duration of a done experiment (the trailer's)
    reason: str = ""  # results.error of a done experiment that did not end ok


def describe(index: int, exp: Experiment, state: str, **fields: Any) -> ExperimentState:
    """An :class:`ExperimentState` with what ``exp`` is (model, batch, device, repeat)."""
    gpus = exp.gpus.strip()
    return ExperimentState(
        index, state, exp.log_file, model=exp.model, batch=exp.replica_batch,
        device=f"gpu {gpus}" if gpus else "cpu", replicas=exp.num_replicas,
        repeat=f"{exp.repeat_index + 1}/{exp.repeat}" if exp.repeat > 1 else "", **fields)


def _ending(path: Path, status: str) -> dict[str, Any]:
    """``duration_s`` and ``reason`` of a complete log: the trailer's ``results.duration``
    (None without one: DLBS's logs), and the ``results.error`` of one that did not end ok
    (the runner's in the trailer, else the benchmark's, read from the whole log)."""
    facts = runlog.read_tail_facts(path)
    duration = facts.get("results.duration")
    if not isinstance(duration, (int, float)) or isinstance(duration, bool):
        duration = None
    reason = ""
    if status != "ok":
        reason = str(facts.get("results.error") or "") or \
            str((parse_log(path).record or {}).get("results.error") or "")
    return {"duration_s": None if duration is None else float(duration), "reason": reason}


def open_for_writing() -> dict[str, list[int]]:
    """Every file some process of this host has open for writing (those whose open files this
    user may read in ``/proc``), by its real path, with the processes; empty where ``/proc``
    tells nothing. One pass over ``/proc``, however many logs are asked about."""
    found: dict[str, list[int]] = {}
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return found
    for pid in pids:
        folder = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(folder)
        except OSError:  # gone, or another user's
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{folder}/{fd}")
                if not target.endswith(runlog.PART_SUFFIX):
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as info:
                    flags = next((int(line.split()[1], 8) for line in info
                                  if line.startswith("flags:")), 0)
            except (OSError, ValueError):
                continue
            if flags & (os.O_WRONLY | os.O_RDWR):
                writers = found.setdefault(target, [])
                if int(pid) not in writers:  # the script's stdout and stderr: one process
                    writers.append(int(pid))
    return found


def local_state(index: int, exp: Experiment,
                written: Callable[[], dict[str, list[int]]] = open_for_writing
                ) -> ExperimentState:
    """The state as far as the log files tell (a job's state is filled in later);
    ``written``: the ``.part`` files open for writing here (:func:`open_for_writing`)."""
    log_file, declared = exp.log_file, exp.status
    if declared in NOT_RUN:
        return describe(index, exp, declared)
    path = Path(log_file)
    if path.exists():
        try:
            state, status = runlog.classify_log(path)
            ending = _ending(path, status) if state is not runlog.LogState.INCOMPLETE else {}
        except OSError as err:
            return describe(index, exp, "unreadable", detail=str(err.strerror or err))
        if state is not runlog.LogState.INCOMPLETE:
            return describe(index, exp, "done", status=status, **ending)
        if not runlog.part_file(path).exists():  # interrupted, pending_timeout: runs again
            return describe(index, exp, "incomplete", status=status,
                            detail=f"{status}; the next run repeats it" if status else "")
    if runlog.part_file(path).exists():
        record = read_job_file(path)
        if record is not None:
            return describe(index, exp, "submitted", job_id=str(record["job_id"]))
        pids = written().get(os.path.realpath(runlog.part_file(path)), [])
        if pids:
            return describe(index, exp, "running",
                            detail=f"here, written by pid {', '.join(map(str, pids[:3]))}")
        return describe(index, exp, "incomplete")
    return describe(index, exp, "not run")


def plan_status(experiments: Sequence[Experiment]) -> list[ExperimentState]:
    """Every experiment's state (:func:`local_state`); jobs are looked up with one ``squeue``
    call."""
    written = functools.cache(open_for_writing)  # /proc read once, only if a .part is alone
    states = [local_state(i, exp, written) for i, exp in enumerate(experiments)]
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
    noun = "experiment" if len(states) == 1 else "experiments"
    return f"{len(states)} {noun}: " + ", ".join(parts)


#: The columns of :func:`table`: heading and the text of one state.
COLUMNS: tuple[tuple[str, Callable[[ExperimentState], str]], ...] = (
    ("#", lambda s: str(s.index)),
    ("model", lambda s: s.model),
    ("batch", lambda s: "" if s.batch is None else str(s.batch)),
    ("device", lambda s: s.device + (f" x{s.replicas}" if s.replicas not in (None, 1) else "")),
    ("repeat", lambda s: s.repeat),
    ("state", lambda s: s.state if s.state != "done" else s.status or "done"),
    ("duration or reason", lambda s: outcome(s)),
)


def outcome(state: ExperimentState) -> str:
    """The last column: ``12.3 s`` for an experiment that ended ok, else why it did not (its
    ``results.error``, the job, or the scheduler's word), with the duration when known."""
    took = f"{state.duration_s:.1f} s" if state.duration_s is not None else ""
    why = state.reason or (f"job {state.job_id}" if state.job_id else "") or state.detail
    if state.job_id and state.detail:
        why = f"{why}: {state.detail}"
    return "; ".join(part for part in (took, why) if part)


def table(states: Sequence[ExperimentState]) -> str:
    """One row per experiment: model, batch, device (and replicas), repeat, state (the
    ``results.status`` of a done one), and its duration or the reason it did not end ok."""
    rows = [[printable(text(s)) for _, text in COLUMNS] for s in states]
    widths = [max([len(head), *(len(row[i]) for row in rows)])
              for i, (head, _) in enumerate(COLUMNS[:-1])]
    lines = []
    for cells in [[head for head, _ in COLUMNS], *rows]:
        padded = [cell.rjust(w) if i == 0 else cell.ljust(w)
                  for i, (cell, w) in enumerate(zip(cells, widths))]
        lines.append("  ".join([*padded, cells[-1]]).rstrip())
    return "\n".join(lines)
