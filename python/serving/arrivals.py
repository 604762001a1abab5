"""When each request is sent: inter-arrival times for a request rate.

``poisson`` (exponential gaps, the memoryless traffic of many independent users), ``gamma``
(gaps drawn from a gamma of shape ``burstiness`` and mean ``1 / rate``: below 1 burstier than
Poisson, above 1 more regular; 1 is Poisson), ``constant`` (every ``1 / rate``). A rate of 0
sends every request at once (a closed loop bounded by ``serve.concurrency``). A ramp-up of
``R`` seconds raises the rate linearly from near 0 to the target over the first ``R`` seconds
(the schedule's time is stretched: a gap drawn at rate 1 lasts ``1 / rate(t)``). Seeded:
the same seed gives the same schedule.
"""
from __future__ import annotations

import math
import random
from collections.abc import Iterator

ARRIVALS = ("poisson", "gamma", "constant")


def unit_gaps(arrivals: str, burstiness: float, rng: random.Random) -> Iterator[float]:
    """Gaps of mean 1 (rate 1) of the named process."""
    if arrivals not in ARRIVALS:
        raise ValueError(f"serve.arrivals: {arrivals!r} is not one of {', '.join(ARRIVALS)}")
    if arrivals == "gamma" and not burstiness > 0:
        raise ValueError(f"serve.burstiness: {burstiness!r} must be above 0 (1: Poisson)")
    while True:
        if arrivals == "poisson":
            yield rng.expovariate(1.0)
        elif arrivals == "gamma":
            yield rng.gammavariate(burstiness, 1.0 / burstiness)
        else:
            yield 1.0


def schedule(count: int, rate: float, arrivals: str = "poisson", burstiness: float = 1.0,
             seed: int = 0, ramp_up: float = 0.0) -> list[float]:
    """The send times (seconds from the start) of ``count`` requests; all 0 when ``rate`` is
    0. The first request goes at its first gap (not at 0), as in a stream already running."""
    if rate < 0 or math.isnan(rate):
        raise ValueError(f"serve.request_rate: {rate!r} must be 0 (all at once) or above")
    if rate == 0:
        return [0.0] * count
    rng = random.Random(seed)
    gaps = unit_gaps(arrivals, burstiness, rng)
    times, now = [], 0.0
    for _ in range(count):
        work = next(gaps) / rate  # seconds at the full rate
        now = _stretched(now, work, rate, ramp_up)
        times.append(now)
    return times


def _stretched(now: float, work: float, rate: float, ramp_up: float) -> float:
    """The time after ``now`` at which ``work`` seconds at the full rate have passed, the
    rate being ``rate * t / ramp_up`` before ``ramp_up`` (its integral solved exactly)."""
    if ramp_up <= 0 or now >= ramp_up:
        return now + work
    # integral of t / R from now to x = work, while x <= R: x^2 = now^2 + 2 R work
    inside = math.sqrt(now * now + 2.0 * ramp_up * work)
    if inside <= ramp_up:
        return inside
    used = (ramp_up * ramp_up - now * now) / (2.0 * ramp_up)
    return ramp_up + (work - used)
