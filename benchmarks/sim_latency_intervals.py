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
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from benchstats.latency_coverage import coverage, true_values
from benchstats.queues import SERVERS

LOADS = (0.3, 0.5, 0.8)


def _cell(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.0f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 1000])
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
