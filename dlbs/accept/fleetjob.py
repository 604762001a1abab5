"""A Slurm partition's nodes measured as ONE job array (``dlbs accept PARTITION``): a task a
node, each task pinned to its node, each writing its node's figures into a folder the nodes
share; then the figures gathered for the verdicts.

How a task is pinned: the array is submitted held (``sbatch --hold``), each task is given its
node (``scontrol update JobId=J_i ReqNodeList=NODE``: Slurm splits a pending task off the
array for that) and the array is released. A task checks that it runs where it was sent
before it measures. Slurm's commands are reached through :mod:`dlbs.slurm.ctl` (argument
lists, time limits, one-line errors); ``#SBATCH`` words are checked as the Slurm launcher
checks them (:func:`dlbs.slurm.script.safe_word`); every value of the script is quoted.

Starts Slurm's commands and reads the task files; never judges (:mod:`dlbs.accept.verdict`).
"""
from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlbs.errors import RunError, UsageError
from dlbs.slurm import ctl
from dlbs.slurm.script import TIME_FORM, TIME_WORD, safe_word

#: Slurm node states (sinfo's short form, its flags ``*~#!%$@^-`` stripped) a job can start on.
RUNNABLE_STATES = frozenset({"idle", "mix", "alloc", "comp", "resv", "plnd"})
#: How often the tasks are asked about while they run (seconds).
POLL_S = 2.0
#: The name of the file a task writes its node's figures to, in the shared folder.
TASK_FILE = "{node}.json"


@dataclass(frozen=True)
class Target:
    """The nodes to measure: those a task can start on, and those it cannot (with why)."""

    partition: str
    nodes: list[str]
    unavailable: dict[str, str]   # node -> its Slurm state


def _hostnames(nodelist: str) -> list[str]:
    """``--nodelist`` expanded as Slurm does (``n[1-2]`` -> n1, n2); a UsageError naming it."""
    safe_word("--nodelist", nodelist)
    try:
        return ctl.run(["scontrol", "show", "hostnames", nodelist]).split()
    except RunError as err:
        raise UsageError(f"dlbs accept: --nodelist {nodelist!r}: Slurm cannot read it ({err}); "
                         "give node names or a Slurm host list, e.g. n[1-4],n7") from None


def find_target(partition: str, nodelist: str | None) -> Target:
    """The nodes of ``partition`` (``--nodelist`` narrows them), split by whether a job can
    start on them now; a UsageError naming what is wrong (an unknown partition, a node not
    in it)."""
    safe_word("target (a Slurm partition)", partition)
    problem = ctl.check(partition)
    if problem and problem.startswith("slurm.partition"):
        raise UsageError(f"dlbs accept: target {partition!r} is neither localhost nor a "
                         f"partition this cluster has ({problem.split('; ', 1)[-1]}); give a "
                         "partition, and --nodelist to measure some of its nodes")
    if problem:
        raise RunError(f"dlbs accept: target {partition!r}: {problem}")
    states: dict[str, str] = {}
    for line in ctl.run(["sinfo", "-h", "-N", "-p", partition, "-o", "%N|%t"]).splitlines():
        name, _, state = line.strip().partition("|")
        if name:
            states[name] = state.strip()
    wanted = _hostnames(nodelist) if nodelist else sorted(states)
    missing = [node for node in wanted if node not in states]
    if missing:
        raise UsageError(f"dlbs accept: --nodelist names {', '.join(missing)}, not in partition "
                         f"{partition!r} (it has {', '.join(sorted(states)) or 'no node'})")
    runnable = [n for n in wanted if states[n].rstrip("*~#!%$@^-") in RUNNABLE_STATES]
    return Target(partition, runnable,
                  {n: states[n] for n in wanted if n not in runnable})


def check_time(limit: str) -> str:
    """``--time`` as sbatch takes it, or a UsageError saying the form."""
    if not TIME_WORD.match(limit):
        raise UsageError(f"dlbs accept: --time {limit!r} is not a time limit sbatch takes; give "
                         f"{TIME_FORM}")
    return limit


def task_command(python: str, checks: str, plan: Path, burn_in: float, folder: Path,
                 repeat: int = 1) -> str:
    """The shell line a task runs on its node ``$node`` (every value quoted)."""
    out = shlex.quote(str(folder)) + '/"$node".json'
    return (f"{shlex.quote(python)} -m dlbs accept localhost --node \"$node\" "
            f"--checks {shlex.quote(checks)} --plan {shlex.quote(str(plan))} "
            f"--burn-in {float(burn_in)!r} --repeat {int(repeat)} --figures-out {out}")


def array_script(nodes: Sequence[str], partition: str, command: str, workdir: Path,
                 time_limit: str | None = None) -> str:
    """The batch script of the array: task i measures ``nodes[i]`` (it refuses to run
    elsewhere), one whole node each (``--exclusive``)."""
    options = ["--job-name=dlbs-accept", "--nodes=1", "--ntasks=1", "--exclusive",
               f"--partition={safe_word('target (a Slurm partition)', partition)}"]
    if time_limit:
        options.append(f"--time={check_time(time_limit)}")
    listed = " ".join(shlex.quote(safe_word("a node name", n)) for n in nodes)
    return "\n".join([
        "#!/usr/bin/env bash",
        f"# dlbs accept: {len(nodes)} node(s), a task each (generated; values quoted). Task i",
        "# measures the i-th node below and writes its figures beside this script.",
        *(f"#SBATCH {option}" for option in options),
        "set -eu",
        f"nodes=({listed})",
        'node="${nodes[$SLURM_ARRAY_TASK_ID]}"',
        'if [ "${SLURMD_NODENAME:-}" != "$node" ]; then',
        ('  echo "dlbs accept: task $SLURM_ARRAY_TASK_ID was sent to $node but runs on'
         ' ${SLURMD_NODENAME:-?}" >&2'),
        "  exit 1",
        "fi",
        f"cd {shlex.quote(str(workdir))}",
        command,
        "",
    ])


def pair_script(pairs: Sequence[tuple[str, str]], partition: str, python: str, folder: Path,
                workdir: Path, time_limit: str | None = None, repeat: int = 1,
                plan: Path | None = None) -> str:
    """The batch script of the pairs' array: task i runs the ``pair`` check (an all-reduce,
    one rank a node) on the two nodes of ``pairs[i]``, the rendezvous on the job's first node
    at the address Slurm knows it by (as the Slurm launcher finds it), ``repeat`` times, with
    the sizes of the suite ``plan`` (None: the default plan); each rank writes its figures to
    ``folder/pair-<i>-rank<r>.json``."""
    options = ["--job-name=dlbs-accept-pairs", "--nodes=2", "--ntasks-per-node=1",
               "--exclusive", f"--partition={safe_word('target (a Slurm partition)', partition)}"]
    if time_limit:
        options.append(f"--time={check_time(time_limit)}")
    listed = " ".join(shlex.quote(",".join(safe_word("a node name", n) for n in pair))
                      for pair in pairs)
    rank = ("bash -c 'RANK=$SLURM_PROCID exec \"$@\" --figures-out "
            "\"$0/pair-$SLURM_ARRAY_TASK_ID-rank$SLURM_PROCID.json\"'")
    return "\n".join([
        "#!/usr/bin/env bash",
        f"# dlbs accept: {len(pairs)} pair(s) of nodes, a task each (generated; values quoted).",
        "# Task i all-reduces between the two nodes of the i-th pair below, one rank a node.",
        *(f"#SBATCH {option}" for option in options),
        "set -eu",
        f"pairs=({listed})",
        'pair="${pairs[$SLURM_ARRAY_TASK_ID]}"',
        "got=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | sort | paste -sd, -)",
        "if [ \"$(echo \"$pair\" | tr , '\\n' | sort | paste -sd, -)\" != \"$got\" ]; then",
        '  echo "dlbs accept: task $SLURM_ARRAY_TASK_ID was sent to $pair but runs on $got" >&2',
        "  exit 1",
        "fi",
        "first=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)",
        "addr=$(scontrol show node \"$first\" | sed -n 's/.* NodeAddr=\\([^ ]*\\).*/\\1/p')",
        ('export MASTER_ADDR="${addr:-$first}" MASTER_PORT=$((29500 + SLURM_JOB_ID % 10000))'
         " WORLD_SIZE=2"),
        f"cd {shlex.quote(str(workdir))}",
        (f"srun --nodes=2 --ntasks-per-node=1 --kill-on-bad-exit=1 {rank} "
         f"{shlex.quote(str(folder))} {shlex.quote(python)} -m dlbs accept localhost "
         f'--node "$pair" --checks pair --repeat {int(repeat)}'
         + (f" --plan {shlex.quote(str(plan))}" if plan is not None else "")),
        "",
    ])


def submit_pinned(script: Path, nodes: Sequence[str], folder: Path, prefix: str = "task",
                  results: Sequence[Path] = ()) -> str:
    """Submit the array held, pin task i to ``nodes[i]`` (a node, or nodes joined by ','),
    release it; the array's job id. Each task's output goes to ``folder/<prefix>-<i>.out``.
    A failure after the submission cancels the array (nothing is left held in the queue).

    The files its tasks will write (their outputs and ``results``) are removed first: in a
    folder used before, a task that writes nothing this time must not be read as having
    written the last run's figures."""
    _remove_stale([*(folder / f"{prefix}-{i}.out" for i in range(len(nodes))), *results])
    pattern = ctl.filename_pattern(str(folder / prefix)) + "-%a.out"
    argv = ["sbatch", "--parsable", "--hold", f"--array=0-{len(nodes) - 1}",
            f"--output={pattern}", f"--error={pattern}", "--no-requeue", str(script)]
    try:
        job = ctl.run(argv).strip().split(";")[0]
    except RunError as err:
        raise RunError(f"dlbs accept: {err}{ctl.sbatch_hint(str(err))}") from None
    if not job.isdigit():
        raise RunError(f"dlbs accept: sbatch answered {job!r} instead of a job id")
    try:
        for i, node in enumerate(nodes):
            ctl.run(["scontrol", "update", f"JobId={job}_{i}", f"ReqNodeList={node}"])
        ctl.run(["scontrol", "release", job])
    except (RunError, KeyboardInterrupt):
        ctl.cancel([job])
        raise
    return job


def _remove_stale(paths: Sequence[Path]) -> None:
    """Remove each of ``paths`` that a run before left; a RunError naming one that cannot be."""
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            raise RunError(f"dlbs accept: {path}: a file of a run before cannot be removed "
                           f"({err.strerror or err}); give another --output-dir") from None


def wait(job: str, count: int, timeout_s: float, say: Callable[[str], None]) -> None:
    """Until no task of the array is pending or running (``timeout_s`` 0: no limit); at the
    limit, or on Ctrl-C, the array is cancelled and a RunError says so."""
    ids = [f"{job}_{i}" for i in range(count)]
    deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
    said = ""
    try:
        while True:
            active = {i: info for i, info in ctl.queue(ids + [job]).items() if info.active}
            if not active:
                return
            line = f"dlbs accept: job {job}: {len(active)} task(s) pending or running"
            if line != said:
                say(line)
                said = line
            if deadline is not None and time.monotonic() > deadline:
                ctl.cancel([job])
                raise RunError(f"dlbs accept: job {job} ran past --timeout {timeout_s:.0f} s: "
                               "cancelled; its finished nodes' figures are in the folder")
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        ctl.cancel([job])
        raise


def gather(job: str, nodes: Sequence[str], folder: Path
           ) -> tuple[dict[str, dict[str, list[float]]], dict[str, Any], dict[str, str]]:
    """Each node's figures and facts from its task file, and for each node without one why
    (how its task ended, its output's last line)."""
    figures: dict[str, dict[str, list[float]]] = {}
    facts: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for i, node in enumerate(nodes):
        try:
            record = json.loads((folder / TASK_FILE.format(node=node)).read_text("utf-8"))
            figures[node] = record["figures"]
            facts[node] = record.get("facts", {})
        except (OSError, ValueError, KeyError, TypeError):
            missing[node] = _why_missing(f"{job}_{i}", folder / f"task-{i}.out")
    return figures, facts, missing


def gather_pairs(job: str, pairs: Sequence[tuple[str, str]], folder: Path
                 ) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Each pair's bus bandwidth (its rank 0's figure), by ``a+b``; for each pair without one
    why (how its task ended, its output's last line)."""
    found: dict[str, list[float]] = {}
    missing: dict[str, str] = {}
    for i, (a, b) in enumerate(pairs):
        try:
            record = json.loads((folder / f"pair-{i}-rank0.json").read_text("utf-8"))
            found[f"{a}+{b}"] = [float(v) for v in record["figures"]["pair_busbw"]]
        except (OSError, ValueError, KeyError, TypeError):
            missing[f"{a}+{b}"] = _why_missing(f"{job}_{i}", folder / f"pair-{i}.out")
    return found, missing


def _why_missing(task: str, output: Path) -> str:
    """Why a task left no figures: its end state and exit code, its output's last line."""
    info = ctl.end_info(task)
    how = f"task {task} ended {info.state} (exit {info.exit_code})" if info else \
        f"task {task}: Slurm no longer knows it"
    try:
        lines = [ln for ln in output.read_text("utf-8", errors="replace").splitlines()
                 if ln.strip()]
    except OSError:
        lines = []
    return f"not measured: {how}" + (f": {lines[-1].strip()[:200]}" if lines else "")
