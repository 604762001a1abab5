"""``dlbs regressions --confirm``'s options and what they make: the repository, the re-run's plan
options (``--plan-config``/``--plan-param``: ``-P`` filters the database here), the rounds and
the logs' folder, checked before the database is read; and the flagged regressions to re-run,
with the stored facts of a run of each one's newest point. The re-running is
``dlbs.bisect.confirm``'s; the reporting ``dlbs.cli.regressions``'."""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlbs.cli.argtypes import int_range
from dlbs.errors import UsageError

#: The metrics a re-run can judge: its verdict is on the runs' ``results.time``.
CONFIRMABLE = ("results.throughput", "results.time")


def add_confirm_arguments(parser: argparse.ArgumentParser) -> None:
    """``--confirm`` and the options of its re-runs."""
    from dlbs.bisect.verdict import FIRST_ROUNDS, MAX_ROUNDS, MIN_RUNS

    group = parser.add_argument_group("confirm (docs/database.md, the gate)")
    group.add_argument("--confirm", action="store_true",
                       help="re-run each flagged regression's last good and first bad code "
                            "versions interleaved (as a dlbs bisect step) and fail only on the "
                            "confirmed ones; needs --repo and a plan that uses "
                            "${exp.bisect_checkout}")
    group.add_argument("--repo", type=Path, default=None, metavar="DIR",
                       help="with --confirm: the git repository whose revisions are the "
                            "exp.code_version values")
    group.add_argument("--plan-config", action="append", dest="plan_configs", default=[],
                       metavar="FILE", help="with --confirm: a config file of the re-run's plan "
                                            "(dlbs run's --config)")
    group.add_argument("--plan-param", action="append", dest="plan_params", default=[],
                       metavar="NAME=VALUE",
                       help="with --confirm: a parameter of the re-run's plan (dlbs run's -P; "
                            "-P filters the database here), e.g. "
                            "--plan-param pytorch.bench_path='${exp.bisect_checkout}'")
    group.add_argument("--rounds", type=int_range(MIN_RUNS, 10_000), default=FIRST_ROUNDS,
                       help=f"with --confirm: rounds of a re-run's first look ({FIRST_ROUNDS})")
    group.add_argument("--max-rounds", type=int_range(MIN_RUNS, 10_000), default=MAX_ROUNDS,
                       help=f"with --confirm: most rounds before a re-run says inconclusive "
                            f"({MAX_ROUNDS})")
    group.add_argument("--output", type=Path, default=None, metavar="DIR",
                       help="with --confirm: where the re-runs' logs go (default "
                            "./confirm-<time>)")


def plan_options(options: Sequence[str]) -> argparse.Namespace:
    """A plan namespace (``dlbs run``'s plan options) from a list of options."""
    from dlbs.cli.planargs import add_plan_arguments

    parser = argparse.ArgumentParser(add_help=False)
    add_plan_arguments(parser)
    return parser.parse_args(list(options))


def confirmer_of(args: argparse.Namespace) -> Any:
    """The ``Confirmer`` of the options, every option checked before anything is read: a
    one-line ``UsageError`` (exit 2) for --confirm without --repo, a folder that is not a git
    repository, a plan option dlbs bisect refuses, a metric or axis a re-run cannot judge."""
    from dlbs.bisect.confirm import Confirmer
    from dlbs.bisect.errors import BisectError
    from dlbs.bisect.git import check_repository
    from dlbs.bisect.session import check_plan_options
    from dlbs.bisect.verdict import round_schedule
    from dlbs.cli.planargs import load_config

    _check_confirmable(args)
    options = plan_options([*(f"--config={c}" for c in args.plan_configs),
                            *(f"-P{p}" for p in args.plan_params)])
    try:
        check_plan_options(options)
        repo = check_repository(args.repo)
    except BisectError as err:
        raise UsageError(f"--confirm: {err}") from None
    output = (args.output or Path(f"confirm-{time.strftime('%Y%m%d-%H%M%S')}")).resolve()
    output.mkdir(parents=True, exist_ok=True)
    validate = None
    if not options.no_validation:
        from dlbs.cli.validate import check_runnable
        validate = check_runnable
    given = [str(p).split("=", 1)[0].strip() for p in args.plan_params]
    return Confirmer(repo, output, options, plan_options, _expand,
                     load_config(options, with_command_line=False).parameters,
                     round_schedule(args.rounds, args.max_rounds), validate=validate,
                     given=given)


def _check_confirmable(args: argparse.Namespace) -> None:
    if args.repo is None:
        raise UsageError("--confirm needs --repo DIR: the git repository whose revisions are the "
                         "exp.code_version values")
    if args.metric not in CONFIRMABLE or args.by != "exp.code_version":
        raise UsageError(f"--confirm re-runs code versions and judges run times: it needs --by "
                         f"exp.code_version and --metric {' or '.join(CONFIRMABLE)}")
    if args.max_rounds < args.rounds:
        raise UsageError(f"--max-rounds {args.max_rounds} is below --rounds {args.rounds}")


def _expand(options: argparse.Namespace) -> list[dict[str, Any]]:
    from dlbs.cli.planargs import load_experiments

    return list(load_experiments(options, on_this_host=lambda _: None))


def flagged_of(args: argparse.Namespace, series: Sequence[Any], changes: Sequence[Any],
               names: dict[str, str]) -> list[Any]:
    """Each regression of ``changes`` as a ``Flagged``: its name, versions, flagged time ratio
    and the stored facts of the oldest run of its first bad point (none: not rebuildable)."""
    from dlbs.bisect.confirm import Flagged, time_ratio
    from dlbs.db import open_store
    from dlbs.db.history import higher_is_better
    from dlbs.db.records import canonical

    runs = {}
    by_key = {canonical(one.parameters): one for one in series}
    for change in changes:
        one = by_key[canonical(change.parameters)]
        runs[id(change)] = next((p.first_run for p in one.points
                                 if p.axis_value == change.first_bad), -1)
    store = open_store(args.db, readonly=True)
    try:
        facts = store.facts_of([i for i in runs.values() if i >= 0])
    finally:
        store.close()
    return [Flagged(names[canonical(c.parameters)], c.last_good, c.first_bad,
                    time_ratio(c.change, higher_is_better(args.metric)),
                    facts.get(runs[id(c)], {})) for c in changes]


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
