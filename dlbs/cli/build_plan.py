"""``experimenter build``: write the built, unexpanded plan (DLBS's ``build``) as a plan file.

The file carries every experiment before expansion plus the parameters' declared types and
domains (see :mod:`dlbs.planfile`), so ``print``/``validate``/``run --plan FILE`` later expand
exactly what ``build`` saw: a plan built once is what runs. ``sys.timestamp`` is fixed in it.
"""
from __future__ import annotations

import argparse
import itertools
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from safeio import atomic_write

from dlbs.cli.planargs import (
    PlanSource,
    add_plan_arguments,
    check_plan_size,
    max_experiments,
    open_plan,
)
from dlbs.errors import DLBSError, UsageError
from dlbs.planfile import write_plan

HELP = "build the plan (experiments before expansion) and write it as a plan file"
EXAMPLE = ("experimenter build -Vexp.model='[\"alexnet\", \"resnet50\"]' --output plan.json "
           "&& experimenter run --plan plan.json")

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the plan options (``--plan FILE`` is the output, as in DLBS) and ``--output``."""
    add_plan_arguments(parser, plan_is_output=True)
    parser.add_argument("--output", "-o", metavar="FILE",
                        help="write the plan file to FILE (default: stdout); same as --plan")
    parser.add_argument("--scripts", metavar="DIR", default=None,
                        help="instead, write every launch script and Slurm batch script a run "
                             "would submit into DIR (new or empty), with index.json; nothing "
                             "is submitted or run. --plan FILE then names the plan to read")


def run(args: argparse.Namespace) -> int:
    """Build the plan and write it to the output file or stdout; return 0."""
    if args.scripts:
        from dlbs.cli.review_scripts import write_scripts
        return write_scripts(args)
    output = _output_path(args)
    args.plan = None  # for build, --plan names the output, not a plan to read
    source = open_plan(args)
    check_plan_size(source, max_experiments(args))
    source.experiments = _started(source.experiments)
    if output is None:
        count = write_plan(sys.stdout, source.experiments, source.specs)
        sys.stdout.flush()
    else:
        count = _write_file(output, source)
        # a file written says so (to stdout the plan itself is the answer): what it holds
        # and how to run it, so that a silent success is not read as nothing done
        experiments = "experiment" if count == 1 else "experiments"
        print(f"build: wrote {count} {experiments} to {output}; run them with "
              f"'experimenter run --plan {output}'", file=sys.stderr)
    log.info("built %d experiments%s", count, f" into {output}" if output else "")
    return 0


def _started(experiments: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Build the first experiment now, so that an error in the plan (most show up there)
    comes before anything is written."""
    try:
        first = next(experiments)
    except StopIteration:
        return iter(())
    return itertools.chain([first], experiments)


def _output_path(args: argparse.Namespace) -> Path | None:
    if args.plan and args.output and args.plan != args.output:
        raise UsageError(f"build: --plan {args.plan} and --output {args.output} name different "
                         "files; give one of them")
    target = args.output or args.plan
    return Path(target) if target else None


def _write_file(path: Path, source: PlanSource) -> int:
    """Write the plan to a fresh temporary file beside ``path``, then rename it: a failed
    build never leaves half a plan file behind, and a link planted at ``path`` is refused."""
    try:
        with atomic_write(path) as stream:
            count: int = write_plan(stream, source.experiments, source.specs)
    except OSError as err:
        raise DLBSError(f"cannot write plan file '{path}': {err.strerror or err}") from None
    return count
