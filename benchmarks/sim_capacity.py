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

Each load step starts from an empty queue, as a step of ``loadgen.py --search`` starts from an
idle server, sends ``lead`` requests it does not count (``serve.search_lead_in``) and then
``n`` it counts (``serve.num_requests``); the search is the product's own, with the default
``serve.search_trials``, ``serve.search_max_steps`` and ``serve.slo_percentile``, starting at
half the capacity. It prints, for each (``n``, ``lead``), the searches' coverage of the true
capacity by ``results.capacity_ci95``, the bias of ``results.capacity`` (geometric mean over
the searches) and the spread of one search's figure; the defaults' row is marked. Then, at the
true capacity, one step's mean and median attainment with and without a lead-in: why a step
needs one.

    .venv/bin/python benchmarks/sim_capacity.py [--searches 1500] [--server mm1 mg4]
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
from serving.capacity import LEAD_IN, SEARCH_STEP, Goal, StepResult, search

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


#: A server: its step (rng, load, n -> each request's time in the system), its SLO limit and
#: its true capacity.
Server = tuple[Callable[[random.Random, float, int], list[float]], float, float]


def server_of(name: str) -> Server:
    if name == "mm1":
        return times_in_system, LIMIT, TRUE
    return times_in_mg4, MG_LIMIT, mg4_capacity()


def one_search(seed: int, n: int, lead: int, goal: Goal, server: Server
               ) -> tuple[float | None, list[float] | None]:
    """One search as ``loadgen.py --search`` runs it: ``(capacity, capacity_ci95)``."""
    rng = random.Random(seed)
    serve, limit, _ = server

    def step(trial: int, load: float) -> StepResult:
        return StepResult(attainment(serve(rng, load, lead + n)[lead:], limit=limit))
    _, facts = search(step, server[2] / 2, goal)
    return facts["results.capacity"], facts["results.capacity_ci95"]


def coverage_and_bias(n: int, lead: int, searches: int, goal: Goal, server: Server
                      ) -> tuple[float, float, float, int]:
    """The share of searches whose interval holds the true capacity, the geometric-mean
    capacity's relative bias, the standard deviation of a search's log capacity, and how many
    searches found no capacity."""
    covered, logs, none, true = 0, [], 0, server[2]
    for seed in range(searches):
        capacity, ci = one_search(seed, n, lead, goal, server)
        if capacity is None:
            none += 1
            continue
        logs.append(math.log(capacity / true))
        covered += ci is not None and ci[0] <= true <= ci[1]
    return (covered / searches, math.exp(statistics.fmean(logs)) - 1, statistics.stdev(logs),
            none)


#: (counted requests, lead-in) a step: the defaults (marked) and shorter ones.
SETTINGS = ((100, 0), (100, LEAD_IN), (SEARCH_STEP, 0), (SEARCH_STEP, LEAD_IN))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=1500)
    parser.add_argument("--server", nargs="+", choices=("mm1", "mg4"), default=["mm1", "mg4"])
    args = parser.parse_args()
    goal = Goal(percentile=PERCENTILE)
    print(f"defaults: {goal.trials} trials of {goal.max_steps} steps, p{PERCENTILE:g}, "
          f"{SEARCH_STEP} requests a step after a lead-in of {LEAD_IN}; "
          f"{args.searches} searches a row")
    for name in args.server:
        server = server_of(name)
        print(f"\n{name}: true capacity {server[2]:.4f} requests/s")
        print("| requests a step | lead-in | coverage | bias | sd of one search | no capacity |"
              "\n| --- | --- | --- | --- | --- | --- |")
        for n, lead in SETTINGS:
            cover, bias, spread, none = coverage_and_bias(n, lead, args.searches, goal, server)
            mark = " (defaults)" if (n, lead) == (SEARCH_STEP, LEAD_IN) else ""
            print(f"| {n}{mark} | {lead} | {cover:.1%} | {bias:+.1%} | {spread:.3f} | {none} |",
                  flush=True)
        rng = random.Random(1)
        print(f"\none step of {SEARCH_STEP} at the true capacity (2,000 steps):")
        print("| lead-in | mean attainment | median attainment |\n| --- | --- | --- |")
        for lead in (0, LEAD_IN):
            values = [attainment(server[0](rng, server[2], lead + SEARCH_STEP)[lead:],
                                 limit=server[1]) for _ in range(2000)]
            print(f"| {lead} | {statistics.fmean(values):.3f} | "
                  f"{statistics.median(values):.3f} |")


if __name__ == "__main__":
    main()
