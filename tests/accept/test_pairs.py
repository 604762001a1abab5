"""Between-node pairs (issue 60): the ring of pairs, a node in two failing pairs named, a
failing pair bisected against a node known good, two nodes put on the one that failed its own
checks. Recorded verdicts in, nodes and reasons out."""
from __future__ import annotations

import pytest

from dlbs.accept.pairs import bisection_pairs, blame, good_partner, key, ring_pairs, settle

SIX = ["n1", "n2", "n3", "n4", "n5", "n6"]


@pytest.mark.parametrize("nodes,pairs", [
    pytest.param(["n1"], [], id="one-node-no-pair"),
    pytest.param(["n1", "n2"], [("n1", "n2")], id="two-nodes-one-pair"),
    pytest.param(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a")], id="a-ring-of-three"),
])
def test_nodes_are_paired_in_a_ring(nodes: list[str], pairs: list[tuple[str, str]]) -> None:
    assert ring_pairs(nodes) == pairs


def test_a_node_failing_with_both_its_partners_is_named_and_explains_both_pairs() -> None:
    pairs = ring_pairs(SIX)
    failed = {"n3+n4": "pair_busbw 0.05 GB/s, below the reference 0.25",
              "n4+n5": "pair_busbw 0.04 GB/s, below the reference 0.25"}
    found = blame(pairs, failed)
    assert list(found.at_fault) == ["n4"] and found.unresolved == []
    assert found.at_fault["n4"] == ("pair_busbw: fails with both its partners: n3+n4: "
                                    "pair_busbw 0.05 GB/s, below the reference 0.25; n4+n5: "
                                    "pair_busbw 0.04 GB/s, below the reference 0.25")


@pytest.mark.parametrize("second_failed,named,says", [
    pytest.param({"n2+n5": "pair_busbw 0.04 GB/s"}, ["n2"], "bisected: with n5 (good) too",
                 id="the-node-failing-with-a-good-partner-is-at-fault"),
    pytest.param({}, ["n1", "n2"], "each node passes with n5", id="a-link-between-them"),
])
def test_a_lone_failing_pair_is_bisected_against_a_node_known_good(
        second_failed: dict[str, str], named: list[str], says: str) -> None:
    pairs = ring_pairs(SIX)
    failed = {"n1+n2": "pair_busbw 0.05 GB/s, below the reference 0.25"}
    found = blame(pairs, failed)
    assert found.at_fault == {} and found.unresolved == [("n1", "n2")]
    partner = good_partner(pairs, failed)
    assert partner == "n3"  # in no failing pair
    extra = bisection_pairs(found.unresolved, "n5")
    assert extra == [("n1", "n5"), ("n2", "n5")]
    second = {key(p): "pair_busbw 0.5 GB/s: ok" for p in extra} | second_failed
    out = settle(found.unresolved, "n5", failed, second, second_failed)
    assert sorted(out) == named and all(says in why for why in out.values())
    assert all(why.startswith("pair_busbw: pair n1+n2: pair_busbw 0.05 GB/s") for why in
               out.values())


@pytest.mark.parametrize("suspects,named", [
    pytest.param({"n1"}, ["n1"], id="put-on-the-node-that-failed-its-own-checks"),
    pytest.param(set(), ["n1", "n2"], id="neither-failed-its-checks-both-named"),
    pytest.param({"n1", "n2"}, ["n1", "n2"], id="both-failed-their-checks-both-named"),
])
def test_two_nodes_cannot_be_bisected(suspects: set[str], named: list[str]) -> None:
    pairs = ring_pairs(["n1", "n2"])
    failed = {"n1+n2": "pair_busbw 0.05 GB/s"}
    found = blame(pairs, failed)
    assert good_partner(pairs, failed) is None
    out = settle(found.unresolved, None, failed, {}, {}, suspects)
    assert sorted(out) == named
    assert all("no node of a passing pair to bisect it against" in why for why in out.values())
