"""``dlbs bisect``: the first revision of a repository that made a benchmark slower.

At each step the revision is checked out in a temporary worktree of ``--repo`` (the user's
working tree and HEAD are never touched), ``--setup`` runs in it, and good and the candidate
are measured in rounds interleaved in one session (the plan options of ``dlbs run``; the plan
reaches the checkout as ``${exp.bisect_checkout}``), judged as ``dlbs report --compare-by``
judges, until the verdict is confident; then the search halves. Prints each step (revision,
ratio candidate/good with its interval, verdict, rounds) and the first bad revision; the logs
stay under ``--output`` and, with ``--db``, every run is stored in the results database.
Exit code: 0 when the first bad revision was found, 1 when it was not (an error, or skipped
revisions leave several), 130 when interrupted. docs/bisect.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from dlbs.cli.argtypes import int_range
from dlbs.cli.planargs import add_plan_arguments

HELP = "find the first revision of a git repository that made a benchmark slower"
EXAMPLE = ("dlbs bisect --repo ../mycode --good v1.2 --bad main --setup 'pip install -q .' "
           "-Pexp.gpus='' -Pexp.model=resnet18 -Ppytorch.bench_path='${exp.bisect_checkout}/python'")
COLUMNS = ["step", "role", "revision", "rounds", "runs", "ratio", "ci_low", "ci_high", "verdict",
           "note"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bisection's options, then ``dlbs run``'s plan options."""
    from dlbs.bisect.verdict import ALPHA, FIRST_ROUNDS, MAX_ROUNDS, MIN_RUNS, TRIM

    group = parser.add_argument_group("bisect")
    group.add_argument("--repo", required=True, type=Path, help="the git repository to bisect")
    group.add_argument("--good", required=True, metavar="REV", help="a revision without the "
                       "slowdown (an ancestor of --bad)")
    group.add_argument("--bad", required=True, metavar="REV", help="a revision with it")
    group.add_argument("--setup", default=None, metavar="CMD",
                       help="a shell command run in each checkout before it is measured (e.g. "
                            "an install); $DLBS_BISECT_REVISION and $DLBS_BISECT_CHECKOUT are set")
    group.add_argument("--on-setup-failure", choices=("skip", "stop"), default="skip",
                       help="a candidate whose --setup fails is skipped (as git bisect skip), or "
                            "stops the bisection (good's and bad's failures always stop it)")
    group.add_argument("--rounds", type=int_range(MIN_RUNS, 10_000), default=FIRST_ROUNDS,
                       help=f"rounds of a step's first look (default {FIRST_ROUNDS})")
    group.add_argument("--max-rounds", type=int_range(MIN_RUNS, 10_000), default=MAX_ROUNDS,
                       help=f"most rounds a step measures before it says inconclusive "
                            f"(default {MAX_ROUNDS})")
    group.add_argument("--alpha", type=float, default=ALPHA,
                       help=f"error level of a step's verdict, split over its looks (default "
                            f"{ALPHA})")
    group.add_argument("--min-change", type=float, default=None, metavar="X",
                       help="the threshold of a step: candidate/good above 1+X is slower, "
                            "below is same (default: half the slowdown bad/good measured)")
    group.add_argument("--paired", action="store_true",
                       help="pair runs by round: the trimmed mean of the rounds' log ratios "
                            "(the paired t with --trim 0) instead of Yuen's t")
    group.add_argument("--trim", type=float, default=TRIM, metavar="SHARE",
                       help=f"share of each side's runs trimmed from each end by the step's "
                            f"test, Yuen's t on the log run times, so that a few slow runs do "
                            f"not hide the slowdown (default {TRIM}; 0: Welch's t)")
    group.add_argument("--output", type=Path, default=None, metavar="DIR",
                       help="where the logs, setup outputs and bisect.json go (default "
                            "./bisect-<time>)")
    group.add_argument("--format", choices=("text", "json"), default="text")
    group.add_argument("--db", default=None, metavar="URL",
                       help="also store each run in this results database (as dlbs run --db)")
    add_plan_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Bisect; print the steps and the first bad revision."""
    from dlbs.bisect.driver import Bisector, Request
    from dlbs.bisect.session import Session, check_plan_options
    from dlbs.bisect.verdict import round_schedule
    from dlbs.cli.planargs import load_experiments
    from dlbs.cli.run import _open_db, _storer
    from dlbs.errors import UsageError

    check_plan_options(args)
    if args.max_rounds < args.rounds:
        raise UsageError(f"--max-rounds {args.max_rounds} is below --rounds {args.rounds}")
    if not 0.0 < args.alpha < 1.0 or (args.min_change is not None and args.min_change <= 0):
        raise UsageError("--alpha must be in (0, 1) and --min-change above 0")
    if not 0.0 <= args.trim < 0.5:
        raise UsageError(f"--trim {args.trim}: the share trimmed from each end must be in "
                         f"[0, 0.5) (0.2 is the default; 0 gives Welch's t)")
    output = (args.output or Path(f"bisect-{time.strftime('%Y%m%d-%H%M%S')}")).resolve()
    output.mkdir(parents=True, exist_ok=True)
    request = Request(args.repo, args.good, args.bad, round_schedule(args.rounds, args.max_rounds),
                      args.setup, args.alpha, args.paired, args.min_change,
                      args.on_setup_failure == "stop", args.trim)
    store = _open_db(args.db)
    validate = None
    if not args.no_validation:
        from dlbs.cli.validate import check_runnable
        validate = check_runnable
    with (output / "runner.txt").open("a") as runner_log:
        notes: set[str] = set()  # the CPU instead of the default GPU, said once (as dlbs run)

        def note(text: str) -> None:
            if text not in notes:
                notes.add(text)
                say(f"note: {text}")

        def expand(options: argparse.Namespace) -> list[dict[str, Any]]:
            return list(load_experiments(options, on_this_host=note))

        storer = None if store is None else _storer(store)
        session = Session(args, output, expand, validate=validate, on_finished=storer,
                          runner_log=runner_log)
        try:
            bisection = Bisector(request, session, say).run()
        finally:
            if store is not None:
                store.close()
            # as dlbs run says them: the runs not stored, and how to store them later
            for line in storer.closing_lines() if storer is not None else []:
                say(line)
    report = as_json(bisection, output)
    (output / "bisect.json").write_text(json.dumps(report, indent=1) + "\n")
    show(report, args.format)
    return 0 if bisection.result.found else 1


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def as_json(bisection: Any, output: Path) -> dict[str, Any]:
    """The bisection as JSON: each step, the first bad revision (or the suspects)."""
    from dlbs.bisect.git import SHORT

    steps = []
    for number, step in enumerate(bisection.steps):
        j = step.judgement
        steps.append({"step": number, "role": step.role, "revision": step.revision[:SHORT],
                      "rounds": j.rounds, "runs": f"{j.runs[0]}/{j.runs[1]}", "ratio": j.ratio,
                      "ci_low": j.low, "ci_high": j.high, "verdict": j.verdict,
                      "note": j.note or None})
    result = bisection.result
    names = bisection.names
    return {
        "good": names[bisection.good], "bad": names[bisection.bad],
        "candidates": bisection.candidates, "threshold": bisection.threshold,
        "test": bisection.test,
        "first_bad": names[result.first_bad] if result.first_bad else None,
        "suspects": [names[s] for s in result.suspects], "steps": steps,
        "output": str(output),
    }


def show(report: dict[str, Any], fmt: str) -> None:
    """Print the report: JSON, or the steps' table and the answer."""
    if fmt == "json":
        print(json.dumps(report, indent=1))
        return
    from dlbs.cli.dbargs import emit

    print(f"bisect: {report['candidates']} revisions after good {report['good']}; threshold: "
          f"candidate/good above {1 + report['threshold']:.4f} is slower; test: "
          f"{report['test']}")
    emit(report["steps"], "table", COLUMNS)
    if report["first_bad"]:
        print(f"first bad revision: {report['first_bad']}")
    else:
        suspects = "; ".join(report["suspects"])
        print(f"first bad revision not found: it is one of {len(report['suspects'])} "
              f"revisions whose steps were skipped or inconclusive: {suspects}")
    print(f"logs: {report['output']}")
