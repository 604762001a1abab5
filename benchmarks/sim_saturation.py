"""How often ``serving.saturation`` marks a run saturated on simulated servers (issue 55, item 5).

Each run sends ``--requests`` requests to a server that starts empty and records each one's
send and answer, as ``loadgen.py`` does; the product's ``saturation_facts`` judges the records
with the answered rate ``summary.py`` logs (answered over first send to last answer). At loads
below 1 a server keeps up (a mark is a false alarm); above 1 it does not (a mark is a
detection). Servers (load 1 = their capacity):

- ``mm1``: one server, exponential service of mean 1 s, Poisson arrivals;
- ``mg2``: two servers, lognormal service of mean 1 s, sigma 1.2 (CV 1.9), Poisson arrivals;
- ``gamma4``: four exponential servers fed gamma gaps of shape 0.25 (CV 2: ``serve.arrivals
  gamma``'s bursts);
- ``mmpp4``: four exponential servers fed a two-state Markov-modulated Poisson stream (the high
  state 3x the low's rate, a quarter of the time, staying 10 s on average);
- ``cb16``: continuous batching, 16 slots, a step of 20 ms + 4 ms a running request + 10 ms a
  joining one, outputs of 1 + exponential(15) tokens; its capacity measured on a long
  overloaded run.

Prints, for each server and load, the share of runs marked saturated, marked ``cannot tell``
(``results.saturated`` null with a reason) and, for each, a Wilson 95% interval.

    nice -n 5 .venv/bin/python benchmarks/sim_saturation.py --runs 1000 --requests 100 1000
"""
from __future__ import annotations

import argparse
import heapq
import math
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from serving.client import Record
from serving.saturation import saturation_facts

Gaps = Callable[[random.Random, float], Iterator[float]]
LOADS = (0.5, 0.8, 0.9, 1.1, 1.2, 1.5)


def poisson(rng: random.Random, rate: float) -> Iterator[float]:
    while True:
        yield rng.expovariate(rate)


def gamma(shape: float) -> Gaps:
    def gaps(rng: random.Random, rate: float) -> Iterator[float]:
        while True:
            yield rng.gammavariate(shape, 1.0 / (shape * rate))
    return gaps


def mmpp(rng: random.Random, rate: float, ratio: float = 3.0, share_hi: float = 0.25,
         stay_hi: float = 10.0) -> Iterator[float]:
    lo = rate / (share_hi * ratio + 1 - share_hi)
    leave = {True: 1 / stay_hi, False: share_hi / (stay_hi * (1 - share_hi))}
    high = rng.random() < share_hi
    until = rng.expovariate(leave[high])
    while True:
        gap = 0.0
        while True:
            step = rng.expovariate(lo * ratio if high else lo)
            if step < until:
                until -= step
                yield gap + step
                break
            gap += until
            high = not high
            until = rng.expovariate(leave[high])


def sends(rng: random.Random, gaps: Gaps, rate: float, n: int) -> list[float]:
    stream, now, out = gaps(rng, rate), 0.0, []
    for i in range(n):
        if i:
            now += next(stream)
        out.append(now)
    return out


def fcfs(servers: int, service: Callable[[random.Random], float], gaps: Gaps
         ) -> Callable[[random.Random, float, int], list[tuple[float, float]]]:
    def run(rng: random.Random, rate: float, n: int) -> list[tuple[float, float]]:
        free, out = [0.0] * servers, []
        for sent in sends(rng, gaps, rate, n):
            start = max(sent, heapq.heappop(free))
            done = start + service(rng)
            heapq.heappush(free, done)
            out.append((sent, done))
        return out
    return run


def batching(rng: random.Random, rate: float, n: int, slots: int = 16
             ) -> list[tuple[float, float]]:
    arrivals = sends(rng, poisson, rate, n)
    left = [1 + int(rng.expovariate(1 / 15)) for _ in range(n)]
    done = [math.nan] * n
    waiting: deque[int] = deque()
    running: list[int] = []
    now, nxt, finished = 0.0, 0, 0
    while finished < n:
        while nxt < n and arrivals[nxt] <= now:
            waiting.append(nxt)
            nxt += 1
        if not running and not waiting:
            now = arrivals[nxt]
            continue
        joined = 0
        while waiting and len(running) < slots:
            running.append(waiting.popleft())
            joined += 1
        now += 0.02 + 0.004 * len(running) + 0.01 * joined
        keep = []
        for j in running:
            left[j] -= 1
            if left[j] <= 0:
                done[j] = now
                finished += 1
            else:
                keep.append(j)
        running = keep
    return list(zip(arrivals, done, strict=True))


def lognormal(sigma: float) -> Callable[[random.Random], float]:
    return lambda rng: rng.lognormvariate(-sigma * sigma / 2, sigma)


def exponential(rng: random.Random) -> float:
    return rng.expovariate(1.0)


SERVERS = {"mm1": (fcfs(1, exponential, poisson), 1.0),
           "mg2": (fcfs(2, lognormal(1.2), poisson), 2.0),
           "gamma4": (fcfs(4, exponential, gamma(0.25)), 4.0),
           "mmpp4": (fcfs(4, exponential, mmpp), 4.0),
           "cb16": (batching, None)}


def batching_capacity(n: int = 20_000) -> float:
    """Answers per second of the batching server kept full (offered far more than it takes)."""
    times = batching(random.Random(1), 1_000.0, n)
    ends = sorted(done for _sent, done in times)
    return (len(ends) // 2) / (ends[-1] - ends[len(ends) // 2 - 1])


def records(times: list[tuple[float, float]]) -> tuple[list[Record], float]:
    """The run's records (TTFT = the answer, one chunk) and ``summary.py``'s answered rate."""
    recs = [Record(i, sent, sent, chunks=[done - sent], end=done - sent)
            for i, (sent, done) in enumerate(times)]
    span = max(done for _s, done in times) - min(sent for sent, _d in times)
    return recs, len(recs) / span


def wilson(hits: int, count: int, z: float = 1.96) -> tuple[float, float]:
    share = hits / count
    centre = (share + z * z / (2 * count)) / (1 + z * z / count)
    half = z * math.sqrt(share * (1 - share) / count + z * z / (4 * count * count)) / (
        1 + z * z / count)
    return max(0.0, centre - half), min(1.0, centre + half)


def cell(name: str, load: float, n: int, runs: int, seed: int, capacity: float
         ) -> tuple[int, int]:
    run, _ = SERVERS[name]
    rng = random.Random(f"{seed}/{name}/{load}/{n}")
    marked = unsure = 0
    for _ in range(runs):
        recs, achieved = records(run(rng, load * capacity, n))
        facts = saturation_facts(recs, achieved)
        marked += facts["results.saturated"] is True
        unsure += facts["results.saturated"] is None
    return marked, unsure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--requests", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--servers", nargs="+", default=list(SERVERS), choices=list(SERVERS))
    parser.add_argument("--loads", type=float, nargs="+", default=list(LOADS))
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    start = time.monotonic()
    for n in args.requests:
        print(f"{n} requests a run, {args.runs} runs a cell: marked saturated [95%] / "
              "cannot tell")
        for name in args.servers:
            capacity = SERVERS[name][1] or batching_capacity()
            row = []
            for load in args.loads:
                marked, unsure = cell(name, load, n, args.runs, args.seed, capacity)
                low, high = wilson(marked, args.runs)
                row.append(f"{load:g}: {marked / args.runs:.1%} [{low:.1%}, {high:.1%}]"
                           f" / {unsure / args.runs:.1%}")
            print(f"  {name}: " + "; ".join(row), flush=True)
    print(f"({time.monotonic() - start:.0f} s)")


if __name__ == "__main__":
    main()
