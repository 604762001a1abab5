"""The server of ``benchmarks/sim_capacity.py`` has the capacity it claims: a long stationary
M/M/1 run at the true capacity meets the SLO for the percentile's share of its requests, and
10% above it for clearly fewer, and the product's search on it (issue 55, item 4). Seeded
and small."""
from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "sim_capacity.py"


@pytest.fixture(scope="module")
def sim() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sim_capacity", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_true_capacity_meets_the_percentile_in_a_long_run(sim: ModuleType) -> None:
    rng = random.Random(7)
    at = sim.attainment(sim.times_in_system(rng, sim.TRUE, 200_000), skip=0.05)
    above = sim.attainment(sim.times_in_system(rng, sim.TRUE * 1.1, 200_000), skip=0.05)
    assert abs(at - sim.PERCENTILE / 100) < 0.005
    assert above < sim.PERCENTILE / 100 - 0.015


def test_the_search_at_its_defaults_lands_on_the_capacity(sim: ModuleType) -> None:
    """40 searches at the defaults (200 requests a step after a lead-in of 200) on M/M/1: the
    geometric mean within 4% of the true capacity (docs/serving.md: +0.3% over 1,500)."""
    from serving.capacity import LEAD_IN, SEARCH_STEP, Goal
    _, bias, _, none = sim.coverage_and_bias(SEARCH_STEP, LEAD_IN, 40, Goal(),
                                             sim.server_of("mm1"))
    assert abs(bias) < 0.04 and none == 0


def test_short_steps_from_an_empty_queue_overstate_a_heavy_tailed_server(
        sim: ModuleType) -> None:
    """The bias the warning is for: 40 searches at 100 requests a step and no lead-in land
    well above M/G/4's capacity (docs/serving.md: +21% over 1,500)."""
    from serving.capacity import Goal
    server = (sim.times_in_mg4, sim.MG_LIMIT, 3.104)  # sim.mg4_capacity(): too slow here
    _, bias, _, _ = sim.coverage_and_bias(100, 0, 40, Goal(), server)
    assert bias > 0.08


def test_the_heavy_tailed_server_is_overstated_more(sim: ModuleType) -> None:
    """M/G/4 with lognormal service (the docs' +34% at 100 requests a step): a step at its
    capacity meets more often than M/M/1's does, from its empty start and its skew."""
    rng = random.Random(3)
    capacity = 3.104  # sim.mg4_capacity() (400,000-request bisection; too slow for a test)
    steps = [sim.attainment(sim.times_in_mg4(rng, capacity, 100), limit=sim.MG_LIMIT)
             for _ in range(400)]
    steps.sort()
    assert steps[200] > 0.94  # the median step meets the 90% goal with room


def test_the_interval_covers_the_heavy_tailed_servers_capacity(sim: ModuleType) -> None:
    """Issue 55 item 4's property, small: 100 searches at the defaults on M/G/4 (seeds of
    their own, neither the calibration's nor the docs'). The interval (Student's t, its low
    side stretched by capacity.LOW_SIDE) covers the capacity as often as >= 93% allows within
    Monte-Carlo error (docs/serving.md: 95% over 1,500), and the geometric mean is within 2%
    plus twice its standard error. Student's t alone misses nearly always from above: a
    trial's figure is skewed low and three trials rarely show it (the stretch's reason)."""
    import math
    import statistics

    from benchstats.samples import summarize
    from serving.capacity import LEAD_IN, LOW_SIDE, SEARCH_STEP, Goal
    server = (sim.times_in_mg4, sim.MG_LIMIT, 3.104)  # sim.mg4_capacity(): too slow here
    searches, true = 100, server[2]
    trials = [sim.search_facts(seed, SEARCH_STEP, LEAD_IN, Goal(), server)[
        "results.capacity_trials"] for seed in range(200_000, 200_000 + searches)]
    covered, _ = sim.covered_at(trials, true, LOW_SIDE)
    assert sim.wilson(covered, searches)[1] >= 0.93
    logs = [statistics.fmean(math.log(c / true) for c in capacities) for capacities in trials]
    error = statistics.stdev(logs) / math.sqrt(searches)
    assert abs(statistics.fmean(logs)) < math.log(1.02) + 2 * error
    above = below = 0
    for capacities in trials:  # Student's t alone
        stats = summarize([math.log(c) for c in capacities])
        above += math.exp(stats.ci_low) > true
        below += math.exp(stats.ci_high) < true
    assert above >= 3 * below and above + below > (1 - covered) * searches


@pytest.mark.parametrize(("name", "capacity"), [("bimodal", 0.6218), ("bursty", 2.4217)])
def test_the_reviews_servers_have_the_capacity_the_docs_give(sim: ModuleType, name: str,
                                                              capacity: float) -> None:
    """The servers added for an independent review's cases (bimodal requests, bursty
    arrivals): a long run at the capacity docs/serving.md gives (sim.server_of's bisection:
    too slow here) meets the SLO for about the percentile's share, 10% above it clearly less."""
    times, limit = {"bimodal": (sim.times_in_bimodal, sim.BIMODAL_LIMIT),
                    "bursty": (sim.times_in_bursty, sim.BURSTY_LIMIT)}[name]
    rng = random.Random(11)
    at = sim.attainment(times(rng, capacity, 200_000), skip=0.05, limit=limit)
    above = sim.attainment(times(rng, capacity * 1.1, 200_000), skip=0.05, limit=limit)
    assert abs(at - sim.PERCENTILE / 100) < 0.01
    assert above < sim.PERCENTILE / 100 - 0.015


def test_a_closed_loop_with_a_server_for_each_client_never_queues(sim: ModuleType) -> None:
    """``--concurrency``'s server: with no more clients than servers a request never waits,
    so its time is its service; with more, some wait."""
    import random as rnd
    draws = rnd.Random(3)
    times = sim.closed_loop_times(rnd.Random(3), 4, 500, 4, lambda r, _: r.expovariate(1.0))
    assert times == pytest.approx([draws.expovariate(1.0) for _ in range(500)])
    queued = sim.closed_loop_times(rnd.Random(3), 8, 500, 4, lambda r, _: r.expovariate(1.0))
    assert sum(queued) > sum(times) * 1.2
