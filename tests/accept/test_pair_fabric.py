"""Pair bisection on a simulated fabric (issue 60): the pairs' orchestration
(:func:`dlbs.accept.pairjob.measure_pairs`) with each Slurm array replaced by a fabric model
whose pair bandwidth is a base figure, 2% noise, times the factor of a bad node in it or of a
bad link between its two nodes. A bad node among 3, 4, 5 and 8 nodes is the one named; a bad
link is told from a bad node (both its nodes named, the fault said to lie between them), as
``dlbs.accept.pairs`` claims."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from dlbs.accept import pairjob
from dlbs.accept.pairs import Pair, key
from dlbs.accept.verdict import Reference

FLOOR = {"pair_busbw": Reference("pair_busbw", 0.25, "GB/s", "a recorded floor")}
SLOW = 0.3   # a bad node or link carries this share of the base bandwidth


@dataclass
class Fabric:
    """Pair bandwidth: ``base`` x lognormal noise x the factor of a bad node or link."""

    seed: int
    bad_nodes: frozenset[str] = frozenset()
    bad_links: frozenset[frozenset[str]] = frozenset()
    base: float = 0.5
    rounds: list[list[str]] = field(default_factory=list)

    def figure(self, pair: Pair, rng: np.random.Generator) -> float:
        factor = SLOW if set(pair) & self.bad_nodes or frozenset(pair) in self.bad_links \
            else 1.0
        return float(self.base * factor * np.exp(rng.normal(0.0, 0.02)))

    def run(self) -> Callable[..., tuple[dict[str, list[float]], dict[str, str]]]:
        rng = np.random.default_rng(self.seed)

        def one_array(job: object, pairs: list[Pair], round_name: str, say: object
                      ) -> tuple[dict[str, list[float]], dict[str, str]]:
            self.rounds.append([key(p) for p in pairs])
            return {key(p): [self.figure(p, rng) for _ in range(3)] for p in pairs}, {}
        return one_array


def _measure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, nodes: list[str],
             fabric: Fabric, references: dict[str, Reference]) -> dict[str, str]:
    monkeypatch.setattr(pairjob, "_run", fabric.run())
    job = pairjob.PairJob("debug", "python", tmp_path, tmp_path, None, 0, repeat=3)
    out = pairjob.measure_pairs(nodes, job, references, lambda line: None)
    return {v.node: v.why for v in out.verdicts if v.failed}


CASES = [(count, refs) for count in (3, 4, 5, 6, 8) for refs in ("floor", "fleet-only")
         if (count, refs) != (5, "fleet-only")]


@pytest.mark.parametrize("count,refs", CASES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_bad_node_is_the_one_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     count: int, refs: str, seed: int) -> None:
    """With the reference row, or without one by the pairs' own comparison (the peer rule at
    3-4 pairs, the t comparison from 6 pairs: the bad node's two slow pairs no longer mask
    each other, benchstats.fleet's unmasking step)."""
    references = FLOOR if refs == "floor" else {}
    nodes = [f"n{i + 1}" for i in range(count)]
    bad = nodes[seed % count]
    fabric = Fabric(seed, bad_nodes=frozenset({bad}))
    failed = _measure(monkeypatch, tmp_path, nodes, fabric, references)
    assert list(failed) == [bad], failed
    assert failed[bad].startswith("pair_busbw: fails with both its partners: ")
    assert len(fabric.rounds) == 1  # named by the ring alone: no bisection array


def test_five_nodes_without_a_reference_row_cannot_name_a_bad_node(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The limit, said: a ring of 5 pairs, 2 of them slow (the bad node's): each slow pair's
    4 peers hold the other, and taking it out leaves 3, fewer than the t comparison's 4; 5
    pairs are too many for the peer rule. Only a reference row names the node (above)."""
    nodes = [f"n{i + 1}" for i in range(5)]
    assert _measure(monkeypatch, tmp_path, nodes, Fabric(1, bad_nodes=frozenset({"n2"})),
                    {}) == {}


@pytest.mark.parametrize("count", [3, 4, 5, 6, 8])
@pytest.mark.parametrize("references", [FLOOR, {}], ids=["with-the-floor", "fleet-only"])
def test_a_bad_link_is_told_from_a_bad_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            count: int, references: dict[str, Reference]
                                            ) -> None:
    nodes = [f"n{i + 1}" for i in range(count)]
    link = frozenset({"n2", "n3"})
    fabric = Fabric(count, bad_links=frozenset({link}))
    failed = _measure(monkeypatch, tmp_path, nodes, fabric, references)
    assert sorted(failed) == ["n2", "n3"], failed
    assert all("the fault lies between them (a link, a port)" in why for why in failed.values())
    assert len(fabric.rounds) == 2  # the ring, then the bisection array
    partner = fabric.rounds[1][0].split("+")[1]
    assert partner not in link and fabric.rounds[1] == [f"n2+{partner}", f"n3+{partner}"]


def test_a_bad_node_that_fails_now_and_then_is_found_by_the_bisection(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Eight nodes; n5 is slow in its pair with n6 only (the ring's other pair with it
    passed): the pair is bisected and n5, slow again with the good partner, is named."""
    nodes = [f"n{i + 1}" for i in range(8)]

    class Flaky(Fabric):
        def figure(self, pair: Pair, rng: np.random.Generator) -> float:
            slow = "n5" in pair and (len(self.rounds) > 1 or "n6" in pair)
            return float(self.base * (SLOW if slow else 1.0) * np.exp(rng.normal(0.0, 0.02)))

    fabric = Flaky(7)
    failed = _measure(monkeypatch, tmp_path, nodes, fabric, FLOOR)
    assert list(failed) == ["n5"], failed
    assert "bisected: with" in failed["n5"] and "(good) too" in failed["n5"]
