"""One step's measuring: good and a candidate in one interleaved session, through the runner.

The user's plan options (``--config``, ``-P``, ``-V``, ``-E``) are expanded as ``dlbs run``
expands them, with what the bisection adds: ``-Vexp.code_version=[good, candidate]`` (short
hashes; also the axis of ``dlbs history``), ``exp.bisect_checkout`` (declared in a config file
the bisection writes: the worktree of the run's ``exp.code_version``, for the plan to use, e.g.
``-Ppytorch.bench_path='${exp.bisect_checkout}/python'``), ``exp.repeat`` (the rounds),
``exp.order_seed`` (the step: each session draws its own orders) and ``exp.log_dir`` (the
step's folder). Asking for more rounds runs the plan again with a larger ``exp.repeat``: the
runs done keep their logs and only the new rounds run (``docs/running.md``, Repeats).

The runs' ``results.time`` by ``exp.repeat_index`` are what ``verdict`` judges. A candidate
whose runs all fail is skipped (``SkipRevision``); good's runs failing stops the bisection.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dlbs.bisect.errors import BisectError, SkipRevision
from dlbs.bisect.git import SHORT
from dlbs.bisect.verdict import Times
from dlbs.params import catalogue

#: The parameter a plan uses to reach the checkout being measured.
CHECKOUT = "exp.bisect_checkout"
#: Parameters the bisection sets itself (a plan that sets them is refused): those declared
#: ``set_by_bisect`` in config/*.json, and its own :data:`CHECKOUT` (declared by its plan).
OWN = (*catalogue.set_by_bisect(), CHECKOUT)


@dataclass
class Session:
    """What every step's session shares: the user's plan options, where checkouts are, where
    logs go, how plan options become experiments (``expand``: the CLI's plan loading, as
    ``dlbs run``'s) and are checked (``validate``, None: not), what to call with each ended
    run (``--db``), and the stream the runner's own lines go to."""

    args: argparse.Namespace
    output: Path
    expand: Callable[[argparse.Namespace], list[dict[str, Any]]]
    checkouts: Path = Path()  # the worktrees' root (set by the bisection when it makes it)
    validate: Callable[[list[dict[str, Any]]], object] | None = None
    on_finished: Callable[[Any], None] | None = None
    runner_log: IO[str] | None = None


def check_plan_options(args: argparse.Namespace) -> None:
    """Refuse options the bisection cannot take: a ``--plan`` file (built already, it cannot
    take the revisions), or a parameter of :data:`OWN` given by the user."""
    if getattr(args, "plan", None):
        raise BisectError("--plan: a built plan cannot take the revisions; give the plan as "
                          "--config FILE and -P/-V options")
    for option in [*getattr(args, "params", []), *getattr(args, "variables", [])]:
        name = str(option).split("=", 1)[0].strip()
        if name in OWN:
            raise BisectError(f"{name} is set by dlbs bisect (the revisions, --rounds, "
                              f"--output): leave it out of -P/-V")


def declarations(session: Session) -> Path:
    """The config file that declares ``exp.bisect_checkout`` (written once)."""
    path = session.output / "bisect_params.json"
    if not path.exists():
        value = f"{session.checkouts}/${{exp.code_version}}"
        path.write_text(json.dumps({"parameters": {CHECKOUT: {
            "val": value, "type": "str",
            "desc": "Set by dlbs bisect: the worktree of the revision being measured "
                    "(exp.code_version), e.g. -Ppytorch.bench_path='${exp.bisect_checkout}'"}}},
            indent=2))
    return path


def step_options(session: Session, versions: list[str], rounds: int, seed: int, folder: Path
                 ) -> argparse.Namespace:
    """The plan options of one look of a step: the user's, and what the bisection adds."""
    args = argparse.Namespace(**vars(session.args))
    args.configs = [*getattr(args, "configs", []), str(declarations(session))]
    args.params = [*getattr(args, "params", []), f"exp.repeat={rounds}",
                   f"exp.order_seed={seed}", f"exp.log_dir={json.dumps(str(folder))}"]
    args.variables = [*getattr(args, "variables", []),
                      f"exp.code_version={json.dumps(versions)}"]
    return args


def check_session(experiments: list[dict[str, Any]], versions: list[str],
                  checkouts: Path) -> None:
    """One experiment per revision, and a plan that uses the checkout (else both sides would
    run the same code)."""
    for version in versions:
        ids = {e.get("exp.id") for e in experiments if e.get("exp.code_version") == version}
        if len(ids) != 1:
            raise BisectError(f"the plan gives {len(ids)} experiments for revision {version}: "
                              "dlbs bisect measures one per revision; give one value to each "
                              "-V variable")
    where = str(checkouts / versions[-1])
    if not any(where in str(v) for e in experiments for k, v in e.items()
               if k != CHECKOUT and e.get("exp.code_version") == versions[-1]):
        raise BisectError(f"the plan does not use ${{{CHECKOUT}}}: both sides would run the "
                          "same code; point the benchmark at the checkout, e.g. "
                          f"-Ppytorch.bench_path='${{{CHECKOUT}}}'")


def run_look(session: Session, args: argparse.Namespace, versions: list[str]
             ) -> list[dict[str, Any]]:
    """Expand, check, validate and run one look's plan; return its experiments."""
    from dlbs.dispatch.executors import executor_for
    from dlbs.experiment import Experiment
    from dlbs.runner import Runner

    experiments = session.expand(args)
    check_session(experiments, versions, session.checkouts)
    if session.validate is not None:
        session.validate(experiments)
    stream = session.runner_log or sys.stderr
    views = [Experiment.of(exp) for exp in experiments]
    runner = Runner(out=stream, err=stream, bar=False, executor=executor_for(views),
                    on_finished=session.on_finished)
    summary = runner.run(experiments)
    if summary.interrupted:
        raise KeyboardInterrupt
    return experiments


def run_times(records: Iterable[Mapping[str, Any]], version: str) -> tuple[Times, list[str]]:
    """The successful runs' ``results.time`` by round of one revision, and the failures'
    reasons."""
    times: dict[int, float] = {}
    errors = []
    for record in records:
        if record.get("exp.code_version") != version:
            continue
        time = record.get("results.time")
        if record.get("results.status") == "ok" and isinstance(time, (int, float)) and time > 0:
            times[int(record.get("exp.repeat_index") or 0)] = float(time)
        else:
            errors.append(str(record.get("results.error") or record.get("results.status")))
    return times, errors


def read_records(experiments: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records of the logs the experiments wrote (a missing log is left out)."""
    from dlbs.logs.parser import parse_log

    records = []
    for experiment in experiments:
        path = str(experiment.get("exp.log_file") or "")
        if path and os.path.exists(path):
            record = parse_log(path).record
            if record is not None:
                records.append(record)
    return records


def busy_runs(records: Iterable[Mapping[str, Any]], versions: Iterable[str]) -> tuple[int, int]:
    """(successful runs of ``versions`` made on a busy machine, successful runs): the
    machine's share in a step's spread (``results.other_cpu_share`` above the reports'
    threshold, ``dlbs.logs.fact_types.machine_state``)."""
    from dlbs.logs.fact_types import BUSY, machine_state

    wanted = set(versions)
    ok = [r for r in records
          if r.get("exp.code_version") in wanted and r.get("results.status") == "ok"]
    return sum(machine_state(r) == BUSY for r in ok), len(ok)


def busy_said(busy: int, runs: int) -> str:
    """The load's part in an inconclusive step, in words, or ``""`` when no run was busy."""
    if not busy:
        return ""
    from dlbs.logs.fact_types import BUSY_THRESHOLD

    return (f"{busy} of {runs} runs on a busy machine (other processes took over "
            f"{BUSY_THRESHOLD:.0%} of their CPUs: results.other_cpu_share): a quieter machine "
            "narrows the interval")


class StepMeasure:
    """``measure(rounds)`` of one step: good against ``candidate`` (full hashes), logs in
    ``folder``; after each look, ``busy`` holds (busy runs, runs) of the runs so far."""

    def __init__(self, session: Session, good: str, candidate: str, seed: int,
                 folder: Path) -> None:
        self.session, self.seed, self.folder = session, seed, folder
        self.versions = [good[:SHORT], candidate[:SHORT]]
        self.busy = (0, 0)

    def __call__(self, rounds: int) -> tuple[Times, Times]:
        versions, folder = self.versions, self.folder
        args = step_options(self.session, versions, rounds, self.seed, folder)
        records = read_records(run_look(self.session, args, versions))
        self.busy = busy_runs(records, versions)
        good_times, good_errors = run_times(records, versions[0])
        times, errors = run_times(records, versions[1])
        if len(good_times) < 2:
            raise BisectError(f"good {versions[0]}: {len(good_errors)} of its runs failed in "
                              f"{folder} ({'; '.join(good_errors[:1]) or 'no log'}): fix the "
                              "plan or the good revision")
        if not times:
            raise SkipRevision(f"its runs failed ({'; '.join(errors[:1]) or 'no log'})")
        return good_times, times


def measure_step(session: Session, good: str, candidate: str, seed: int, folder: Path
                 ) -> StepMeasure:
    """``measure(rounds)`` of one step (:class:`StepMeasure`)."""
    return StepMeasure(session, good, candidate, seed, folder)


def run_setup(command: str, checkout: Path, revision: str, log: Path) -> None:
    """Run ``--setup`` (the user's shell command, as given) in the checkout; the revision and
    checkout reach it as ``DLBS_BISECT_REVISION``/``DLBS_BISECT_CHECKOUT``, never pasted into
    the command. Raise ``SkipRevision`` naming the revision and the log when it fails."""
    env = {**os.environ, "DLBS_BISECT_REVISION": revision, "DLBS_BISECT_CHECKOUT": str(checkout)}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        done = subprocess.run(["/bin/sh", "-c", command], cwd=checkout, env=env, stdout=out,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise SkipRevision(f"--setup failed at {revision[:SHORT]} (exit {done.returncode}; "
                           f"its output: {log})")
