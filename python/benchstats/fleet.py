"""Which nodes of a fleet are slower than their peers: a per-node verdict whose false-alarm
rate is stated (node acceptance, ``dlbs accept``).

Each node gives one figure per check (the median of its runs: a matmul rate, a training
throughput, an all-reduce bandwidth). A node is judged against the *other* nodes, as a new
observation against a sample: on log figures, with ``m`` healthy peers of mean ``mu`` and
standard deviation ``s``, the statistic ``t = (x - mu) / (s * sqrt(1 + 1/m))`` follows Student's
t with ``m - 1`` degrees of freedom when the node is like its peers and the figures are normal
(the prediction interval of one more observation). The peers are the nodes not failed: the
nodes that fail are left out and the others judged again, until none more fails (Rosner's
generalised ESD), so a few broken nodes do not widen the yardstick that judges the
others, and healthy nodes are never trimmed from it (which would narrow it and fail more).
Nodes that mask each other (two slow nodes, each widening the other's yardstick so that
neither fails: a bad node's two pairs of a ring) are first taken out as Rosner's procedure
does: the worst removed in turn, the first ``k`` out when the ``k``-th is beyond its bound. A node fails when ``t`` lies beyond the one-sided critical value at
``node_alpha`` and its figure is at least ``min_change`` worse than the fleet's median (a
difference too small to matter is never a failure, however quiet the fleet).

**False alarms.** ``node_alpha`` is ``family_alpha / n`` (Bonferroni over the ``n`` nodes),
and at most ``NODE_ALPHA_CAP``: the chance that a fleet of healthy nodes has any false failure
is at most ``family_alpha`` (5% by default), and the chance for one healthy node at most
0.08% whatever the fleet's size. Both are stated in every verdict (:attr:`FleetVerdict.said`).
Checked by simulation (``benchmarks/sim_fleet.py``; ``tests/benchstats/test_fleet.py``).

Pure: numbers in, a verdict out (numpy and :mod:`benchstats.tdist`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from benchstats.tdist import t_quantile

#: Family-wise false-alarm rate over a fleet of healthy nodes (any node failed).
FAMILY_ALPHA = 0.05
#: The most a healthy node may be failed, in a fleet of any size.
NODE_ALPHA_CAP = 0.0008
#: A node must be at least this much worse than the fleet's median to fail.
MIN_CHANGE = 0.02
#: Fewest peers a node is judged against (their t then has 3 degrees of freedom).
MIN_PEERS = 4


@dataclass(frozen=True)
class NodeVerdict:
    """One node's figure for one check, against its peers."""

    node: str
    value: float      # the node's figure (median of its runs)
    ratio: float      # value / the fleet's median
    t: float          # the statistic (negative: worse), NaN when not judged
    failed: bool
    why: str          # one line: the figure, how far from the median, the bound

    def as_json(self) -> dict[str, object]:
        return {"node": self.node, "value": self.value, "ratio": self.ratio,
                "t": None if math.isnan(self.t) else self.t, "failed": self.failed,
                "why": self.why}


@dataclass(frozen=True)
class FleetVerdict:
    """Every node's verdict on one check, and what the false-alarm rates are."""

    check: str
    unit: str
    nodes: list[NodeVerdict]
    median: float
    spread: float          # the peers' standard deviation of log figures (~ CV)
    node_alpha: float
    family_alpha: float
    judged: bool           # False: too few nodes to judge against each other

    @property
    def failed(self) -> list[NodeVerdict]:
        return [n for n in self.nodes if n.failed]

    @property
    def said(self) -> str:
        """The false-alarm rates in one line."""
        if not self.judged:
            return (f"{self.check}: {len(self.nodes)} node(s), fewer than {MIN_PEERS + 1}: not "
                    "judged against each other (only against the reference ranges)")
        return (f"{self.check}: {len(self.nodes)} nodes, median {_num(self.median)} "
                f"{self.unit}, spread {self.spread:.1%}; a healthy fleet has a false failure "
                f"in at most {_percent(self.family_alpha)} of runs, a healthy node in at most "
                f"{_percent(self.node_alpha)} (one-sided t, {self.node_alpha:.2g} a node)")


def _percent(share: float) -> str:
    """A rate in percent to three digits (5%, 1.67%, 0.08%, 0.0267%)."""
    return f"{100 * share:.3g}%"


def _num(value: float) -> str:
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"


def node_alpha(nodes: int, family_alpha: float = FAMILY_ALPHA,
               cap: float = NODE_ALPHA_CAP) -> float:
    """The per-node false-alarm rate: Bonferroni's ``family_alpha / nodes``, at most ``cap``."""
    return min(family_alpha / max(nodes, 1), cap)


def judge_fleet(figures: Mapping[str, Sequence[float]], check: str, unit: str = "",
                higher_is_better: bool = True, family_alpha: float = FAMILY_ALPHA,
                min_change: float = MIN_CHANGE, node_alpha_cap: float = NODE_ALPHA_CAP
                ) -> FleetVerdict:
    """Judge each node's figure (the median of its runs) against the other nodes'
    (``family_alpha`` and ``node_alpha_cap``: this check's share of the rates when a node is
    judged on several checks, each at its share)."""
    names = [name for name, runs in figures.items() if _finite(runs)]
    values = np.array([float(np.median([v for v in figures[n] if _ok(v)])) for n in names])
    sign = 1.0 if higher_is_better else -1.0
    logs = sign * np.log(values) if len(values) else values
    alpha = node_alpha(len(names), family_alpha, node_alpha_cap)
    median = float(np.exp(sign * np.median(logs))) if len(values) else math.nan
    if len(names) < MIN_PEERS + 1:
        nodes = [NodeVerdict(n, float(v), float(v / median), math.nan, False,
                             f"{check} {_num(float(v))} {unit}: not judged (too few nodes)")
                 for n, v in zip(names, values)]
        return FleetVerdict(check, unit, nodes, median, math.nan, alpha, family_alpha, False)
    x = logs - float(np.median(logs))
    worse = 1.0 - (values / median) ** sign
    peers = _unmasked(x, worse, alpha, min_change)
    while True:  # fail the worst, judge the rest again without them (a generalised ESD)
        t, m = _leave_one_out(x, peers)
        bounds = np.array([t_quantile(1.0 - alpha, k - 1) if k >= MIN_PEERS else math.inf
                           for k in m])
        failing = (t < -bounds) & (worse >= min_change)
        if not (failing & peers).any():
            break
        peers &= ~failing
    nodes = [_verdict(n, float(v), float(tt), int(k), alpha, median, check, unit, sign,
                      min_change) for n, v, tt, k in zip(names, values, t, m)]
    spread = float(np.std(logs[peers], ddof=1)) if peers.sum() > 1 else math.nan
    return FleetVerdict(check, unit, nodes, median, spread, alpha, family_alpha, True)


def _unmasked(x: np.ndarray, worse: np.ndarray, alpha: float, min_change: float
              ) -> np.ndarray:
    """The peers left once Rosner's generalised ESD has taken out the nodes that mask each
    other: the worst node (lowest ``t`` against the rest) removed, then the worst of the rest,
    while each still has ``MIN_PEERS`` peers (at most half the fleet); the first ``k`` removed
    leave the peers when the ``k``-th was beyond its bound and at least ``min_change`` worse.
    Two slow nodes (a bad node's two pairs of a ring) widen each other's yardstick so that
    neither fails when judged with the other; removed in turn, the second is judged without
    the first."""
    count = len(x)
    candidates = np.ones(count, bool)
    removed: list[int] = []
    last = 0
    for step in range(min(count - MIN_PEERS, count // 2)):
        t, m = _leave_one_out(x, candidates)
        worst = int(np.argmin(np.where(candidates, t, np.inf)))
        removed.append(worst)
        if t[worst] < -t_quantile(1.0 - alpha, int(m[worst]) - 1) and \
                worse[worst] >= min_change:
            last = step + 1
        candidates[worst] = False
    peers = np.ones(count, bool)
    peers[removed[:last]] = False
    return peers


def _leave_one_out(x: np.ndarray, peers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each node's statistic against its peers, itself left out, and how many peers that is
    (sums over the peers, less the node's own terms: one pass, not one per node)."""
    own = peers.astype(float)
    m = peers.sum() - own
    s1 = float(x[peers].sum()) - own * x
    s2 = float((x[peers] ** 2).sum()) - own * x * x
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = s1 / m
        var = np.maximum(s2 - m * mu * mu, 0.0) / (m - 1)
        t = (x - mu) / np.sqrt(var * (1.0 + 1.0 / m))
    same = var <= 0
    t[same] = np.where(x[same] < mu[same], -np.inf, np.where(x[same] > mu[same], np.inf, 0.0))
    return t, m


def _verdict(name: str, value: float, t: float, peers: int, alpha: float, median: float,
             check: str, unit: str, sign: float, min_change: float) -> NodeVerdict:
    """One node's verdict and its line."""
    ratio = value / median
    worse = 1.0 - ratio ** sign  # how much worse than the median (0.05: 5% worse)
    if peers < MIN_PEERS:
        return NodeVerdict(name, value, ratio, math.nan, False,
                           f"{check} {_num(value)} {unit}: fewer than {MIN_PEERS} peers")
    bound = t_quantile(1.0 - alpha, peers - 1)
    failed = t < -bound and worse >= min_change
    where = "below" if sign > 0 else "above"
    if failed:
        why = (f"{check} {_num(value)} {unit}, {worse:.0%} {where} the fleet's median "
               f"{_num(median)} (t = {t:.1f}, bound -{bound:.1f} at {alpha:.2g} a node)")
    else:
        why = f"{check} {_num(value)} {unit}, {ratio:.3f}x the fleet's median: ok"
    return NodeVerdict(name, value, ratio, t, failed, why)


def _ok(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _finite(runs: Sequence[float]) -> bool:
    return any(_ok(v) for v in runs)
