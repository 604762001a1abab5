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
    assert good_partner(pairs, failed) == "n3"  # in no failing pair
    assert good_partner(pairs, failed, found.unresolved) == "n4"  # and no neighbour of theirs
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


def test_measure_pairs_bisects_a_lone_failing_pair_with_a_third_array(
        monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """The pairs' orchestration with recorded figures in place of the Slurm arrays: six nodes,
    the pair n1+n2 fails alone (no node in two failing pairs), the bisection array measures
    n1 and n2 with n4 (in no failing pair, no neighbour of theirs): n1 fails with it too and
    is the one named."""
    from pathlib import Path

    from dlbs.accept import pairjob
    from dlbs.accept.verdict import Reference

    recorded = {"n1+n2": 0.05, "n2+n3": 0.50, "n3+n4": 0.51, "n4+n5": 0.49, "n5+n6": 0.505,
                "n6+n1": 0.495, "n1+n4": 0.06, "n2+n4": 0.50}
    rounds: list[list[str]] = []

    def run(job: object, pairs: list[tuple[str, str]], round_name: str, say: object
            ) -> tuple[dict[str, list[float]], dict[str, str]]:
        rounds.append([key(p) for p in pairs])
        return {key(p): [recorded[key(p)]] for p in pairs}, {}

    monkeypatch.setattr(pairjob, "_run", run)
    floor = {"pair_busbw": Reference("pair_busbw", 0.25, "GB/s", "a recorded floor")}
    job = pairjob.PairJob("debug", "python", Path(str(tmp_path)), Path(str(tmp_path)), None, 0)
    out = pairjob.measure_pairs(SIX, job, floor, lambda line: None)
    assert rounds == [["n1+n2", "n2+n3", "n3+n4", "n4+n5", "n5+n6", "n6+n1"],
                      ["n1+n4", "n2+n4"]]
    failed = {v.node: v.why for v in out.verdicts if v.failed}
    assert list(failed) == ["n1"]
    assert failed["n1"].startswith("pair_busbw: pair n1+n2: pair_busbw 0.05 GB/s")
    assert "bisected: with n4 (good) too: pair_busbw 0.06 GB/s" in failed["n1"]
    assert "pair n1+n4 (bisection): FAIL: pair_busbw 0.06 GB/s" in "\n".join(out.lines)
    assert sorted(out.runs["n2"]) == [0.05, 0.50, 0.50]  # its ring pairs, its bisection pair
