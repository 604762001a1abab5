"""Adaptive iteration counts: the stopping rule with iteration times we control."""
from __future__ import annotations

import random

import pytest
from pytorch_benchmarks.sequential import DEFAULT_MAX_TIME, StopRule, run_until, stop_facts


class FakeChunks:
    """A ``chunk(n)`` that returns iteration times from a seeded noisy series, no real time."""

    def __init__(self, cv: float, seconds: float = 0.01, seed: int = 0) -> None:
        self.rng, self.cv, self.seconds, self.calls = random.Random(seed), cv, seconds, []

    def __call__(self, n: int) -> list[float]:
        self.calls.append(n)
        return [self.seconds * (1 + self.rng.gauss(0, self.cv)) for _ in range(n)]


def test_a_fixed_count_runs_one_chunk() -> None:
    chunks = FakeChunks(0.02)
    times, met = run_until(chunks, StopRule(10))
    assert len(times) == 10 and chunks.calls == [10] and met is False


def test_a_target_keeps_going_until_met() -> None:
    chunks = FakeChunks(0.05)
    times, met = run_until(chunks, StopRule(10, target=0.005))
    warnings: list[str] = []
    facts = stop_facts(times, met, StopRule(10, target=0.005), warnings.append)
    assert met and len(times) > 10 and warnings == []
    assert facts["results.target_precision_met"] is True
    assert facts["results.num_batches_done"] == len(times)
    assert facts["results.max_time"] == DEFAULT_MAX_TIME
    done = [sum(chunks.calls[:i]) for i in range(1, len(chunks.calls))]
    after = [(d, c) for d, c in zip(done, chunks.calls[1:]) if d >= 10]
    assert after and all(c <= d for d, c in after)  # past num_batches: at most doubling


def test_an_unreachable_target_stops_at_max_time_and_says_so() -> None:
    chunks = FakeChunks(0.5, seconds=0.01)
    rule = StopRule(10, target=0.0001, max_time=1.0)
    times, met = run_until(chunks, rule)
    warnings: list[str] = []
    facts = stop_facts(times, met, rule, warnings.append)
    assert not met and facts["results.target_precision_met"] is False
    assert sum(times) >= 1.0 and sum(times) < 1.0 + 0.1  # never far past the limit
    assert len(warnings) == 1 and "precision" in warnings[0] and "max_time" in warnings[0]


def test_max_time_caps_a_fixed_run_and_says_so() -> None:
    chunks = FakeChunks(0.01, seconds=0.1)
    rule = StopRule(100, max_time=2.0)
    times, met = run_until(chunks, rule)
    warnings: list[str] = []
    facts = stop_facts(times, met, rule, warnings.append)
    assert 20 <= len(times) <= 21 and facts["results.num_batches_done"] == len(times)
    assert len(warnings) == 1 and "stopped after" in warnings[0]
    assert "results.target_precision" not in facts


@pytest.mark.parametrize("rule,limit", [(StopRule(5), 0.0), (StopRule(5, max_time=3), 3.0),
                                        (StopRule(5, target=0.1), DEFAULT_MAX_TIME)])
def test_the_time_limit(rule: StopRule, limit: float) -> None:
    assert rule.limit == limit
