"""``experimenter status``: each experiment of a plan: done (with its status), running, pending
(Slurm jobs), or not run; from the logs and one scheduler query. Never changes anything."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from dlbs.cli.planargs import add_plan_arguments, load_experiments

HELP = "show where each experiment of a plan stands: done (with status), running, pending, not run"
EXAMPLE = "experimenter status --config examples/cpu_sweep.json -Pexp.scheduler=slurm"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The plan options, and the output format."""
    add_plan_arguments(parser)
    parser.add_argument("--format", default="table", choices=("table", "json", "summary"),
                        help="table: one line per experiment and a summary (default); json: a "
                             "list of objects; summary: the counts only")


def run(args: argparse.Namespace) -> int:
    """Print the status of every experiment; exit 0 (a status is not an error)."""
    from dlbs.dispatch.status import plan_status, summary_line, table
    from dlbs.experiment import Experiment
    states = plan_status([Experiment.of(exp) for exp in
                          load_experiments(args, on_this_host=lambda _: None)])
    if args.format == "json":
        print(json.dumps([asdict(s) for s in states], indent=1))
    elif args.format == "table":
        print(table(states))
    print(summary_line(states), file=sys.stderr if args.format != "summary" else sys.stdout)
    return 0
