"""Coverage and bias of the capacity search (``serving.capacity``) on simulated queueing
servers whose capacity under the SLO is known (issue 55, item 4).

Two servers, first come first served, Poisson arrivals; a request meets the SLO when its time
in the system (its TTFT) is within the limit:

- ``mm1``: one server, exponential service of mean 1 s, limit 5 s. Its time in the system is
  exponential with rate ``1 - load``, so the load at which ``PERCENTILE`` % of requests meet
  the SLO is known exactly: ``1 + ln(1 - p) / 5`` (0.5395).
- ``mg4``: four servers, lognormal service of mean 1 s and CV 1.31 (sigma 1: a few requests
  take many times the others, as long generations do), limit 4 s; its capacity (a rate of
  about 3.10, load 0.78) is found by bisection on the steady attainment of 400,000 requests.

Each load step serves ``n`` requests from an empty queue, as ``loadgen.py --search`` does.
It prints, at 100 (the default ``serve.num_requests``), 200 and 1,000 requests a step with the
default ``serve.search_trials``, ``serve.search_tolerance`` and ``serve.slo_percentile``: the
searches' coverage of the true capacity by ``results.capacity_ci95`` and the bias of
``results.capacity``; then, at the true capacity, the mean and median of one step's attainment
with and without its first fifth (the warm-up from an empty queue). The second table says where
the bias comes from: a step's attainment is skewed (a burst sinks it, nothing lifts it above 1),
so a step at the true capacity *meets* more often than not, and bisection on met / missed finds
the load where the median step meets, above the capacity; on ``mg4`` the empty start adds to it.

    .venv/bin/python benchmarks/sim_capacity.py [--searches 300] [--server mm1 mg4]
"""
from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from serving.capacity import Goal, StepResult, search

LIMIT = 5.0          # mm1's TTFT limit, in mean service times
PERCENTILE = 90.0    # serve.slo_percentile's default
TRUE = 1.0 + math.log(1 - PERCENTILE / 100) / LIMIT
MG_SERVERS, MG_LIMIT, MG_SIGMA = 4, 4.0, 1.0  # mg4: servers, TTFT limit, lognormal sigma


def times_in_system(rng: random.Random, rate: float, n: int) -> list[float]:
    """``n`` requests' times in an M/M/1 system (service rate 1) that starts empty (Lindley)."""
    wait, service, out = 0.0, 0.0, []
    for i in range(n):
        if i:
            wait = max(0.0, wait + service - rng.expovariate(rate))
        service = rng.expovariate(1.0)
        out.append(wait + service)
    return out


def times_in_mg4(rng: random.Random, rate: float, n: int) -> list[float]:
    """``n`` requests' times in an M/G/4 system (lognormal service of mean 1) that starts
    empty: each request goes to the server free first (Kiefer-Wolfowitz)."""
    free = [0.0] * MG_SERVERS
    now, out = 0.0, []
    for i in range(n):
        if i:
            now += rng.expovariate(rate)
        start = max(now, heapq.heappop(free))
        done = start + rng.lognormvariate(-MG_SIGMA ** 2 / 2, MG_SIGMA)
        heapq.heappush(free, done)
        out.append(done - now)
    return out


def attainment(times: list[float], skip: float = 0.0, limit: float = LIMIT) -> float:
    """The share of requests within the limit, leaving out the first ``skip`` share."""
    kept = times[int(len(times) * skip):]
    return sum(t <= limit for t in kept) / len(kept)


def mg4_capacity() -> float:
    """mg4's true capacity: bisection on the steady attainment (400,000 requests, the first
    tenth left out) of each rate."""
    low, high = 0.5, 3.99
    for _ in range(18):
        middle = math.sqrt(low * high)
        times = times_in_mg4(random.Random(5), middle, 400_000)
        if attainment(times, 0.1, MG_LIMIT) >= PERCENTILE / 100:
            low = middle
        else:
            high = middle
    return math.sqrt(low * high)


#: A server: its step (rng, load, n -> attainment) and its true capacity.
Server = tuple[Callable[[random.Random, float, int], float], float]


def server_of(name: str) -> Server:
    if name == "mm1":
        return (lambda rng, load, n: attainment(times_in_system(rng, load, n))), TRUE
    return ((lambda rng, load, n: attainment(times_in_mg4(rng, load, n), limit=MG_LIMIT)),
            mg4_capacity())


def old_search(seed: int, n: int, goal: Goal, server: Server
               ) -> tuple[float | None, list[float] | None]:
    """One search as ``loadgen.py --search`` runs it: ``(capacity, capacity_ci95)``."""
    rng = random.Random(seed)
    serve, true = server

    def step(trial: int, load: float) -> StepResult:
        return StepResult(serve(rng, load, n))
    _, facts = search(step, true / 2, goal)
    return facts["results.capacity"], facts["results.capacity_ci95"]


def coverage_and_bias(n: int, searches: int, goal: Goal, server: Server
                      ) -> tuple[float, float]:
    """The share of searches whose interval holds the true capacity, and the geometric-mean
    capacity's relative bias."""
    covered, logs, true = 0, [], server[1]
    for seed in range(searches):
        capacity, ci = old_search(seed, n, goal, server)
        if capacity is None:
            continue
        logs.append(math.log(capacity / true))
        covered += ci is not None and ci[0] <= true <= ci[1]
    return covered / searches, math.exp(statistics.fmean(logs)) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--server", nargs="+", choices=("mm1", "mg4"), default=["mm1", "mg4"])
    args = parser.parse_args()
    goal = Goal(trials=3, tolerance=0.03, percentile=PERCENTILE)
    for name in args.server:
        server = server_of(name)
        print(f"\n{name}, p{PERCENTILE:g}: true capacity {server[1]:.4f} (requests/s)")
        print("| requests a step | coverage | bias |\n| --- | --- | --- |")
        for n in (100, 200, 1000):
            cover, bias = coverage_and_bias(
                n, args.searches if n < 1000 else args.searches // 3, goal, server)
            print(f"| {n} | {cover:.1%} | {bias:+.1%} |", flush=True)
        rng = random.Random(1)
        print("\none step at the true capacity (3,000 steps of 100 requests):")
        print("| left out | mean attainment | median attainment |\n| --- | --- | --- |")
        for skip in (0.0, 0.2):
            values = []
            for _ in range(3000):
                times = (times_in_system(rng, TRUE, 100) if name == "mm1" else
                         times_in_mg4(rng, server[1], 100))
                values.append(attainment(times, skip, LIMIT if name == "mm1" else MG_LIMIT))
            print(f"| first {skip:.0%} | {statistics.fmean(values):.3f} | "
                  f"{statistics.median(values):.3f} |")


if __name__ == "__main__":
    main()
