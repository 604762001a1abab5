"""Each node x check judged twice, each reference stated: against a reference range (a shipped,
dated table of measured runs) and against the fleet (:func:`benchstats.fleet.judge_fleet`,
whose family-wise false-alarm rate is said). Pure: figures in, verdicts and lines out.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from benchstats.fleet import FAMILY_ALPHA, MIN_PEERS, NODE_ALPHA_CAP, FleetVerdict, judge_fleet

#: In a fleet too small for :func:`judge_fleet` (2 to ``MIN_PEERS`` nodes: no spread between
#: nodes can be estimated, so no t comparison), a node fails against its peers only
#: when even its best run is below this share of the best node's figure (the median of its
#: runs; above 1/share when lower is better): a gross fault, slow in every run; a run
#: disturbed by something else on the node passes when another run of it is not. A node
#: slower by less is left to the reference range.
PEER_FLOOR = 0.5
#: The family-wise false-alarm rate of that rule (the share of all-healthy fleets with any
#: node failed), measured: ``benchmarks/sim_fleet.py --small --fleets 5000 --noise 0.005 0.01
#: 0.02 0.05 0.1 0.15 0.2 0.3`` (seed 7, 2026-11-29; 3 runs a node, each lognormal around its
#: node's figure, the nodes' figures lognormal, both at the spread): spread -> {nodes: rate}.
#: In the same fleets a node 5% slower was named in none at spreads up to 10%.
SMALL_FLEET_FALSE_ALARMS: dict[float, dict[int, float]] = {
    0.005: {2: 0.0, 3: 0.0, 4: 0.0}, 0.01: {2: 0.0, 3: 0.0, 4: 0.0},
    0.02: {2: 0.0, 3: 0.0, 4: 0.0}, 0.05: {2: 0.0, 3: 0.0, 4: 0.0},
    0.10: {2: 0.0, 3: 0.0, 4: 0.0}, 0.15: {2: 0.0022, 3: 0.0058, 4: 0.0066},
    0.20: {2: 0.0138, 3: 0.0348, 4: 0.0586}, 0.30: {2: 0.0642, 3: 0.1614, 4: 0.2694}}
#: Healthy fleets a cell of :data:`SMALL_FLEET_FALSE_ALARMS` (none failed: below 3 / this at
#: 95%, the rule of three).
SMALL_FLEET_SIMULATED = 5000
#: A family-wise rate above this is not controlled (the fleet comparison's own 5%).
CONTROLLED = 0.05


@dataclass(frozen=True)
class Reference:
    """A check's accepted range on one device model, with where it was measured."""

    check: str
    low: float
    unit: str
    measured: str     # date and machine, e.g. "2026-11-28, 2-core CPU host"
    higher_is_better: bool = True
    #: the settings it was measured at (parameter -> value in one form: Suite.check_settings);
    #: () when the row records none: then it judges nothing (:func:`matching_references`)
    settings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CheckVerdict:
    """One node's verdict on one check: failed when either reference fails it."""

    node: str
    check: str
    failed: bool
    why: str          # one line
    #: False when nothing judged it (no reference row at its settings, no peers; a check that
    #: could not run): it did not fail, but it did not pass anything either
    judged: bool = True

    @property
    def said(self) -> str:
        """Its verdict in a word: FAIL, pass or not judged."""
        return "FAIL" if self.failed else "pass" if self.judged else "not judged"


def matching_references(rows: Mapping[str, Reference],
                        wanted: Mapping[str, Mapping[str, str] | None], where: str
                        ) -> tuple[dict[str, Reference], list[str]]:
    """The rows measured at the settings the checks are measured at now (``wanted``: check ->
    its settings, None when unknown), and one line for each row of a check in ``wanted`` that
    is left out, naming the setting that differs (``where``: the rows' source, said)."""
    kept: dict[str, Reference] = {}
    lines = []
    for check, settings in wanted.items():
        row = rows.get(check)
        if row is None:
            continue
        recorded = dict(row.settings)
        if settings is None:
            why = "the plan holds no such check, so its settings are unknown"
        elif not recorded:
            why = "the row records no settings it was measured at"
        else:
            differ = [f"{name} {_shown(settings.get(name), 'unset')} here, "
                      f"{_shown(recorded.get(name), 'not recorded')} in the row"
                      for name in sorted({*settings, *recorded})
                      if settings.get(name) != recorded.get(name)]
            if not differ:
                kept[check] = row
                continue
            why = "; ".join(differ)
        lines.append(f"references: {check}: no reference row matches these settings ({why}; "
                     f"the row: {where}, {row.measured}): judged against the fleet only")
    return kept, lines


def _shown(value: str | None, absent: str) -> str:
    """A setting's value as a line says it: '' for an empty one, ``(absent)`` for none."""
    return f"({absent})" if value is None else (value or "''")


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
    return verdicts, [said_line(fleet, _runs(figures, fleet.check)) for fleet in fleets]


def _runs(figures: Mapping[str, Mapping[str, Sequence[float]]], check: str
          ) -> dict[str, Sequence[float]]:
    """Each node's runs of ``check``."""
    return {node: per_node[check] for node, per_node in figures.items() if check in per_node}


def judge_checks(figures: Mapping[str, Mapping[str, Sequence[float]]],
                 references: Mapping[str, Reference], units: Mapping[str, str] | None = None
                 ) -> tuple[list[CheckVerdict], list[FleetVerdict]]:
    """As :func:`judge`, with each check's fleet comparison itself (what the fleet chart
    draws) instead of its line; ``units`` (check -> unit) for checks the table has no row
    for."""
    checks = sorted({c for per_node in figures.values() for c in per_node})
    verdicts: list[CheckVerdict] = []
    fleets: list[FleetVerdict] = []
    # a node fails when any check fails it: the false-alarm rates are shared out between the
    # checks compared by t (Bonferroni over the checks too), so the run's are those stated
    share = max(1, sum(sum(any(_usable(v) for v in per_node.get(c, []))
                           for per_node in figures.values()) > MIN_PEERS for c in checks))
    for check in checks:
        runs = {node: per_node[check] for node, per_node in figures.items()
                if any(_usable(v) for v in per_node.get(check, []))}
        verdicts += [_unmeasured(node, check, per_node.get(check))
                     for node, per_node in figures.items() if node not in runs]
        ref = references.get(check)
        fleet = judge_fleet(runs, check, ref.unit if ref else (units or {}).get(check, ""),
                            higher_is_better=ref.higher_is_better if ref else True,
                            family_alpha=FAMILY_ALPHA / share,
                            node_alpha_cap=NODE_ALPHA_CAP / share)
        fleets.append(fleet)
        verdicts += _merge(fleet, ref, runs, ref.higher_is_better if ref else True)
    return verdicts, fleets


def _usable(value: object) -> bool:
    """A figure a node can be judged on: a positive finite number."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value) and value > 0


def _unmeasured(node: str, check: str, runs: Sequence[float] | None) -> CheckVerdict:
    """A node that gave no figure of a check other nodes gave, or none usable: failed,
    never left out of the count (a broken node may report 0 or NaN)."""
    if not runs:
        return CheckVerdict(node, check, True, f"{check}: not measured on this node (the "
                            "other nodes gave a figure)")
    shown = ", ".join(f"{v:g}" if isinstance(v, (int, float)) else repr(v) for v in runs[:5])
    return CheckVerdict(node, check, True, f"{check}: no usable figure (runs: {shown}; a "
                        "figure must be a positive number)")


def said_line(fleet: FleetVerdict, runs: Mapping[str, Sequence[float]] | None = None) -> str:
    """What a check's peer comparison can judge and its false-alarm rate, in one line: the
    fleet's (5 nodes or more), or, for 2 to 4 nodes, what the rule of :data:`PEER_FLOOR` can
    tell and its measured false-alarm rate at the spread of the fleet's runs (``runs``, node
    -> runs; :func:`small_fleet_alarms`)."""
    count = len(fleet.nodes)
    if fleet.judged or count < 2:
        return fleet.said
    return (f"{fleet.check}: {count} nodes, fewer than {MIN_PEERS + 1}: too few to estimate "
            "the spread between nodes, so the fleet comparison cannot name a slow node (one "
            f"5% slower was named in no simulated fleet of {count} at spreads up to 10%): only "
            "the reference table judges that; a node fails against its peers only when its "
            f"best run is below {PEER_FLOOR:.0%} of the best node's figure (a gross fault); "
            f"{small_fleet_alarms(count, run_spread(runs or {}))}")


def overall_line(fleets: Sequence[FleetVerdict], pairs: bool = False) -> str | None:
    """The false-alarm rate of the whole acceptance, in one line, when two checks or more were
    compared across the nodes: a node fails when any check fails it, so the checks' rates add
    up (the union bound over the checks; each check's own line states its rate over the
    nodes). None for fewer than two such checks."""
    compared = [f for f in fleets if len(f.nodes) >= 2]
    if len(compared) < 2:
        return None
    apart = ("; the pairs between nodes (pair_busbw) are compared apart, at the rate of their "
             "own line, which adds to this") if pairs else ""
    judged = [f for f in compared if f.judged]
    head = (f"all {len(compared)} checks together: a node fails when any check fails it, so "
            "the checks' false-alarm rates add up")
    if len(judged) == len(compared):
        fleet_rate = min(1.0, sum(f.family_alpha for f in judged))
        node_rate = min(1.0, sum(f.node_alpha for f in judged))
        return (f"{head}, each check held to its share (Bonferroni over the nodes and the "
                f"checks): a healthy fleet has a false failure on some check in at most "
                f"{100 * fleet_rate:.3g}% of runs, a healthy node in at most "
                f"{100 * node_rate:.3g}%{apart}")
    return (f"{head}: the sum of the rates the lines above state (a bound; with fewer than "
            f"{MIN_PEERS + 1} nodes each line gives its simulated rate at the runs' spread)"
            f"{apart}")


def run_spread(runs: Mapping[str, Sequence[float]]) -> float | None:
    """The spread of the runs within the nodes: the pooled standard deviation of their log
    figures (about their CV); None when no node has two runs."""
    squares, free = 0.0, 0
    for values in runs.values():
        logs = [math.log(v) for v in values if v > 0 and math.isfinite(v)]
        if len(logs) > 1:
            mean = sum(logs) / len(logs)
            squares += sum((x - mean) ** 2 for x in logs)
            free += len(logs) - 1
    return math.sqrt(squares / free) if free else None


def small_fleet_alarms(nodes: int, spread: float | None) -> str:
    """The family-wise false-alarm rate of the rule of :data:`PEER_FLOOR` in a fleet of
    ``nodes`` (2 to 4) whose runs spread ``spread``, from :data:`SMALL_FLEET_FALSE_ALARMS` (the
    first simulated spread at or above it), said in words; not controlled above 5%."""
    table = sorted(SMALL_FLEET_FALSE_ALARMS.items())
    source = f"benchmarks/sim_fleet.py --small, {SMALL_FLEET_SIMULATED:,} fleets a cell"
    if spread is None:
        rates = ", ".join(f"{rate[nodes]:.1%} at {s:.0%}" for s, rate in table if s >= 0.15)
        return (f"false alarms: the runs' spread is unknown (one run a node; --repeat 3 gives "
                f"it): simulated healthy fleets of {nodes} had none at spreads up to 10%, "
                f"{rates} ({source})")
    above = [(s, rate[nodes]) for s, rate in table if s >= spread]
    if not above:
        top, rate = table[-1][0], table[-1][1][nodes]
        return (f"false alarms: the runs spread {spread:.1%}, beyond the {top:.0%} simulated: "
                f"not controlled ({rate:.1%} of healthy fleets of {nodes} at {top:.0%}; "
                f"{source})")
    at, rate = above[0]
    if rate == 0.0:
        said = (f"no false failure in {SMALL_FLEET_SIMULATED:,} simulated healthy fleets of "
                f"{nodes} at {at:.1%} (family-wise rate below "
                f"{3 / SMALL_FLEET_SIMULATED:.2%}, 95% bound)")
    else:
        said = (f"a false failure in {rate:.1%} of simulated healthy fleets of {nodes} at "
                f"{at:.0%} (family-wise)" + ("; not controlled" if rate > CONTROLLED else ""))
    return f"false alarms: the runs spread {spread:.1%}; {said} ({source})"


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
        if reasons:
            out.append(CheckVerdict(node.node, fleet.check, True, "; ".join(reasons)))
            continue
        by_peers = fleet.judged or node.node in peers
        side = "above" if ref is None or ref.higher_is_better else "below"
        unit = f" {fleet.unit}" if fleet.unit else ""
        by_table = (f"{side} the reference {ref.low:.4g} ({ref.measured})"
                    if ref is not None else "")
        if by_peers:
            why = f"{peer_line}; {by_table}" if by_table else peer_line
        elif by_table:
            why = f"{fleet.check} {node.value:.4g}{unit}: ok, {by_table}"
        else:
            why = (f"{fleet.check} {node.value:.4g}{unit}: not judged (no reference row at "
                   "these settings, no peers)")
        out.append(CheckVerdict(node.node, fleet.check, False, why, by_peers or ref is not None))
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
        mine = [v for v in verdicts if v.node == node]
        why = [v.why for v in mine if v.failed]
        if why:
            lines.append(f"{node}: FAIL: {'; '.join(why)}")
            continue
        unjudged = [v.check for v in mine if not v.judged]
        lines.append(f"{node}: PASS" + (f" ({len(unjudged)} of {len(mine)} checks not judged: "
                                        f"{', '.join(unjudged)})" if unjudged else ""))
    return lines


def markdown_table(verdicts: Sequence[CheckVerdict]) -> str:
    """A per-node markdown table: a row a node x check."""
    rows = ["| node | check | verdict | why |", "| --- | --- | --- | --- |"]
    rows += [f"| {v.node} | {v.check} | {v.said} | {v.why} |" for v in verdicts]
    return "\n".join(rows) + "\n"
