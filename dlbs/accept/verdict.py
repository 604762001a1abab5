"""Each node x check judged twice, each reference stated: against a reference range (a shipped,
dated table of measured runs) and against the fleet (:func:`benchstats.fleet.judge_fleet`,
whose family-wise false-alarm rate is said). Pure: figures in, verdicts and lines out.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from benchstats.fleet import FleetVerdict, judge_fleet


@dataclass(frozen=True)
class Reference:
    """A check's accepted range on one device model, with where it was measured."""

    check: str
    low: float
    unit: str
    measured: str     # date and machine, e.g. "2026-11-28, 2-core CPU host"
    higher_is_better: bool = True


@dataclass(frozen=True)
class CheckVerdict:
    """One node's verdict on one check: failed when either reference fails it."""

    node: str
    check: str
    failed: bool
    why: str          # one line


def against_reference(node: str, value: float, ref: Reference) -> CheckVerdict:
    """Fail a figure worse than the reference range's bound (a slow node is always named,
    even in a fleet too small to judge against itself)."""
    worse = value < ref.low if ref.higher_is_better else value > ref.low
    side = "below" if ref.higher_is_better else "above"
    if worse:
        return CheckVerdict(node, ref.check, True,
                            f"{ref.check} {value:.4g} {ref.unit}, {side} the reference "
                            f"{ref.low:.4g} ({ref.measured})")
    return CheckVerdict(node, ref.check, False, f"{ref.check} {value:.4g} {ref.unit}: ok")


def judge(figures: Mapping[str, Mapping[str, Sequence[float]]],
          references: Mapping[str, Reference]) -> tuple[list[CheckVerdict], list[str]]:
    """Every node x check judged against its reference (when the table has one) and the fleet;
    returns the verdicts and the fleet comparisons' false-alarm lines (one a check)."""
    verdicts, fleets = judge_checks(figures, references)
    return verdicts, [fleet.said for fleet in fleets]


def judge_checks(figures: Mapping[str, Mapping[str, Sequence[float]]],
                 references: Mapping[str, Reference]
                 ) -> tuple[list[CheckVerdict], list[FleetVerdict]]:
    """As :func:`judge`, with each check's fleet comparison itself (what the fleet chart
    draws) instead of its line."""
    checks = sorted({c for per_node in figures.values() for c in per_node})
    verdicts: list[CheckVerdict] = []
    fleets: list[FleetVerdict] = []
    for check in checks:
        runs = {node: per_node[check] for node, per_node in figures.items() if check in per_node}
        ref = references.get(check)
        fleet = judge_fleet(runs, check, ref.unit if ref else "",
                            higher_is_better=ref.higher_is_better if ref else True)
        fleets.append(fleet)
        verdicts += _merge(fleet, ref)
    return verdicts, fleets


def _merge(fleet: FleetVerdict, ref: Reference | None) -> list[CheckVerdict]:
    """A node fails a check when the fleet or the reference fails it; the reasons joined."""
    out = []
    for node in fleet.nodes:
        reasons = [node.why] if node.failed else []
        if ref is not None:
            by_ref = against_reference(node.node, node.value, ref)
            reasons += [by_ref.why] if by_ref.failed else []
        out.append(CheckVerdict(node.node, fleet.check, bool(reasons),
                                "; ".join(reasons) if reasons else node.why))
    return out


def failing_nodes(verdicts: Sequence[CheckVerdict]) -> list[str]:
    """The nodes that failed any check, in their first order."""
    return list(dict.fromkeys(v.node for v in verdicts if v.failed))


def exclude_line(verdicts: Sequence[CheckVerdict]) -> str:
    """A ready ``--exclude=`` option for sbatch ('' when every node passed)."""
    failing = failing_nodes(verdicts)
    return f"--exclude={','.join(failing)}" if failing else ""


def node_lines(verdicts: Sequence[CheckVerdict]) -> list[str]:
    """One line a node: PASS, or FAIL and its reasons joined by '; '."""
    nodes = list(dict.fromkeys(v.node for v in verdicts))
    lines = []
    for node in nodes:
        why = [v.why for v in verdicts if v.node == node and v.failed]
        lines.append(f"{node}: FAIL: {'; '.join(why)}" if why else f"{node}: PASS")
    return lines


def markdown_table(verdicts: Sequence[CheckVerdict]) -> str:
    """A per-node markdown table: a row a node x check."""
    rows = ["| node | check | verdict | why |", "| --- | --- | --- | --- |"]
    rows += [f"| {v.node} | {v.check} | {'FAIL' if v.failed else 'pass'} | {v.why} |"
             for v in verdicts]
    return "\n".join(rows) + "\n"
