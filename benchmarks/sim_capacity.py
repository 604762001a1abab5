"""Coverage and bias of the capacity search (``serving.capacity``) on a simulated queueing
server whose capacity under the SLO is known (issue 55, item 4).

The server is M/M/1 (Poisson arrivals, exponential service of mean 1 s, first come first
served); a request meets the SLO when its time in the system (its TTFT) is within ``LIMIT``
seconds. Its time in the system is exponential with rate ``1 - load``, so the load at which
``PERCENTILE`` % of requests meet the SLO is known exactly: ``1 + ln(1 - p) / LIMIT``. Each
load step serves ``n`` requests from an empty queue, as ``loadgen.py --search`` does.

It prints, at 100 (the default ``serve.num_requests``), 200 and 1,000 requests a step with the
default ``serve.search_trials``, ``serve.search_tolerance`` and ``serve.slo_percentile``:
the searches' coverage of the true capacity by ``results.capacity_ci95`` and the bias of
``results.capacity``; then, at the true capacity, the mean and median of one step's
attainment with and without its first fifth (the warm-up from an empty queue). The second
table says where the bias comes from: a step's attainment is skewed (a burst sinks it, nothing
lifts it above 1), so a step at the true capacity *meets* more often than not, and bisection
on met / missed finds the load where the median step meets, above the capacity.

    .venv/bin/python benchmarks/sim_capacity.py [--searches 300]
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from serving.capacity import Goal, StepResult, search

LIMIT = 5.0          # the TTFT limit, in mean service times
PERCENTILE = 90.0    # serve.slo_percentile's default
TRUE = 1.0 + math.log(1 - PERCENTILE / 100) / LIMIT


def times_in_system(rng: random.Random, rate: float, n: int) -> list[float]:
    """``n`` requests' times in an M/M/1 system (service rate 1) that starts empty (Lindley)."""
    wait, service, out = 0.0, 0.0, []
    for i in range(n):
        if i:
            wait = max(0.0, wait + service - rng.expovariate(rate))
        service = rng.expovariate(1.0)
        out.append(wait + service)
    return out


def attainment(times: list[float], skip: float = 0.0) -> float:
    """The share of requests within the limit, leaving out the first ``skip`` share."""
    kept = times[int(len(times) * skip):]
    return sum(t <= LIMIT for t in kept) / len(kept)


def old_search(seed: int, n: int, goal: Goal) -> tuple[float | None, list[float] | None]:
    """One search as ``loadgen.py --search`` runs it: ``(capacity, capacity_ci95)``."""
    rng = random.Random(seed)

    def step(trial: int, load: float) -> StepResult:
        return StepResult(attainment(times_in_system(rng, load, n)))
    _, facts = search(step, TRUE / 2, goal)
    return facts["results.capacity"], facts["results.capacity_ci95"]


def coverage_and_bias(n: int, searches: int, goal: Goal) -> tuple[float, float]:
    """The share of searches whose interval holds the true capacity, and the geometric-mean
    capacity's relative bias."""
    covered, logs = 0, []
    for seed in range(searches):
        capacity, ci = old_search(seed, n, goal)
        if capacity is None:
            continue
        logs.append(math.log(capacity / TRUE))
        covered += ci is not None and ci[0] <= TRUE <= ci[1]
    return covered / searches, math.exp(statistics.fmean(logs)) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=300)
    args = parser.parse_args()
    goal = Goal(trials=3, tolerance=0.03, percentile=PERCENTILE)
    print(f"M/M/1, TTFT limit {LIMIT:g} service times, p{PERCENTILE:g}: "
          f"true capacity {TRUE:.4f} (load)")
    print("| requests a step | coverage (old) | bias (old) |\n| --- | --- | --- |")
    for n in (100, 200, 1000):
        cover, bias = coverage_and_bias(n, args.searches if n < 1000 else args.searches // 3,
                                        goal)
        print(f"| {n} | {cover:.1%} | {bias:+.1%} |", flush=True)
    rng = random.Random(1)
    print("\none step at the true capacity (3,000 steps of 100 requests):")
    print("| left out | mean attainment | median attainment |\n| --- | --- | --- |")
    for skip in (0.0, 0.2):
        values = [attainment(times_in_system(rng, TRUE, 100), skip) for _ in range(3000)]
        print(f"| first {skip:.0%} | {statistics.fmean(values):.3f} | "
              f"{statistics.median(values):.3f} |")


if __name__ == "__main__":
    main()
