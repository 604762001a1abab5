"""Seeded simulations of the serving processes whose latencies :mod:`benchstats.dependent`
bounds: an M/M/1 server, an M/G/c server and a continuous-batching server. Each returns, per
request in send order, TTFT, TPOT and end-to-end latency (seconds), starting from an empty
server as a serving run does. Pure numpy; no dlbs.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

#: Output tokens of a request (TPOT and the decode share of its service).
TOKENS = 16


@dataclass(frozen=True)
class Latencies:
    """Per request, in send order (seconds)."""

    ttft: np.ndarray
    tpot: np.ndarray
    e2e: np.ndarray


def _split(arrival: np.ndarray, start: np.ndarray, service: np.ndarray,
           tokens: np.ndarray) -> Latencies:
    """A request served alone: its first token after the prefill share (1 / tokens of the
    service), the rest at an even pace."""
    first = start + service / tokens
    end = start + service
    return Latencies(first - arrival, (end - first) / np.maximum(tokens - 1, 1), end - arrival)


def mm1(n: int, load: float, rng: np.random.Generator) -> Latencies:
    """M/M/1: Poisson arrivals at ``load``, exponential service of mean 1 (Lindley's
    recursion)."""
    arrival = np.cumsum(rng.exponential(1.0 / load, n))
    service = rng.exponential(1.0, n)
    start = np.empty(n)
    free = 0.0
    for i in range(n):
        start[i] = max(arrival[i], free)
        free = start[i] + service[i]
    tokens = np.full(n, TOKENS)
    return _split(arrival, start, service, tokens)


def mgc(n: int, load: float, rng: np.random.Generator, servers: int = 4) -> Latencies:
    """M/G/c: Poisson arrivals, ``servers`` servers in first-come order, lognormal service of
    mean 1 (sigma 1: a spread of request lengths), ``load`` per server."""
    arrival = np.cumsum(rng.exponential(1.0 / (load * servers), n))
    service = rng.lognormal(-0.5, 1.0, n)
    frees = [0.0] * servers
    start = np.empty(n)
    for i in range(n):
        free = heapq.heappop(frees)
        start[i] = max(arrival[i], free)
        heapq.heappush(frees, start[i] + service[i])
    tokens = rng.integers(8, 33, n)
    return _split(arrival, start, service, tokens)


#: Continuous batching: a step takes STEP_BASE + STEP_PER_REQUEST * running seconds, at most
#: MAX_BATCH requests run; a request's first step is its prefill.
STEP_BASE, STEP_PER_REQUEST, MAX_BATCH = 0.02, 0.005, 16
MEAN_TOKENS = 16.5   # tokens of a request: uniform 8..25


def batching_capacity() -> float:
    """Requests per second at a full batch (the load's denominator)."""
    return MAX_BATCH / (MEAN_TOKENS * (STEP_BASE + STEP_PER_REQUEST * MAX_BATCH))


def batching(n: int, load: float, rng: np.random.Generator) -> Latencies:
    """A continuous-batching server: requests join and leave between steps, each step makes
    one token of every running request and lasts longer the more are running."""
    arrival = np.cumsum(rng.exponential(1.0 / (load * batching_capacity()), n))
    need = rng.integers(8, 26, n)
    first, end = np.full(n, np.nan), np.full(n, np.nan)
    running: dict[int, int] = {}
    nxt, now, done = 0, 0.0, 0
    while done < n:
        if not running and nxt < n and arrival[nxt] > now:
            now = arrival[nxt]
        while nxt < n and arrival[nxt] <= now and len(running) < MAX_BATCH:
            running[nxt] = 0
            nxt += 1
        now += STEP_BASE + STEP_PER_REQUEST * len(running)
        for i in list(running):
            running[i] += 1
            if running[i] == 1:
                first[i] = now
            if running[i] == need[i]:
                end[i] = now
                del running[i]
                done += 1
    return Latencies(first - arrival, (end - first) / (need - 1), end - arrival)


SERVERS = {"M/M/1": mm1, "M/G/4": mgc, "batching": batching}
