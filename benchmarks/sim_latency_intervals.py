"""Coverage of the per-run latency intervals on simulated queueing servers (issue 55, item 3).

Servers (:mod:`benchstats.queues`): M/M/1, M/G/4 (lognormal service) and a continuous-batching
server (steps that take longer the more requests run, requests joining and leaving between
steps), each at 30, 50 and 80% load, each run starting from an empty server as a serving run
does. The true value of each statistic is the stationary one (one run of 400,000 requests,
its first tenth dropped). For each statistic it prints the old method's coverage where it
gave an interval (the
requests as independent draws: Student's t, the order-statistic interval), the coverage of
:mod:`benchstats.dependent` where it gives an interval, and the share it withholds.

    .venv/bin/python benchmarks/sim_latency_intervals.py [--trials 200] [--sizes 100 200 1000]

With ``--repeats K [K ...]`` it measures instead the intervals a report gives over K repeated
runs of ``--sizes`` requests each (every run from an empty server): Student's t over the runs'
values (the report's method before 2026-11-28; its truth the mean over 20,000 runs of the
run's statistic) beside the order-statistic interval of the median run (the report's method
now; its truth the median over those runs), the worst cell of each (metric, statistic).

    .venv/bin/python benchmarks/sim_latency_intervals.py --repeats 3 6 10 --sizes 100 --trials 1000
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from benchstats.latency_coverage import Tally, coverage, repeat_coverage, repeat_truth, true_values
from benchstats.queues import SERVERS

LOADS = (0.3, 0.5, 0.8)


def _cell(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.0f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 1000])
    parser.add_argument("--repeats", type=int, nargs="+", default=[],
                        help="runs a cell: measure the intervals over repeated runs instead")
    parser.add_argument("--truth-runs", type=int, default=20_000,
                        help="runs that make the truth of --repeats")
    args = parser.parse_args()
    if args.repeats:
        repeated(args)
        return
    print("| server | load | requests | statistic | old coverage | new coverage | withheld |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    # coverage counts the intervals given ("-": none); withheld is the new method's share
    for server in SERVERS:
        for load in LOADS:
            truth = true_values(server, load)
            for n in args.sizes:
                tallies = coverage(server, load, n, args.trials, seed=7, truth=truth)
                for (metric, label), tally in tallies.items():
                    print(f"| {server} | {load:.0%} | {n} | {metric} {label} | "
                          f"{_cell(tally.old_coverage())} | "
                          f"{_cell(tally.coverage())} | "
                          f"{_cell(1 - tally.printed / tally.trials)} |", flush=True)


def repeated(args: argparse.Namespace) -> None:
    """The table of intervals over repeated runs: per cell, the worst (metric, statistic)."""
    print("| server | load | requests a run | runs | t over runs: worst coverage | "
          "t: lower end <= 0 | median run: worst coverage | median run: given |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for server in SERVERS:
        for load in LOADS:
            for n in args.sizes:
                truth = repeat_truth(server, load, n, runs=args.truth_runs)
                for k in args.repeats:
                    tallies = repeat_coverage(server, load, n, k, args.trials, 7, truth)
                    old = min(t.old_coverage() for t in tallies.values())
                    new = min((t.coverage() for t in tallies.values() if t.printed),
                              default=math.nan)
                    nonpositive = max(_nonpositive(t) for t in tallies.values())
                    given = min(t.printed / t.trials for t in tallies.values())
                    print(f"| {server} | {load:.0%} | {n} | {k} | {_cell(old)} | "
                          f"{_cell(nonpositive)} | {_cell(new)} | {_cell(given)} |", flush=True)


def _nonpositive(tally: Tally) -> float:
    """The share of t intervals over runs whose lower end is not a plausible latency."""
    return tally.old_nonpositive / tally.trials if tally.trials else math.nan


if __name__ == "__main__":
    main()
