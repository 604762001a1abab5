"""The fleet verdict (``benchstats.fleet``): a slow node named, healthy ones kept, the
false-alarm rates as stated (simulated fleets, fixed seeds; ``benchmarks/sim_fleet.py`` has
the full table)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from benchstats.fleet import FAMILY_ALPHA, NODE_ALPHA_CAP, judge_fleet, node_alpha


def _fleet(rng: np.random.Generator, nodes: int, spread: float,
           slow: float = 0.0) -> dict[str, list[float]]:
    values = 1000.0 * np.exp(rng.normal(0.0, spread, nodes))
    values[0] *= 1.0 - slow
    return {f"node{i:03d}": [float(v)] for i, v in enumerate(values)}


def test_a_node_five_percent_slow_is_named_with_its_reason() -> None:
    rng = np.random.default_rng(1)
    found = 0
    for _ in range(100):
        verdict = judge_fleet(_fleet(rng, 16, 0.005, slow=0.05), "matmul bf16", "TFLOP/s")
        found += [n.node for n in verdict.failed] == ["node000"]
    assert found >= 95  # 16 nodes, 0.5% spread
    line = verdict.failed[0].why if verdict.failed else ""
    assert line.startswith("matmul bf16 ") and "below the fleet's median" in line
    assert "TFLOP/s" in line and "a node)" in line


def test_healthy_fleets_fail_a_node_no_more_often_than_stated() -> None:
    rng = np.random.default_rng(2)
    fleets, nodes, any_false, false = 600, 16, 0, 0
    for _ in range(fleets):
        verdict = judge_fleet(_fleet(rng, nodes, 0.01), "throughput")
        any_false += bool(verdict.failed)
        false += len(verdict.failed)
    # the stated rates, with three binomial standard errors of room
    assert any_false / fleets <= FAMILY_ALPHA + 3 * math.sqrt(FAMILY_ALPHA / fleets)
    assert false / (fleets * nodes) <= NODE_ALPHA_CAP + 3 * math.sqrt(NODE_ALPHA_CAP
                                                                     / (fleets * nodes))


def test_a_broken_node_does_not_hide_a_slow_one() -> None:
    """The failed are left out of the yardstick: a node at half speed does not widen it so
    much that a 6% slower one passes."""
    rng = np.random.default_rng(3)
    figures = _fleet(rng, 32, 0.005)
    figures["node001"] = [figures["node001"][0] * 0.5]
    figures["node002"] = [figures["node002"][0] * 0.94]
    failed = {n.node for n in judge_fleet(figures, "throughput").failed}
    assert failed == {"node001", "node002"}


def test_lower_is_better_and_small_differences_never_fail() -> None:
    rng = np.random.default_rng(4)
    latency = {name: [v[0] / 1000.0] for name, v in _fleet(rng, 20, 0.001).items()}
    latency["node005"] = [latency["node005"][0] * 1.10]  # 10% slower: a longer latency
    verdict = judge_fleet(latency, "all-reduce latency", "ms", higher_is_better=False)
    assert [n.node for n in verdict.failed] == ["node005"]
    assert "above the fleet's median" in verdict.failed[0].why
    # a 1% difference in a very quiet fleet is far out by t, but below the 2% that matters
    quiet = _fleet(rng, 20, 0.0001)
    quiet["node007"] = [quiet["node007"][0] * 0.99]
    assert not judge_fleet(quiet, "throughput").failed


def test_too_few_nodes_are_not_judged_against_each_other() -> None:
    verdict = judge_fleet({"a": [10.0], "b": [5.0], "c": [10.0], "d": [10.1]}, "x")
    assert not verdict.judged and not verdict.failed
    assert "not judged against each other" in verdict.said


@pytest.mark.parametrize(("nodes", "alpha"), [(8, NODE_ALPHA_CAP), (1024, FAMILY_ALPHA / 1024)])
def test_the_rates_are_stated(nodes: int, alpha: float) -> None:
    assert node_alpha(nodes) == alpha
    verdict = judge_fleet(_fleet(np.random.default_rng(5), nodes, 0.01), "x", "u")
    assert f"in at most {FAMILY_ALPHA:.0%} of runs" in verdict.said
    assert f"{alpha:.2g} a node" in verdict.said


@pytest.mark.parametrize("count", [6, 8, 16])
def test_two_alike_slow_nodes_do_not_mask_each_other(count: int) -> None:
    """Two nodes at 0.3x (a bad node's two pairs of a ring): judged with the other in its
    yardstick neither failed at 8 nodes; Rosner's step takes them out in turn."""
    rng = np.random.default_rng(count)
    figures = _fleet(rng, count, 0.02)
    names = sorted(figures)
    for name in names[:2]:
        figures[name] = [figures[name][0] * 0.3]
    assert sorted(n.node for n in judge_fleet(figures, "x").failed) == names[:2]
