"""``dlbs accept``: node acceptance (issue 60, docs/acceptance.md). Measures the target's
nodes with the suite (``examples/acceptance.json`` and the node checks), judges each node x
check against the reference table and against the fleet (its false-alarm rate said), prints a
line a node, the markdown table, the ``--exclude=`` line for sbatch, writes JUnit XML and,
with ``--db``, a run a node x check in the results database; exit 1 when a node fails. The
target is ``localhost`` or a Slurm partition (one job array, a task pinned to each node:
:mod:`dlbs.accept.fleetjob`; each task runs ``dlbs accept localhost --figures-out``);
``--figures`` judges figures measured elsewhere (a JSON object node -> check -> runs).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlbs.accept.pairjob import PairOutcome
    from dlbs.accept.suite import Suite

HELP = "measure nodes and name the slow or broken ones (node acceptance)"
EXAMPLE = "dlbs accept localhost --plan examples/acceptance.json --junit accept.xml"
DEFAULT_CHECKS = "matmul,memcopy,allreduce,environment,dcgmi,training"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The target, the suite and the outputs."""
    parser.add_argument("target", help="localhost (this host), or a Slurm partition: every "
                        "node of it that can start a job, measured as one job array "
                        "(--nodelist narrows it)")
    parser.add_argument("-w", "--nodelist", default=None, metavar="LIST",
                        help="Slurm: measure these nodes of the partition only (n1,n2 or "
                        "n[1-2], as sbatch -w takes them)")
    parser.add_argument("--plan", type=Path, default=None,
                        help="the suite: an ordinary plan file whose accept.* parameters say "
                        "which checks run and their settings and whose experiments are the "
                        "reference training runs (default: examples/acceptance.json here, else "
                        "the project's)")
    parser.add_argument("--checks", default=None,
                        help="comma-separated checks, instead of the plan's accept.checks "
                        f"(the shipped plan's: {DEFAULT_CHECKS}); their settings stay the "
                        "plan's")
    parser.add_argument("--burn-in", type=float, default=0.0, metavar="MINUTES",
                        help="repeat the reference training runs this long, then read the "
                        "GPUs' ECC counters and throttle reasons again, NVML's Xid events "
                        "watched throughout: new errors, an Xid or a hardware throttle fail "
                        "the node (check burn_in)")
    parser.add_argument("--device", default=None, metavar="MODEL",
                        help="the reference table's device model to judge by (default: the "
                        "GPU model NVML reports on the nodes, else cpu)")
    parser.add_argument("--repeat", type=int, default=3, metavar="N",
                        help="runs of the checks on each node (default 3): a node is judged on "
                        "the median of its runs, and in a fleet of 2-4 nodes fails against its "
                        "peers only when even its best run is below half of the best node's")
    parser.add_argument("--references", type=Path, default=None,
                        help="reference table (default: dlbs/accept/references.json)")
    parser.add_argument("--figures", type=Path, default=None,
                        help="judge these figures (JSON: node -> check -> runs) instead of "
                        "measuring; they are taken as measured at --plan's settings")
    parser.add_argument("--junit", type=Path, default=None, help="write JUnit XML here")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="write the per-node table here")
    parser.add_argument("--html", type=Path, default=None,
                        help="write an HTML page here: the fleet chart, the false-alarm "
                        "lines and the per-node table")
    parser.add_argument("--db", default=None, metavar="URL",
                        help="also store each node x check in this results database "
                        "(sqlite:///results.db; then dlbs history -Paccept.node=NODE "
                        "-Paccept.check=CHECK --metric accept.value)")
    parser.add_argument("--db-references", action="store_true",
                        help="with --db: rows the reference table lacks for the device model "
                        "are taken from the database's accepted runs (3 or more of a check; "
                        "floor: half the lowest)")
    slurm = parser.add_argument_group("Slurm (a partition as the target)")
    slurm.add_argument("--output-dir", type=Path, default=None, metavar="DIR",
                       help="where the array's script, each task's output and each node's "
                       "figures go: a folder every node can write (default: "
                       "./accept-<UTC time>)")
    slurm.add_argument("--python", default=sys.executable, metavar="PATH",
                       help="the Python (with dlbs installed) each task runs on its node "
                       "(default: this one)")
    slurm.add_argument("--time", default=None, metavar="LIMIT",
                       help="each task's time limit, as sbatch --time takes it")
    slurm.add_argument("--timeout", type=float, default=0.0, metavar="SECONDS",
                       help="cancel the array when it has not ended after this long "
                       "(default 0: wait as long as it takes)")
    task = parser.add_argument_group("one node (what each task of the array runs)")
    task.add_argument("--node", default="localhost", metavar="NAME",
                      help="localhost: the name this host's figures go under")
    task.add_argument("--figures-out", type=Path, default=None, metavar="FILE",
                      help="localhost: write this host's figures and facts (JSON) here and "
                      "judge nothing")


def _load_json(path: Path, what: str) -> Any:
    from dlbs.errors import ConfigError

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc}); see docs/acceptance.md"
                          ) from None


def _checked(figures: Any, path: Path) -> dict[str, dict[str, list[float]]]:
    """The ``--figures`` object, or a ConfigError saying what shape it must have."""
    from dlbs.errors import ConfigError

    ok = isinstance(figures, dict) and bool(figures) and all(
        isinstance(checks, dict) and all(
            isinstance(runs, list) and all(isinstance(v, (int, float)) and
                                           not isinstance(v, bool) for v in runs)
            for runs in checks.values()) for checks in figures.values())
    if not ok:
        raise ConfigError(f"{path}: figures must be a JSON object node -> check -> list of "
                          'numbers, one node or more, e.g. {"node1": {"matmul_fp32": [13.9]}}')
    return figures  # type: ignore[no-any-return]


@dataclass
class Measured:
    """What the nodes gave: figures (node -> check -> runs), each node's other facts (its
    burn-in, what was unavailable), the nodes without figures and why, the Slurm job."""

    figures: dict[str, dict[str, list[float]]]
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    job_id: str = ""
    pairs: PairOutcome | None = None
    references: tuple[str, dict[str, Any]] | None = None  # the device model and its rows
    suite: Suite | None = None  # the plan's: the settings each check is measured at


#: The facts of a node's checks that travel from its task to the verdicts.
TASK_FACTS = ("accept.burn_in", "accept.environment", "accept.environment_unavailable",
              "accept.dcgmi_output", "accept.dcgmi_unavailable")


def _plan_path(args: argparse.Namespace) -> Path:
    """``--plan``, else ``examples/acceptance.json`` in this folder, else the project's."""
    import dlbs

    if args.plan is not None:
        return Path(args.plan)
    here = Path("examples/acceptance.json")
    return here if here.is_file() else Path(dlbs.PROJECT_ROOT) / here


def _suite(args: argparse.Namespace, here: bool = True) -> Suite:
    """The plan's suite, its checks narrowed by ``--checks`` (``here``: this host runs it, so
    a plan placed on its CPU is said)."""
    from dlbs.accept.suite import load_suite, narrowed

    if args.checks is not None:  # a misspelt check is refused before the plan is read
        _check_names(args.checks)
    suite = load_suite(_plan_path(args), None if here else (lambda line: None))
    return narrowed(suite, _checks(args, suite.checks))


def _check_names(given: str) -> list[str]:
    """``--checks`` as a list; a one-line usage error for a name no check has."""
    from dlbs.accept.node import CHECK_NAMES
    from dlbs.errors import UsageError

    checks = [c.strip() for c in given.split(",") if c.strip()]
    unknown = [c for c in checks if c not in CHECK_NAMES]
    if unknown or not checks:
        raise UsageError(f"dlbs accept: --checks {given!r}: "
                         f"{'no check ' + repr(unknown[0]) if unknown else 'no check named'}; "
                         f"give some of {','.join(CHECK_NAMES)}")
    return checks


def _checks(args: argparse.Namespace, planned: tuple[str, ...]) -> list[str]:
    """The checks to run: ``--checks``, else the plan's; a one-line usage error for a check
    this target cannot run."""
    from dlbs.errors import UsageError

    checks = _check_names(args.checks) if args.checks is not None else list(planned)
    if "pair" in checks and args.target == "localhost" and args.node == "localhost":
        raise UsageError("dlbs accept: check 'pair' measures between nodes: give a Slurm "
                         "partition as the target (or leave 'pair' out of --checks)")
    if args.burn_in > 0 and "training" not in checks:
        raise UsageError("dlbs accept: --burn-in repeats the reference training runs: keep "
                         "'training' in --checks (or the plan's accept.checks)")
    return checks


def _check_options(args: argparse.Namespace) -> None:
    """Options that belong to the other kind of target: a one-line usage error."""
    from dlbs.errors import UsageError

    for option, given, where in (("--nodelist", args.nodelist, "a Slurm partition"),
                                 ("--figures-out", args.figures_out, "localhost"),
                                 ("--node", args.node != "localhost", "localhost")):
        if given and (where == "localhost") != (args.target == "localhost"):
            raise UsageError(f"dlbs accept: {option} is for {where} as the target, not "
                             f"{args.target!r}")
    if args.db_references and not args.db:
        raise UsageError("dlbs accept: --db-references reads the accepted runs of --db: give "
                         "--db URL too")
    if args.figures_out is not None and args.figures is not None:
        raise UsageError("dlbs accept: --figures-out writes what this host measured; "
                         "--figures judges figures measured before: give one")
    for option, value, scale in (("--timeout", args.timeout, 1.0),
                                 ("--burn-in", args.burn_in, 60.0)):
        if not math.isfinite(value * scale) or value < 0:  # nan would skip it, inf never end
            raise UsageError(f"dlbs accept: {option} {value:g}: give 0 or more (a finite "
                             "number)")
    if args.repeat < 1:
        raise UsageError(f"dlbs accept: --repeat {args.repeat}: give 1 or more runs")
    if args.time and args.target != "localhost":  # before anything is submitted
        _check_burn_in_fits(args.time, args.burn_in)
    for option, path in (("--junit", args.junit), ("--markdown", args.markdown),
                         ("--html", args.html), ("--figures-out", args.figures_out)):
        folder = path.parent if path is not None else None
        if folder is not None and not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
            raise UsageError(f"dlbs accept: {option} {path}: its folder {folder} is not one "
                             "this user can write; give a path in a folder that exists (checked "
                             "before anything is measured)")


def _measure_here(args: argparse.Namespace) -> Measured:
    """This host measured, its figures under ``--node``."""
    from dlbs.accept.node import measure_localhost

    suite = _suite(args)
    figures, facts = measure_localhost(suite, args.burn_in, args.repeat)
    kept = {key: facts[key] for key in TASK_FACTS if key in facts}
    return Measured({args.node: figures}, {args.node: kept}, suite=suite)


def _measure_partition(args: argparse.Namespace) -> Measured:
    """Every node of the partition (``--nodelist``) measured as one job array; with the check
    ``pair``, then the ring of pairs between the nodes measured (a second array, a third to
    bisect a failing pair)."""
    from dlbs.accept import fleetjob
    from dlbs.cli.output import say

    suite = _suite(args, here=False)  # a plan no task could read stops us before sbatch
    checks = list(suite.checks)
    on_nodes = [c for c in checks if c != "pair"]
    plan = _plan_path(args).resolve()
    target = fleetjob.find_target(args.target, args.nodelist)
    if args.time:
        fleetjob.check_time(args.time)
    missing = {node: f"not measured: Slurm state {state}"
               for node, state in target.unavailable.items()}
    if not target.nodes:
        return Measured({}, missing=missing, suite=suite)
    folder = (args.output_dir or Path(f"accept-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
                                      )).resolve()
    _make_folder(folder)
    measured = Measured({}, missing=missing, suite=suite)
    if on_nodes:
        script = folder / "accept.sbatch"
        command = fleetjob.task_command(args.python, ",".join(on_nodes), plan,
                                        args.burn_in, folder, args.repeat)
        _write(script, fleetjob.array_script(target.nodes, target.partition, command,
                                             Path.cwd(), args.time), "--output-dir")
        job = fleetjob.submit_pinned(script, target.nodes, folder, results=[
            folder / fleetjob.TASK_FILE.format(node=node) for node in target.nodes])
        say(f"dlbs accept: job array {job}: {len(target.nodes)} node(s) of {target.partition} "
            f"({', '.join(target.nodes)}); task outputs and figures in {folder}")
        fleetjob.wait(job, len(target.nodes), args.timeout, say)
        figures, facts, lost = fleetjob.gather(job, target.nodes, folder)
        _write(folder / "figures.json", json.dumps(figures, indent=1) + "\n", "--output-dir")
        measured = Measured(figures, facts, {**missing, **lost}, job, suite=suite)
    if "pair" in checks:
        from dlbs.accept.pairjob import PairJob, measure_pairs
        from dlbs.accept.verdict import failing_nodes

        nodes = [n for n in target.nodes if n in measured.figures] if on_nodes else target.nodes
        measured.references = _references(args, measured)
        references = measured.references[1]
        suspects = failing_nodes(_verdicts(measured, references)[0])
        measured.pairs = measure_pairs(nodes, PairJob(target.partition, args.python, folder,
                                                      Path.cwd(), args.time, args.timeout,
                                                      args.repeat, plan),
                                       references, say, suspects)
    return measured


def _check_burn_in_fits(limit: str, burn_in: float) -> None:
    """A UsageError when each task's ``--time`` ends before its burn-in does: Slurm would kill
    every task at its limit, and every node would fail 'not measured' after that long."""
    from dlbs.errors import UsageError
    from dlbs.slurm.script import limit_seconds

    seconds = limit_seconds(limit)
    if seconds is not None and burn_in > 0 and seconds <= 60.0 * burn_in:
        raise UsageError(f"dlbs accept: --burn-in {burn_in:g} (minutes) does not fit in --time "
                         f"{limit}: each task would be killed at its limit before its burn-in "
                         "ends; give a --time longer than the burn-in and the checks together")


def _make_folder(folder: Path) -> None:
    from dlbs.errors import UsageError

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"dlbs accept: --output-dir {folder}: cannot make it "
                         f"({err.strerror or err}); give a folder every node can write") from None


def _measured(args: argparse.Namespace) -> Measured:
    """Every node's figures: read from ``--figures``, measured here, or on a partition."""
    if args.figures is not None:  # measured with the plan's settings (--plan): said so
        figures = _checked(_load_json(args.figures, "figures"), args.figures)
        return Measured(figures, suite=_suite(args, here=False))
    if args.target == "localhost":
        return _measure_here(args)
    return _measure_partition(args)


def _write(path: Path, text: str, option: str) -> None:
    """``text`` into ``path`` whole or not at all, never through a link planted at its name
    (as ``dlbs report`` writes its files); a failure is one line naming the option."""
    from safeio import atomic_write_text

    from dlbs.errors import DLBSError

    try:
        atomic_write_text(path, text)
    except OSError as err:
        raise DLBSError(f"{option} {path}: cannot write it: {err.strerror or err}") from None


def _judged_settings(measured: Measured) -> dict[str, dict[str, str] | None]:
    """Each check judged (the suite's figure checks, ``pair_busbw`` with ``pair``, and any
    other figure given) -> the settings its figure is measured at (None: unknown)."""
    suite = measured.suite
    checks = dict.fromkeys([*(suite.figure_checks() if suite else []),
                            *(c for runs in measured.figures.values() for c in runs)])
    return {check: suite.check_settings(check) if suite else None for check in checks}


def _references(args: argparse.Namespace, measured: Measured) -> tuple[str, dict[str, Any]]:
    """The device model the nodes are judged as (``--device``, else NVML's on the nodes) and
    the rows for it measured at the settings of the checks (the table's, and with
    ``--db-references`` the database's accepted runs'); a model the table lacks, and a row
    left out for its settings, are said on stderr."""
    from dlbs.accept.node import REFERENCES, fleet_device, load_references
    from dlbs.accept.verdict import matching_references

    device, mixed = (args.device, None) if args.device else fleet_device(measured.facts)
    if mixed:
        print(mixed, file=sys.stderr)
    path = args.references or REFERENCES
    wanted = _judged_settings(measured)
    table = load_references(path, device)
    rows, lines = matching_references(table, wanted, f"{path}, device {device}")
    for line in lines:
        print(line, file=sys.stderr)
    if args.db_references:
        rows = {**_db_references(args.db, device, wanted), **rows}
    if not table and not rows:
        print(f"references: {path} has no row for device {device!r}: judged against the "
              "fleet only; add its rows from accepted nodes (docs/acceptance.md)",
              file=sys.stderr)
    return device, rows


def _db_references(url: str, device: str, wanted: dict[str, dict[str, str] | None]
                   ) -> dict[str, Any]:
    """The reference rows of the database's accepted runs of ``device``, each said on
    stderr (the table's own rows win over them)."""
    from dlbs.accept.records import PHASE, references_from_runs
    from dlbs.db import open_store

    store = open_store(url, readonly=True)
    try:
        runs = [r.facts for r in store.runs({"exp.phase": PHASE, "accept.device": device},
                                            include_excluded=False)]
    finally:
        shown = store.shown
        store.close()
    rows, lines = references_from_runs(runs, device, shown, wanted)
    for line in lines:
        print(line, file=sys.stderr)
    for ref in rows.values():
        print(f"references: {ref.check} floor {ref.low:.4g} {ref.unit} from {ref.measured}",
              file=sys.stderr)
    return rows


def _task_file(args: argparse.Namespace, measured: Measured) -> int:
    """``--figures-out``: this host's figures and facts for the array's gathering; no verdict."""
    record = {"node": args.node, "figures": measured.figures[args.node],
              "facts": measured.facts.get(args.node, {})}
    _write(args.figures_out, json.dumps(record, indent=1, default=str) + "\n", "--figures-out")
    return 0


def _said_facts(measured: Measured) -> None:
    """What each node could not read (NVML, dcgmi), on stderr: a line a node and fact."""
    for node, facts in measured.facts.items():
        for key in ("accept.environment_unavailable", "accept.dcgmi_unavailable"):
            if key in facts:
                name = key.split(".")[1].split("_")[0]
                prefix = "" if node == "localhost" else f"{node}: "
                print(f"{prefix}{name}: {facts[key]}", file=sys.stderr)


def _verdicts(measured: Measured, references: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """Each node x check judged; each node's burn-in; a failed ``measured`` check a node
    that gave no figures."""
    from dlbs.accept.burnin import burn_in_verdict
    from dlbs.accept.dcgmi import dcgmi_verdict
    from dlbs.accept.environment import environment_verdicts
    from dlbs.accept.node import unit_of
    from dlbs.accept.verdict import CheckVerdict, judge_checks

    verdicts, fleets = judge_checks(measured.figures, references,
                                    {c: unit_of(c) for runs in measured.figures.values()
                                     for c in runs})
    for node, facts in measured.facts.items():
        burned = facts.get("accept.burn_in")
        if burned:
            verdicts.append(burn_in_verdict(node, burned["minutes"], burned["runs"],
                                            burned["before"], burned["after"]))
        diag = dcgmi_verdict(node, facts)
        verdicts += [diag] if diag else []
    verdicts += environment_verdicts(measured.facts)
    verdicts += measured.pairs.verdicts if measured.pairs else []
    verdicts += [CheckVerdict(node, "measured", True, why)
                 for node, why in measured.missing.items()]
    judged = {v.node for v in verdicts}
    verdicts += [CheckVerdict(node, "measured", False, "measured, but no check run gives a "
                              "verdict (environment is read, and judged only by --burn-in)",
                              judged=False)
                 for node in dict.fromkeys([*measured.figures, *measured.facts])
                 if node not in judged]
    return verdicts, fleets


def _store(url: str, rows: list[dict[str, Any]]) -> None:
    """Every node x check into the results database, or a one-line error naming ``--db``."""
    from dlbs.db import open_store
    from dlbs.errors import DLBSError

    store = open_store(url)
    try:
        stored = store.store_many([(row, f"dlbs accept {row['accept.target']}") for row in rows])
    except DLBSError as err:
        raise DLBSError(f"--db {store.shown}: the verdicts were not stored: {err}") from None
    finally:
        store.close()
    print(f"--db {store.shown}: stored {stored} node x check run(s)", file=sys.stderr)


#: The exit status of a run that judged no node (an error: a bad plan, table or figures, a
#: check that could not run here, an output not written): not 1, a node's failure, so that a
#: script gating on the status never reads an error as a failed node.
NOT_JUDGED = 3


def run(args: argparse.Namespace) -> int:
    """Measure, judge, print; 1 when a node failed, 2 for a bad command line, 3 when no
    verdict could be given (:data:`NOT_JUDGED`)."""
    from dlbs.errors import DLBSError

    try:
        return _run(args)
    except DLBSError as err:
        if err.exit_code == 1:
            err.exit_code = NOT_JUDGED
        raise


def _run(args: argparse.Namespace) -> int:
    """As :func:`run`, its errors as they are raised."""
    from dlbs.accept.junit import junit_xml
    from dlbs.accept.node import REFERENCES, load_references, unit_of
    from dlbs.accept.page import html_page
    from dlbs.accept.records import accept_facts
    from dlbs.accept.verdict import (
        exclude_line,
        failing_nodes,
        markdown_table,
        node_lines,
        overall_line,
        said_line,
    )
    from dlbs.cli.output import say

    _check_options(args)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_references(args.references or REFERENCES)  # a table it cannot read stops us here
    if args.db:  # a bad URL stops us before anything is measured
        from dlbs.db import open_store
        open_store(args.db).close()
    measured = _measured(args)
    if args.figures_out is not None:
        return _task_file(args, measured)
    _said_facts(measured)
    device, references = measured.references or _references(args, measured)
    verdicts, fleets = _verdicts(measured, references)
    pair_lines = measured.pairs.lines if measured.pairs else []
    said = [said_line(fleet, {node: runs[fleet.check] for node, runs in measured.figures.items()
                              if fleet.check in runs}) for fleet in fleets]
    said += [line for line in [overall_line(fleets, bool(measured.pairs and pair_lines))]
             if line]
    for line in node_lines(verdicts) + pair_lines + said:
        print(line)
    print(exclude_line(verdicts) or "no node failed: nothing to exclude")
    if args.markdown is not None:
        _write(args.markdown, markdown_table(verdicts), "--markdown")
    if args.junit is not None:
        _write(args.junit, junit_xml(verdicts), "--junit")
    if args.html is not None:
        _write(args.html, html_page(verdicts, fleets, references, pair_lines=pair_lines,
                                    said_lines=said), "--html")
    if args.db:
        target = "figures" if args.figures is not None else args.target
        runs = measured.pairs.runs if measured.pairs else {}
        figures = {node: {**checks, **({"pair_busbw": runs[node]} if node in runs else {})}
                   for node, checks in {**{n: {} for n in runs}, **measured.figures}.items()}
        _store(args.db, accept_facts(verdicts, figures,
                                     {c: unit_of(c) for runs in figures.values() for c in runs},
                                     target, measured.job_id, started, device,
                                     _judged_settings(measured)))
    failing = failing_nodes(verdicts)
    if failing:
        say(f"dlbs accept: {len(failing)} of {len({v.node for v in verdicts})} node(s) failed: "
            f"{', '.join(failing)}")
        return 1
    return 0
