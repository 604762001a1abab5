"""Adaptive iteration counts: the stopping rule with iteration times we control."""
from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest
import torch
from benchstats import DEFAULT_MAX_TIME, Steady, StopRule, run_until, stopping
from pytorch_benchmarks.run import timing
from pytorch_benchmarks.run.phases import Runner
from pytorch_benchmarks.run.stop_rule import announce, stop_facts
from pytorch_benchmarks.runtime.device import DeviceSetup


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


@pytest.mark.parametrize("rule,stated", [
    pytest.param(StopRule(10, target=0.01), True, id="target-without-max-time"),
    pytest.param(StopRule(10, target=0.01, max_time=5), False, id="target-with-max-time"),
    pytest.param(StopRule(10), False, id="fixed"),
    pytest.param(StopRule(10, max_time=5), False, id="fixed-with-max-time"),
])
def test_the_default_time_cap_is_stated_before_the_run(rule: StopRule, stated: bool) -> None:
    warnings: list[str] = []
    announce(rule, warnings.append)
    assert bool(warnings) == stated
    if stated:
        assert "max_time" in warnings[0] and f"{DEFAULT_MAX_TIME:.0f} s" in warnings[0]


def _found(n: int, precision: float, steady: bool = True) -> Steady:
    half = math.nan if math.isnan(precision) else precision
    return Steady(0, steady, [1.0] * n, 1.0, 1.0 - half, 1.0 + half, ess=float(n))


@pytest.mark.parametrize("precision,steady,low,high", [
    pytest.param(0.011, True, 42, 43, id="estimate"),           # 200 * 1.1^2 - 200
    pytest.param(0.0101, True, 20, 20, id="at-least-n/10"),
    pytest.param(0.05, True, 200, 200, id="at-most-doubling"),
    pytest.param(math.nan, True, 100, 100, id="no-interval-yet"),
    pytest.param(0.05, False, 100, 100, id="not-steady"),
    pytest.param(0.009, True, 0, 0, id="met"),
])
def test_chunks_are_sized_from_the_current_precision(monkeypatch: pytest.MonkeyPatch,
                                                     precision: float, steady: bool,
                                                     low: int, high: int) -> None:
    """200 iterations so far, target 0.01: n * (precision/target)^2 - n more, at least n/10
    and at most n; half as many again while there is no interval or no steady state."""
    monkeypatch.setattr(stopping, "analyze",
                        lambda times: _found(len(times), precision, steady))
    more, met = stopping.next_for_target([1.0] * 200, target=0.01)
    assert met == (high == 0) and low <= more <= high


def test_a_target_reached_by_the_last_chunk_counts_as_met(monkeypatch: pytest.MonkeyPatch) -> None:
    """Time runs out in the same chunk that reaches the target: the run met it."""
    monkeypatch.setattr(stopping, "analyze",
                        lambda times: _found(len(times), 0.001 if len(times) >= 240 else 0.1))
    times, met = run_until(lambda n: [0.1] * n, StopRule(10, target=0.01, max_time=24.0))
    assert len(times) == 240 and met is True


class FakeClock:
    """A ``perf_counter`` that moves only when the fake step says so."""

    def __init__(self, durations: list[float]) -> None:
        self.now, self.durations, self.steps = 0.0, iter(durations), 0

    def perf_counter(self) -> float:
        return self.now

    def step(self) -> None:
        self.steps += 1
        self.now += next(self.durations)


class ClockRunner(Runner):
    """A runner whose step is the fake clock's."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(lambda: (torch.zeros(1), torch.zeros(1)), DeviceSetup(torch.device("cpu")))
        self.step = clock.step  # type: ignore[method-assign]


def test_the_runner_times_chunks_with_one_clock_read_per_step(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Untimed warm-up, a slow start in the timed part, then noise: the run goes on past
    --num_batches until the target is met, every timed step is one clock interval."""
    rng = random.Random(3)
    durations = [9.0, 9.0] + [5.0, 3.0] + [1.0 + rng.gauss(0, 0.03) for _ in range(5000)]
    clock = FakeClock(durations)
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter=clock.perf_counter))
    combined: list[int] = []

    def combine(chunk: list[float]) -> list[float]:
        combined.append(len(chunk))
        return chunk

    times, met = ClockRunner(clock).run_until(2, StopRule(10, target=0.005, max_time=1000),
                                              combine)
    assert met and len(times) > 10 and sum(combined) == len(times)
    assert clock.steps == 2 + len(times)                  # the warm-up ran, untimed
    assert times == pytest.approx(durations[2:2 + len(times)])
    found = stopping.analyze(times)
    assert found.warmup >= 2 and found.steady and found.precision <= 0.005


def test_a_target_missed_on_a_withheld_interval_says_why() -> None:
    """Issue 30: "achieved unknown" said nothing when the interval was withheld (a drifting
    run, heavy tails): the warning gives the reason."""
    drifting = [0.01 * (1 + 0.3 * i / 399) for i in range(400)]
    warnings: list[str] = []
    stop_facts(drifting, False, StopRule(10, target=0.01, max_time=4.0), warnings.append)
    assert any("achieved none: not steady" in w for w in warnings), warnings


def test_a_quiet_run_stops_without_waiting_for_the_stall_floor() -> None:
    """Issue 56: the 200-iteration floor made a quiet run (iid, 5% target) do 2.05x the work
    of a fixed count with the same promise. A window that has shown no outlier may stop from
    ``QUIET_STOP_N`` iterations, as soon as its interval is narrow enough."""
    chunks = FakeChunks(0.10, seed=4)
    times, met = run_until(chunks, StopRule(10, target=0.05))
    found = stopping.analyze(times)
    assert met and found.outliers == 0
    assert stopping.QUIET_STOP_N <= len(times) < stopping.MIN_STOP_N
    done = [sum(chunks.calls[:i]) for i in range(1, len(chunks.calls))]
    assert all(c <= d for d, c in zip(done, chunks.calls[1:]) if d >= 10)  # at most doubling


def test_the_stop_waits_for_a_window_that_has_shown_a_tail() -> None:
    """Issue 30: 73 quiet iterations met a 5% target although 2% of iterations stall 3-10x
    (the adaptive stop covered 84%). A window that has shown an outlier (a sign of a tail)
    still stops only on ``MIN_STOP_N`` iterations."""
    rng = random.Random(7)
    quiet = [100.0 * (1 + rng.gauss(0, 0.02)) for _ in range(120)]
    assert stopping.analyze(quiet).outliers == 0
    more, met = stopping.next_for_target(quiet, target=0.05)
    assert met and more == 0  # nothing seen: stops at 120
    quiet[60] = 100.0 * 1.08  # one iteration 4 SDs slow
    more, met = stopping.next_for_target(quiet, target=0.05)
    assert not met and more == stopping.MIN_STOP_N - 120


def test_the_stop_waits_while_a_few_stalls_carry_the_variance() -> None:
    """Issue 56: a run that caught few of its rare stalls has its variance carried by those
    few, looks precise too early and stops with a mean below the process's. The stop needs
    30 degrees of freedom of the variance for its tails (Box), as it needs 30 effective
    samples."""
    rng = random.Random(5)
    values = [100.0 * (1 + rng.gauss(0, 0.01)) for _ in range(300)]
    for i in (50, 150, 250):
        values[i] *= 3.0
    found = stopping.analyze(values)
    assert found.precision <= 0.05 and found.ess >= stopping.MIN_STOP_ESS
    assert stopping.tails_df(found.window) < stopping.MIN_STOP_TAILS_DF
    more, met = stopping.next_for_target(values, target=0.05)
    assert not met and more > 0
