"""When each request is sent: inter-arrival times for a request rate.

``poisson`` (exponential gaps, the memoryless traffic of many independent users), ``gamma``
(gaps drawn from a gamma of shape ``burstiness`` and mean ``1 / rate``: below 1 burstier than
Poisson, above 1 more regular; 1 is Poisson), ``constant`` (every ``1 / rate``). A rate of 0
sends every request at once (a closed loop bounded by ``serve.concurrency``). ``vllm`` draws
the very instants ``vllm bench serve`` draws for the same seed, rate, burstiness and request
count (:func:`vllm_schedule`), so that a run of each sees the same queue. A ramp-up of
``R`` seconds raises the rate linearly from near 0 to the target over the first ``R`` seconds
(the schedule's time is stretched: a gap drawn at rate 1 lasts ``1 / rate(t)``). Seeded:
the same seed gives the same schedule.

Bounded: a rate so low that its first request would come, at the mean gap, after
:data:`MAX_WAIT_S` (an hour) or after the run's ``serve.duration`` is refused
(:func:`check_rate`): such a run would wait without sending anything (``1e-300`` requests/s
waits 10^300 s). A schedule with a duration stops at it, so a run builds only the requests
the duration can hold, not every one of ``serve.num_requests``.
"""
from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

ARRIVALS = ("poisson", "gamma", "constant", "vllm")
#: The longest a run may wait, at the mean gap, for its first request (seconds): a lower
#: rate is refused, as is one whose first request comes after ``serve.duration``.
MAX_WAIT_S = 3600.0
#: The highest request rate (config/serve.json's range of serve.request_rate).
MAX_RATE = 1_000_000.0
#: The largest finite float: a rate below its inverse has a mean gap that overflows.
_LARGEST = 1.7976931348623157e308


def first_arrival(rate: float, ramp_up: float = 0.0) -> float:
    """When the first request is due at the mean gap ``1 / rate`` (seconds; stretched by
    the ramp-up as :func:`schedule` stretches it)."""
    return _stretched(0.0, 1.0 / rate, rate, ramp_up)


def lowest_rate(wait_s: float, ramp_up: float = 0.0) -> float:
    """The lowest rate whose first request is due, at the mean gap, within ``wait_s`` seconds
    (the inverse of :func:`first_arrival`: ``sqrt(2 R / rate)`` within the ramp ``R``,
    ``R / 2 + 1 / rate`` past it)."""
    if wait_s <= ramp_up:
        return 2.0 * ramp_up / (wait_s * wait_s)
    return 1.0 / (wait_s - ramp_up / 2.0)


def longest_wait(duration: float) -> tuple[float, str]:
    """The longest wait for a first request and what sets it: the run's duration when one is
    given and shorter, else :data:`MAX_WAIT_S`."""
    if 0 < duration < MAX_WAIT_S:
        return duration, f"serve.duration ({duration:g} s)"
    return MAX_WAIT_S, f"the longest wait for a first request ({MAX_WAIT_S:g} s)"


def check_rate(rate: float, duration: float = 0.0, ramp_up: float = 0.0) -> None:
    """ValueError naming ``serve.request_rate`` when it is not 0 (all at once) or a finite
    rate whose first request is due, at the mean gap, within :func:`longest_wait`: a lower
    one would wait, sending nothing, for longer than the run may last."""
    if not (math.isfinite(rate) and rate >= 0):
        raise ValueError(f"serve.request_rate is {rate!r}; it must be 0 (all at once) or a "
                         "finite number of requests per second above 0")
    if rate == 0:
        return
    wait, why = longest_wait(duration)
    due = first_arrival(rate, ramp_up) if rate > 1.0 / _LARGEST else math.inf
    if due > wait:
        when = (f"is due after {due:.3g} s at the mean gap" if math.isfinite(due)
                else "is never due (its mean gap, 1 / rate, overflows)")
        lowest = lowest_rate(wait, ramp_up) if wait > 0 else math.inf
        if not lowest <= MAX_RATE:  # no rate would do: the duration or the ramp-up is at fault
            raise ValueError(f"serve.request_rate is {rate:g}: its first request {when}, "
                             f"past {why}, and no rate up to the most, "
                             f"{MAX_RATE:g} requests/s, is due sooner; give a longer "
                             "serve.duration or a shorter serve.ramp_up")
        raise ValueError(f"serve.request_rate is {rate:g}: its first request {when}, "
                         f"past {why}; give at least "
                         f"{lowest:.3g} requests/s, or 0 (all at once, "
                         "with serve.concurrency)")


def unit_gaps(arrivals: str, burstiness: float, rng: random.Random) -> Iterator[float]:
    """Gaps of mean 1 (rate 1) of the named process (not ``vllm``: its schedule is made
    whole, :func:`vllm_schedule`)."""
    if arrivals not in ARRIVALS or arrivals == "vllm":
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
             seed: int = 0, ramp_up: float = 0.0, duration: float = 0.0) -> list[float]:
    """The send times (seconds from the start) of ``count`` requests; all 0 when ``rate`` is
    0. The first request goes at its first gap (not at 0), as in a stream already running.
    With a ``duration`` (0: none) the schedule stops at it: no time past it is made, so its
    length is what the duration holds, however large ``count`` is."""
    if rate < 0 or math.isnan(rate):
        raise ValueError(f"serve.request_rate: {rate!r} must be 0 (all at once) or above")
    if rate == 0:
        return [0.0] * count
    if arrivals == "vllm":
        check_vllm(burstiness, ramp_up, duration)
        return vllm_schedule(count, rate, burstiness, seed)
    times: list[float] = []
    for now in send_times(rate, arrivals, burstiness, seed, ramp_up):
        if len(times) >= count or (duration and now > duration):
            break
        times.append(now)
    return times


def send_times(rate: float, arrivals: str = "poisson", burstiness: float = 1.0,
               seed: int = 0, ramp_up: float = 0.0) -> Iterator[float]:
    """The endless send times of a rate above 0, made one at a time (:func:`schedule`)."""
    gaps = unit_gaps(arrivals, burstiness, random.Random(seed))
    now = 0.0
    while True:
        work = next(gaps) / rate  # seconds at the full rate
        now = _stretched(now, work, rate, ramp_up)
        yield now


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


def check_vllm(burstiness: float, ramp_up: float, duration: float) -> None:
    """ValueError naming the parameter that ``vllm`` arrivals cannot honour: a ramp-up in
    seconds or a duration (``vllm bench serve`` has neither: it spreads its requests over
    ``count / rate`` seconds), a burstiness not above 0, or numpy missing."""
    if not burstiness > 0:
        raise ValueError(f"serve.burstiness: {burstiness!r} must be above 0 (1: Poisson)")
    if ramp_up:
        raise ValueError(f"serve.ramp_up is {ramp_up:g} s: serve.arrivals vllm draws vllm bench "
                         "serve's schedule at one rate, which has no ramp-up in seconds; give "
                         "serve.ramp_up 0 or another serve.arrivals")
    if duration:
        raise ValueError(f"serve.duration is {duration:g} s: serve.arrivals vllm spreads "
                         "serve.num_requests over num_requests / rate seconds, as vllm bench "
                         "serve does, which has no duration; give serve.duration 0 or another "
                         "serve.arrivals")
    _numpy()


def _numpy() -> Any:
    """numpy, imported only for ``vllm`` arrivals (the other processes need the standard
    library alone); ValueError naming the parameter where it is missing."""
    try:
        import numpy
    except ImportError:
        raise ValueError("serve.arrivals vllm needs numpy (vllm bench serve draws its gaps with "
                         "numpy's legacy generator): install numpy, or give another "
                         "serve.arrivals") from None
    return numpy


def vllm_schedule(count: int, rate: float, burstiness: float = 1.0, seed: int = 0
                  ) -> list[float]:
    """The send times ``vllm bench serve --request-rate rate --burstiness b --seed s
    --num-prompts count`` makes (vLLM 0.32, ``vllm/benchmarks/serve.py``; read for its
    arithmetic, and checked against vLLM's own function by tests/load/test_vllm_arrivals.py).

    vLLM seeds numpy's global legacy generator (``RandomState``, MT19937) with the seed at its
    start and draws nothing else from it before the gaps (its ShareGPT sampling uses Python's
    ``random``); each request's gap is one gamma draw of shape ``b`` and scale ``1 / (rate b)``
    (shape 1: exponential), the send times their running sum, all multiplied at the end so
    that the last one falls at exactly ``count / rate`` seconds. The first request goes at its
    first gap, as in :func:`schedule`."""
    draws = _numpy().random.RandomState(seed)
    scale = 1.0 / (rate * burstiness)
    times: list[float] = []
    now = 0.0
    for _ in range(count):
        now += float(draws.gamma(burstiness, scale))
        times.append(now)
    if not times or times[-1] <= 0:
        return times
    stretch = (count / rate) / times[-1]
    return [time * stretch for time in times]
