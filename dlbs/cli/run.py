"""``experimenter run``: run every experiment of a plan, one process and one log each.

The plan is expanded and validated first (``--no-validation`` skips that); experiments that
run in Docker need an engine that answers and their images present (checked with the docker
SDK, nothing is pulled). ``exp.status=simulate`` prints the launch scripts instead of running
them. Exit code: 0 when every experiment that ran ended ``ok``, 1 when one failed, 130 when
the sweep was interrupted (Ctrl-C, SIGTERM).
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlbs.db import Store
    from dlbs.runner.core import Outcome

from dlbs.cli.planargs import add_plan_arguments, load_experiments

HELP = ("run the experiments of a plan (bare metal, in Docker, under torchrun, or as Slurm "
        "jobs), one log each")
EXAMPLE = ("experimenter run -Pexp.gpus='' -Vexp.model='[\"deep_mnist\", \"sensor_net\"]' "
           "-Pexp.log_dir=./logs -Pexp.rerun=onfail --progress-file progress.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the plan options (including ``--progress-file`` and ``--no-validation``)."""
    add_plan_arguments(parser)
    parser.add_argument("--detach", action="store_true",
                        help="exp.scheduler=slurm: submit the jobs and return (slurm.max_jobs "
                             "is kept with job dependencies); 'experimenter status' shows them, "
                             "and running the same plan again records them when they end")
    parser.add_argument("--progress-bar", dest="progress_bar", default="auto",
                        choices=("auto", "on", "off"),
                        help="tqdm bar on stderr (auto: only on a terminal; off: plain lines)")
    parser.add_argument("--db", default=None, metavar="URL",
                        help="also store each experiment in this results database as it ends "
                             "(sqlite:///results.db, postgresql+psycopg://...; docs/database.md); "
                             "a failed store is a warning, the log stays")


def run(args: argparse.Namespace) -> int:
    """Expand, validate and run the plan; print a summary on stderr (a terminal that goes away
    meanwhile ends the output, never the sweep)."""
    from dlbs.runner.progress import tolerant_output
    with tolerant_output():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from dlbs.dispatch.executors import executor_for
    from dlbs.experiment import Experiment
    from dlbs.runner import Runner
    notes: list[str] = []  # the CPU instead of the default GPU (dlbs.dispatch.device)
    experiments = list(load_experiments(args, on_this_host=notes.append))
    images: dict[str, str] = {}
    if not args.no_validation:
        from dlbs.cli.validate import check_runnable
        _, images = check_runnable(experiments)
    else:
        from dlbs.cli.validate import check_log_collisions
        check_log_collisions(experiments)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    bar = {"auto": None, "on": True, "off": False}[args.progress_bar]
    store = _open_db(args.db)
    if store is not None:
        warning = code_version_warning(experiments)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    storer = None if store is None else _storer(store)
    runner = Runner(progress_file=args.progress_file, bar=bar, docker_images=images,
                    executor=executor_for([Experiment.of(e) for e in experiments], args.detach),
                    on_finished=storer)
    try:
        summary = runner.run(experiments)
    finally:
        if store is not None:
            store.close()
    if summary.total and summary.count("simulated") < summary.total:
        print(summary.text(), file=sys.stderr)
    for line in storer.closing_lines() if storer is not None else []:
        print(line, file=sys.stderr)
    return summary.exit_code


def _open_db(url: str | None) -> Store | None:
    """The results database of ``--db`` (opened before the sweep, so a bad URL stops it
    before anything runs), or None."""
    if not url:
        return None
    from dlbs.db import open_store
    return open_store(url)


def code_version_warning(experiments: list[dict[str, Any]]) -> str | None:
    """What ``--db`` says when experiments carry no ``exp.code_version``: 'dlbs history' and
    'dlbs regressions' run along it by default, and a run without it is on no point."""
    missing = sum(1 for e in experiments if not str(e.get("exp.code_version") or "").strip())
    if not missing:
        return None
    return (f"{missing} of {len(experiments)} experiment(s) have no exp.code_version: stored, "
            "but 'dlbs history' and 'dlbs regressions' (which run along exp.code_version by "
            "default) leave them out; set -Pexp.code_version=$(git rev-parse --short HEAD) "
            "(or use --by date)")


class RunStorer:
    """``--db``'s hook (:attr:`dlbs.runner.Runner.on_finished`): store each ended experiment's
    log, and the finished log of each experiment skipped as already done that the database
    lacks (a runner killed between a log's end and its store left it in no database; storing
    is idempotent, so one already stored costs a lookup). A store that fails is a warning that
    says how to store the log later; :meth:`closing_lines` counts both."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.recovered = 0
        self.lost: list[str] = []  # the logs not stored

    def __call__(self, outcome: Outcome) -> None:
        log = str(outcome.log_file)
        try:
            new = self.store.store_log(log)
        except Exception as err:  # noqa: BLE001 - the log is the source of truth
            self.lost.append(log)
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            print(f"warning: {log} not stored in {self.store.shown}: {reason} (the log is "
                  f"kept; store it later with: {self.ingest_command([log])})", file=sys.stderr)
            return
        if new and outcome.done_before:
            self.recovered += 1

    def ingest_command(self, logs: list[str]) -> str:
        """The command that stores ``logs`` (their folders) once the database is right."""
        folders = sorted({str(Path(log).parent) for log in logs})
        return f"dlbs db ingest {' '.join(map(shlex.quote, folders))} --db {self.store.shown}"

    def closing_lines(self) -> list[str]:
        """What the sweep says at its end: runs stored for an earlier run, runs not stored."""
        lines = []
        if self.recovered:
            lines.append(f"note: --db {self.store.shown}: stored {self.recovered} finished "
                         "run(s) skipped as already done that were not in the database (an "
                         "earlier run was stopped before it stored them)")
        if self.lost:
            lines.append(f"warning: --db {self.store.shown}: {len(self.lost)} run(s) not "
                         "stored (their logs are kept); store them with: "
                         f"{self.ingest_command(self.lost)}")
        return lines


def _storer(store: Store) -> RunStorer:
    """The ``--db`` hook of a sweep (:class:`RunStorer`)."""
    return RunStorer(store)
