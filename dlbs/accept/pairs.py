"""Between-node pairs (check ``pair_busbw``): which pairs to measure, and which node a failing
pair's fault lies with.

The nodes are paired in a ring (n1+n2, n2+n3, ..., n_k+n1): every node is in two pairs, so a
node at fault fails both of its pairs and is named by that alone. A failing pair neither of
whose nodes failed twice (each passed with its other neighbour: a fault between the two, or a
node that fails now and then) is **bisected**: each of its nodes is measured again with a
partner from a passing pair (a node known good, not their neighbour where the ring allows);
the node that fails with it is the one at fault; when both pass, the fault lies between them. Two
nodes make one pair and no third node to bisect against: a failing pair is put on the node
that failed its own checks (the slow node explains its slow pair), else on both.

Pure: pairs and the pairs' verdicts in, nodes and their one-line reasons out.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

Pair = tuple[str, str]
CHECK = "pair_busbw"


def key(pair: Pair) -> str:
    """A pair's name in figures and lines: ``a+b``."""
    return f"{pair[0]}+{pair[1]}"


def ring_pairs(nodes: Sequence[str]) -> list[Pair]:
    """Each node with the next one, the last with the first (two nodes: one pair)."""
    if len(nodes) < 2:
        return []
    if len(nodes) == 2:
        return [(nodes[0], nodes[1])]
    return [(nodes[i], nodes[(i + 1) % len(nodes)]) for i in range(len(nodes))]


@dataclass(frozen=True)
class Blame:
    """Nodes at fault (node -> why) and the failing pairs not yet put on a node."""

    at_fault: dict[str, str]
    unresolved: list[Pair]


def blame(pairs: Sequence[Pair], failed: Mapping[str, str]) -> Blame:
    """A node in two failing pairs is at fault (its reasons joined); a failing pair with a
    node at fault is explained by it; the other failing pairs are unresolved."""
    bad = [pair for pair in pairs if key(pair) in failed]
    at_fault = {}
    for node in dict.fromkeys(n for pair in bad for n in pair):
        mine = [pair for pair in bad if node in pair]
        if len(mine) >= 2:
            at_fault[node] = (f"{CHECK}: fails with both its partners: "
                              + "; ".join(f"{key(p)}: {failed[key(p)]}" for p in mine))
    unresolved = [pair for pair in bad if not set(pair) & at_fault.keys()]
    return Blame(at_fault, unresolved)


def good_partner(pairs: Sequence[Pair], failed: Mapping[str, str],
                 unresolved: Sequence[Pair] = ()) -> str | None:
    """A node of a passing pair that is in no failing pair (None: no node known good); one
    not already paired with a node of ``unresolved`` when there is one (a new partner tells
    more than the ring's neighbour measured again)."""
    bad = {n for pair in pairs if key(pair) in failed for n in pair}
    good = list(dict.fromkeys(n for pair in pairs if key(pair) not in failed for n in pair
                              if n not in bad))
    suspect = {n for pair in unresolved for n in pair}
    near = {n for pair in pairs if set(pair) & suspect for n in pair}
    return next((n for n in good if n not in near), good[0] if good else None)


def bisection_pairs(unresolved: Sequence[Pair], partner: str) -> list[Pair]:
    """Each node of the unresolved pairs with the known-good ``partner``."""
    nodes = dict.fromkeys(n for pair in unresolved for n in pair if n != partner)
    return [(node, partner) for node in nodes]


def settle(unresolved: Sequence[Pair], partner: str | None, failed: Mapping[str, str],
           second: Mapping[str, str], second_failed: Mapping[str, str],
           suspects: Collection[str] = ()) -> dict[str, str]:
    """The nodes of the unresolved pairs at fault after the bisection round: each node whose
    pair with ``partner`` failed too (``second``: every pair of that round by key, its line;
    ``second_failed``: those that failed). A pair whose two nodes both pass with the partner
    failed between them (a link, a port): both are named, with that said. A pair that could
    not be bisected (no node known good, e.g. two nodes) is put on the one of its nodes that
    failed its own checks (``suspects``), else on both."""
    out: dict[str, str] = {}
    for pair in unresolved:
        was = f"{key(pair)}: {failed[key(pair)]}"
        if partner is None:
            named = [n for n in pair if n in suspects]
            why = ("no node of a passing pair to bisect it against; put on the node that "
                   "failed its own checks" if len(named) == 1 else
                   "no node of a passing pair to bisect it against (the node at fault cannot "
                   "be told)")
            for node in named if len(named) == 1 else pair:
                out[node] = f"{CHECK}: pair {was}; {why}"
            continue
        faulty = [n for n in pair if key((n, partner)) in second_failed]
        for node in faulty:
            out[node] = (f"{CHECK}: pair {was}; bisected: with {partner} (good) too: "
                         f"{second_failed[key((node, partner))]}")
        if not faulty:
            for node in pair:
                with_partner = second.get(key((node, partner)), "not measured")
                out[node] = (f"{CHECK}: pair {was}; each node passes with {partner} "
                             f"({with_partner}): the fault lies between them (a link, a port)")
    return out
