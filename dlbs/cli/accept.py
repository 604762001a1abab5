"""``dlbs accept``: node acceptance (issue 60, docs/acceptance.md). Measures the target's
nodes with the suite (``examples/acceptance.json`` and the node checks), judges each node x
check against the reference table and against the fleet (its false-alarm rate said), prints a
line a node, the markdown table, the ``--exclude=`` line for sbatch, writes JUnit XML; exit 1
when a node fails. This version measures ``localhost``; ``--figures`` judges figures measured
elsewhere (a JSON object node -> check -> runs).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HELP = "measure nodes and name the slow or broken ones (node acceptance)"
EXAMPLE = "dlbs accept localhost --plan examples/acceptance.json --junit accept.xml"
DEFAULT_CHECKS = "matmul,memcopy,allreduce,environment,dcgmi,training"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The target, the suite and the outputs."""
    parser.add_argument("target", help="localhost (this version; a Slurm partition or node "
                        "list is not yet run)")
    parser.add_argument("--plan", type=Path, default=Path("examples/acceptance.json"),
                        help="the plan of the reference training run")
    parser.add_argument("--checks", default=DEFAULT_CHECKS,
                        help=f"comma-separated checks (default: {DEFAULT_CHECKS})")
    parser.add_argument("--burn-in", type=float, default=0.0, metavar="MINUTES",
                        help="repeat the reference training run this long, then read the "
                        "GPUs' ECC counters and throttle reasons again: new errors or a "
                        "hardware throttle fail the node (check burn_in)")
    parser.add_argument("--references", type=Path, default=None,
                        help="reference table (default: dlbs/accept/references.json)")
    parser.add_argument("--figures", type=Path, default=None,
                        help="judge these figures (JSON: node -> check -> runs) instead of "
                        "measuring")
    parser.add_argument("--junit", type=Path, default=None, help="write JUnit XML here")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="write the per-node table here")
    parser.add_argument("--html", type=Path, default=None,
                        help="write an HTML page here: the fleet chart, the false-alarm "
                        "lines and the per-node table")


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

    ok = isinstance(figures, dict) and all(
        isinstance(checks, dict) and all(
            isinstance(runs, list) and all(isinstance(v, (int, float)) for v in runs)
            for runs in checks.values()) for checks in figures.values())
    if not ok:
        raise ConfigError(f"{path}: figures must be a JSON object node -> check -> list of "
                          'numbers, e.g. {"node1": {"matmul_fp32": [13.9]}}')
    return figures  # type: ignore[no-any-return]


def _figures(args: argparse.Namespace
             ) -> tuple[dict[str, dict[str, list[float]]], dict[str, Any] | None]:
    """Every node's figures, measured here or read from ``--figures``, and what the burn-in
    read (``accept.burn_in``: None without one)."""
    from dlbs.accept.node import measure_localhost
    from dlbs.errors import UsageError

    if args.figures is not None:
        return _checked(_load_json(args.figures, "figures"), args.figures), None
    if args.target != "localhost":
        raise UsageError(f"dlbs accept: target {args.target!r}: this version measures "
                         "localhost only (Slurm partitions and node lists are not yet run); "
                         "measure each node with 'dlbs accept localhost' or pass --figures")
    checks = [c for c in args.checks.split(",") if c]
    if args.burn_in > 0 and "training" not in checks:
        raise UsageError("dlbs accept: --burn-in repeats the reference training run: keep "
                         "'training' in --checks")
    figures, facts = measure_localhost(checks, _load_json(args.plan, "plan"), args.burn_in)
    for key in ("accept.environment_unavailable", "accept.dcgmi_unavailable"):
        if key in facts:
            print(f"{key.split('.')[1].split('_')[0]}: {facts[key]}", file=sys.stderr)
    return {"localhost": figures}, facts.get("accept.burn_in")


def _write(path: Path, text: str, option: str) -> None:
    """``text`` into ``path`` whole or not at all, never through a link planted at its name
    (as ``dlbs report`` writes its files); a failure is one line naming the option."""
    from safeio import atomic_write_text

    from dlbs.errors import DLBSError

    try:
        atomic_write_text(path, text)
    except OSError as err:
        raise DLBSError(f"{option} {path}: cannot write it: {err.strerror or err}") from None


def run(args: argparse.Namespace) -> int:
    """Measure, judge, print; 1 when a node failed."""
    from dlbs.accept.burnin import burn_in_verdict
    from dlbs.accept.junit import junit_xml
    from dlbs.accept.node import REFERENCES, load_references
    from dlbs.accept.page import html_page
    from dlbs.accept.verdict import (
        exclude_line,
        failing_nodes,
        judge_checks,
        markdown_table,
        node_lines,
    )
    from dlbs.cli.output import say

    references = load_references(args.references or REFERENCES)
    figures, burned = _figures(args)
    verdicts, fleets = judge_checks(figures, references)
    if burned:
        verdicts.append(burn_in_verdict("localhost", burned["minutes"], burned["runs"],
                                        burned["before"], burned["after"]))
    said = [fleet.said for fleet in fleets]
    for line in node_lines(verdicts) + said:
        print(line)
    print(exclude_line(verdicts) or "no node failed: nothing to exclude")
    if args.markdown is not None:
        _write(args.markdown, markdown_table(verdicts), "--markdown")
    if args.junit is not None:
        _write(args.junit, junit_xml(verdicts), "--junit")
    if args.html is not None:
        _write(args.html, html_page(verdicts, fleets, references), "--html")
    failing = failing_nodes(verdicts)
    if failing:
        say(f"dlbs accept: {len(failing)} of {len({v.node for v in verdicts})} node(s) failed: "
            f"{', '.join(failing)}")
        return 1
    return 0
