"""A thin client of Slurm's own commands: sbatch, squeue, scontrol, sacct, scancel, sinfo.

Nothing is scheduled here: Slurm does that. Every call is an argument list (no shell), has a
time limit, and a failure is a ``RunError`` naming the command and what it printed.
``SLURM_CONF`` and ``PATH`` come from the environment, as for any Slurm user.
"""
from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dlbs.errors import RunError

TIMEOUT_S = 60
#: Job states in which a job may still run (squeue's long names).
ACTIVE_STATES = frozenset({
    "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
    "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD",
})


@dataclass
class JobInfo:
    """What the scheduler says of one job."""

    job_id: str
    state: str
    nodes: list[str] = field(default_factory=list)
    exit_code: int | None = None
    signal: int = 0
    reason: str = ""
    elapsed: float | None = None
    time_limit: str = ""
    start_time: str = ""  # as the scheduler gives it (ISO, seconds)
    end_time: str = ""
    restarts: int = 0  # times Slurm requeued the job (node failure, preemption, scontrol)

    @property
    def active(self) -> bool:
        """Whether the job is pending or running (not ended)."""
        return self.state in ACTIVE_STATES


def run(argv: Sequence[str], timeout: float = TIMEOUT_S) -> str:
    """Run one Slurm command; return its stdout, or raise a one-line ``RunError``."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise RunError(f"{argv[0]} is not installed or not on PATH (exp.scheduler=slurm needs "
                       "Slurm's commands)") from None
    except subprocess.TimeoutExpired:
        raise RunError(f"{argv[0]} did not answer in {timeout:.0f} s: is slurmctld up "
                       "(scontrol ping)?") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise RunError(f"{' '.join(argv[:2])} failed: {lines[-1] if lines else proc.returncode}")
    return proc.stdout


def filename_problem(path: str) -> str | None:
    """Why ``path`` cannot be named to ``sbatch --output`` exactly, or None.

    Slurm reads that option as a pattern: ``%j``, ``%x``... are expanded (``%%`` is a ``%``,
    see :func:`filename_pattern`), and a backslash anywhere makes it drop every backslash and
    expand nothing, so no pattern names a path that holds one."""
    if "\\" in path:
        return (f"the log path '{path}' holds a backslash, which sbatch's --output cannot name "
                "(Slurm drops every backslash of it); use an exp.log_dir and exp.log_file "
                "without '\\'")
    return None


def filename_pattern(path: str) -> str:
    """``path`` as an sbatch filename pattern that names exactly it (``%`` doubled); a
    RunError when no pattern can (:func:`filename_problem`)."""
    problem = filename_problem(path)
    if problem:
        raise RunError(problem)
    return path.replace("%", "%%")


#: sbatch's answers to resources the cluster does not have, and what to change in the plan.
RESOURCE_REFUSALS = ("Invalid generic resource", "Requested node configuration is not available",
                     "Invalid GRES", "Invalid gres")
RESOURCE_HINT = (" (the job asks for resources no node of the partition has: an experiment asks "
                 "for GPUs unless exp.gpus='' (CPU); check exp.gpus, slurm.gres, "
                 "slurm.partition and slurm.constraint against sinfo -o '%P %G %f')")


def sbatch_hint(error: str) -> str:
    """What to change in the plan when sbatch refused a job for its resources, else ''."""
    return RESOURCE_HINT if any(word in error for word in RESOURCE_REFUSALS) else ""


def sbatch_argv(script: str, output: str, dependency: str | None = None,
                requeue: bool = False) -> list[str]:
    """The ``sbatch`` command that submits ``script`` (see :func:`submit`)."""
    pattern = filename_pattern(output)
    argv = ["sbatch", "--parsable", f"--output={pattern}", f"--error={pattern}",
            "--open-mode=append", "--requeue" if requeue else "--no-requeue"]
    if dependency:
        argv.append(f"--dependency=afterany:{dependency}")
    return [*argv, script]


def submit(script: str, output: str, dependency: str | None = None,
           requeue: bool = False) -> str:
    """``sbatch`` a batch script with its output and errors appended to the file ``output``
    (a literal path: its ``%`` are escaped); return the job id.

    These options are given on the command line, where neither an ``#SBATCH`` line nor the
    user's ``SBATCH_*`` environment (``SBATCH_ERROR``, ``SBATCH_REQUEUE``...) overrides them:
    the runner reads the job's whole output from that file, and a job Slurm may requeue
    (``--requeue``, ``slurm.requeue``) runs more than once into it."""
    try:
        text = run(sbatch_argv(script, output, dependency, requeue)).strip()
    except RunError as err:
        raise RunError(str(err) + sbatch_hint(str(err))) from None
    job_id = text.split(";")[0]
    if not job_id.isdigit():
        raise RunError(f"sbatch answered {text!r} instead of a job id")
    return job_id


def queue(job_ids: Iterable[str]) -> dict[str, JobInfo]:
    """The jobs among ``job_ids`` (``1234``, or ``1234_7`` for a task of a job array) that the
    controller still knows, by id (one squeue call a 500 ids)."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    found: dict[str, JobInfo] = {}
    for chunk in range(0, len(ids), 500):
        # -r: each task of a job array on its own line (ARRAYID_TASK), pending ones too
        out = run(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(ids[chunk:chunk + 500]),
                   "-o", "%i|%T|%N|%r"])
        for line in out.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 4:
                found[parts[0]] = JobInfo(parts[0], parts[1], reason=parts[3],
                                          nodes=[parts[2]] if parts[2] else [])
    return found


def end_info(job_id: str) -> JobInfo | None:
    """How a job ended, from ``scontrol show job`` (jobs ended within MinJobAge), else
    ``sacct`` (clusters with accounting); None when neither knows it."""
    info = _from_scontrol(job_id)
    if info is None:
        info = _from_sacct(job_id)
    if info is not None and info.nodes:
        info.nodes = hostnames(",".join(info.nodes))
    return info


def _from_scontrol(job_id: str) -> JobInfo | None:
    try:
        text = run(["scontrol", "show", "job", "-o", job_id])
    except RunError:
        return None
    fields = dict(re.findall(r"(\w+)=(\S*)", text))
    if "JobState" not in fields:
        return None
    code, sig = _exit_code(fields.get("ExitCode", ""))
    nodes = fields.get("NodeList", "")
    return JobInfo(job_id, fields["JobState"], nodes=[nodes] if nodes not in ("", "(null)") else [],
                   exit_code=code, signal=sig, reason=fields.get("Reason", ""),
                   elapsed=_span(fields.get("StartTime", ""), fields.get("EndTime", "")),
                   time_limit=fields.get("TimeLimit", ""), start_time=fields.get("StartTime", ""),
                   end_time=fields.get("EndTime", ""),
                   restarts=int(fields.get("Restarts", "")) if fields.get("Restarts", "").isdigit()
                   else 0)


def _from_sacct(job_id: str) -> JobInfo | None:
    """The job's last attempt from ``sacct``; ``-D`` lists each attempt of a requeued job
    (one line each), so the lines before the last count its restarts."""
    try:
        text = run(["sacct", "-j", job_id, "-X", "-D", "-n", "-P", "-o",
                    "JobID,State,ExitCode,NodeList,ElapsedRaw,Timelimit,Start,End"])
    except RunError:
        return None  # accounting is not enabled on this cluster
    attempts = [parts for parts in (line.split("|") for line in text.splitlines())
                if len(parts) == 8 and parts[0] == job_id]
    if not attempts:
        return None
    parts = attempts[-1]
    code, sig = _exit_code(parts[2])
    state = parts[1].split()[0] if parts[1] else "UNKNOWN"  # "CANCELLED by 0"
    return JobInfo(job_id, state, nodes=[parts[3]] if parts[3] not in ("", "None assigned")
                   else [], exit_code=code, signal=sig,
                   elapsed=float(parts[4]) if parts[4].isdigit() else None,
                   time_limit=parts[5], start_time=parts[6], end_time=parts[7],
                   restarts=len(attempts) - 1)


def _exit_code(text: str) -> tuple[int | None, int]:
    """``"1:0"`` -> (1, 0): the exit code and the signal that ended the job's script."""
    match = re.match(r"^(\d+):(\d+)$", text.strip())
    return (int(match.group(1)), int(match.group(2))) if match else (None, 0)


def _span(start: str, end: str) -> float | None:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


def hostnames(nodelist: str) -> list[str]:
    """Expand a Slurm node list (``n[1-2]`` -> ``["n1", "n2"]``)."""
    if not nodelist:
        return []
    try:
        return run(["scontrol", "show", "hostnames", nodelist]).split()
    except RunError:
        return [nodelist]


def cancel(job_ids: Iterable[str]) -> None:
    """``scancel`` the jobs (ended ones are ignored by Slurm)."""
    ids = sorted(set(job_ids))
    if ids:
        try:
            run(["scancel", *ids])
        except RunError:
            pass  # a job that ended meanwhile; the next query says how it ended


def check(partition: str = "") -> str | None:
    """Whether the Slurm commands answer and ``partition`` (or a default one) exists; the
    problem as one line, or None."""
    try:
        out = run(["sinfo", "-h", "-o", "%P"], timeout=20)
    except RunError as err:
        return str(err)
    names = [line.strip() for line in out.splitlines() if line.strip()]
    if partition:  # one, or several separated by ',' (the job runs in the first that can)
        known = [n.rstrip("*") for n in names]
        missing = [name for name in partition.split(",") if name not in known]
        if missing:
            return (f"slurm.partition '{missing[0]}' does not exist on this cluster; sinfo "
                    f"lists: {', '.join(known) or 'none'}")
    elif not any(n.endswith("*") for n in names):
        return "this Slurm cluster has no default partition: set -Pslurm.partition=NAME"
    return None
