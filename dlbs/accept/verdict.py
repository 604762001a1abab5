"""Each node x check judged twice, each reference stated: against a reference range (a shipped,
dated table of measured runs) and against the fleet (:func:`benchstats.fleet.judge_fleet`,
whose family-wise false-alarm rate is said). Pure: figures in, verdicts and lines out.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from benchstats.fleet import MIN_PEERS, FleetVerdict, judge_fleet

#: In a fleet too small for :func:`judge_fleet` (2 to ``MIN_PEERS`` nodes: no spread between
#: nodes can be estimated, so no false-alarm rate stated), a node fails against its peers only
#: when even its best run is below this share of the best node's figure (the median of its
#: runs; above 1/share when lower is better): a gross fault, slow in every run; a run
#: disturbed by something else on the node passes when another run of it is not. A node
#: slower by less is left to the reference range.
PEER_FLOOR = 0.5


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
    return verdicts, [said_line(fleet) for fleet in fleets]


def judge_checks(figures: Mapping[str, Mapping[str, Sequence[float]]],
                 references: Mapping[str, Reference], units: Mapping[str, str] | None = None
                 ) -> tuple[list[CheckVerdict], list[FleetVerdict]]:
    """As :func:`judge`, with each check's fleet comparison itself (what the fleet chart
    draws) instead of its line; ``units`` (check -> unit) for checks the table has no row
    for."""
    checks = sorted({c for per_node in figures.values() for c in per_node})
    verdicts: list[CheckVerdict] = []
    fleets: list[FleetVerdict] = []
    for check in checks:
        runs = {node: per_node[check] for node, per_node in figures.items() if check in per_node}
        ref = references.get(check)
        fleet = judge_fleet(runs, check, ref.unit if ref else (units or {}).get(check, ""),
                            higher_is_better=ref.higher_is_better if ref else True)
        fleets.append(fleet)
        verdicts += _merge(fleet, ref, runs, ref.higher_is_better if ref else True)
    return verdicts, fleets


def said_line(fleet: FleetVerdict) -> str:
    """What a check's peer comparison can judge and its false-alarm rate, in one line: the
    fleet's (5 nodes or more), or what 2 to 4 nodes can tell (:data:`PEER_FLOOR`)."""
    count = len(fleet.nodes)
    if fleet.judged or count < 2:
        return fleet.said
    return (f"{fleet.check}: {count} nodes, fewer than {MIN_PEERS + 1}: too few to estimate "
            "the spread between nodes, so no false-alarm rate is stated; a node fails against "
            f"its peers only when its best run is below {PEER_FLOOR:.0%} of the best node's "
            "figure (a gross fault; a node slower by less is judged by the reference range "
            "alone)")


def against_peers(fleet: FleetVerdict, runs: Mapping[str, Sequence[float]],
                  higher_is_better: bool = True) -> dict[str, tuple[bool, str]]:
    """In a fleet of 2 to ``MIN_PEERS`` nodes, each node's verdict against its peers and its
    line: failed when its best run (of ``runs``, node -> runs) is below :data:`PEER_FLOOR` of
    the best node's figure (none in a larger fleet, judged by t)."""
    if fleet.judged or len(fleet.nodes) < 2:
        return {}
    sign = 1.0 if higher_is_better else -1.0
    best = max(fleet.nodes, key=lambda n: sign * n.value)
    unit = f" {fleet.unit}" if fleet.unit else ""
    found = {}
    for node in fleet.nodes:
        mine = [v for v in runs.get(node.node, [node.value]) if v > 0] or [node.value]
        top = max(mine, key=lambda v: sign * v)
        share = (top / best.value) ** sign
        of = f"its best of {len(mine)} runs " if len(mine) > 1 else ""
        head = f"{fleet.check} {node.value:.4g}{unit}, {of}{share:.2f}x the best node's"
        if share < PEER_FLOOR:
            why = (f"{head} ({best.node}: {best.value:.4g}), below the {PEER_FLOOR:.0%} a peer "
                   f"must reach ({len(fleet.nodes)} nodes: too few for the fleet's spread)")
        else:
            why = (f"{head}: ok ({len(fleet.nodes)} nodes: judged against its peers for a "
                   "gross fault only)")
        found[node.node] = (share < PEER_FLOOR, why)
    return found


def _merge(fleet: FleetVerdict, ref: Reference | None, runs: Mapping[str, Sequence[float]],
           higher_is_better: bool) -> list[CheckVerdict]:
    """A node fails a check when the fleet (or in a small one its peers) or the reference
    fails it; the reasons joined."""
    out = []
    peers = against_peers(fleet, runs, higher_is_better)
    for node in fleet.nodes:
        failed, peer_line = peers.get(node.node, (False, node.why))
        reasons = [node.why] if node.failed else []
        reasons += [peer_line] if failed else []
        if ref is not None:
            by_ref = against_reference(node.node, node.value, ref)
            reasons += [by_ref.why] if by_ref.failed else []
        out.append(CheckVerdict(node.node, fleet.check, bool(reasons),
                                "; ".join(reasons) if reasons else peer_line))
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
