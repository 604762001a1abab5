"""The timed loop and the statistics of its iteration times.

Responsibility: run a step callable for warm-up (discarded) and timed iterations, reading
``time.perf_counter`` once per iteration, and summarise the times as ``results.*`` facts. It
knows nothing of models or data: the step does all the work.
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchstats import analyze

Step = Callable[[], object]
#: The most iterations one loop allocates time slots for up front. A loop writes into a list
#: made before it starts (no allocation between two clock reads); a count of 10**12 (a
#: ``--num_batches`` meant to be cut by ``--max_time``) made it ask for 8 TB and end as
#: ``oom`` before the first step. Blocks of this many keep the allocation at 512 KiB: the
#: list grows with the iterations done, and the clock restarts after each block's
#: allocation, so no iteration's time holds it.
BLOCK = 1 << 16


def timed_loop(step: Step, num_warmup: int, num_batches: int,
               synchronize: Callable[[], None] | None = None,
               stop: Callable[[], bool] | None = None) -> list[float]:
    """Run ``step`` ``num_warmup`` times untimed, then ``num_batches`` times; return seconds.

    Like nanoGPT's ``bench.py``: a burn-in, then a timed stage. On a GPU ``synchronize`` is
    called before every clock read, so each time covers the device work of its iteration and
    not just the kernel launches. The loop body is the step and one clock read, nothing else
    (no ``.item()``), so the harness adds no work and forces no extra synchronisation.

    ``stop`` (optional) is asked after every iteration, warm-up included; once it says yes the
    loop ends there and returns the iterations timed so far (none when it said so during
    warm-up). It is asked between two clock reads, never inside a timed iteration: under
    torchrun it is a collective (every rank must stop after the same iteration).
    """
    for _ in range(num_warmup):
        step()
        if stop is not None and stop():
            return []
    times: list[float] = []
    while len(times) < num_batches:
        block, stopped = _block(step, min(num_batches - len(times), BLOCK), synchronize, stop)
        times += block
        if stopped:
            break
    return times


def _block(step: Step, num_batches: int, synchronize: Callable[[], None] | None,
           stop: Callable[[], bool] | None) -> tuple[list[float], bool]:
    """One block of at most :data:`BLOCK` timed iterations, by the loop that fits, and
    whether ``stop`` said yes (it is not asked again: under torchrun it is a collective)."""
    if stop is not None:
        return _stoppable_loop(step, num_batches, synchronize, stop)
    if synchronize is None:
        return _loop(step, num_batches), False
    return _synced_loop(step, num_batches, synchronize), False


def _loop(step: Step, num_batches: int) -> list[float]:
    clock = time.perf_counter
    times = [0.0] * num_batches
    start = clock()
    for i in range(num_batches):
        step()
        now = clock()
        times[i] = now - start
        start = now
    return times


def _synced_loop(step: Step, num_batches: int, synchronize: Callable[[], None]) -> list[float]:
    clock = time.perf_counter
    times = [0.0] * num_batches
    synchronize()           # the warm-up's queued work must not count in the first iteration
    start = clock()
    for i in range(num_batches):
        step()
        synchronize()
        now = clock()
        times[i] = now - start
        start = now
    return times


def _stoppable_loop(step: Step, num_batches: int, synchronize: Callable[[], None] | None,
                    stop: Callable[[], bool]) -> tuple[list[float], bool]:
    """The loop above with ``stop`` asked after each iteration; the clock restarts after it,
    so the question (a flag, or an all-reduce under torchrun) is in no iteration's time.
    Returns the times and whether ``stop`` said yes."""
    clock = time.perf_counter
    times = [0.0] * num_batches
    if synchronize is not None:
        synchronize()
    start = clock()
    for i in range(num_batches):
        step()
        if synchronize is not None:
            synchronize()
        times[i] = clock() - start
        if stop():
            return times[: i + 1], True
        start = clock()
    return times, False


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation (numpy's default)."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _interval(low: float, high: float) -> list[float] | None:
    return None if math.isnan(low) else [low, high]


def summarize(times_s: list[float], samples_per_iteration: int) -> dict[str, Any]:
    """``results.*`` facts from iteration times (seconds).

    The warm-up that is still in the timed iterations is found by MSER
    (:mod:`benchstats.steady`) and dropped: the mean, throughput, spread and
    percentiles are over the steady window; ``results.time_data`` keeps every timed iteration.
    The interval of the mean is valid for autocorrelated times or absent
    (``results.ci_note`` says why, ``results.ci_withheld`` in a few words: "not steady",
    "heavy tails"...); ``results.time_std`` is the sample SD (n - 1). ``results.steady_state``
    is null when the window was too short to test (``results.steady_state_untested`` says why).
    """
    ms = [t * 1000.0 for t in times_s]
    found = analyze(ms)
    window = found.window
    mean = found.mean
    ordered = sorted(window)
    precision = found.precision
    return {
        "results.time": mean,
        "results.throughput": samples_per_iteration * 1000.0 / mean if mean > 0 else math.nan,
        "results.time_data": ms,
        "results.time_std": statistics.stdev(window) if len(window) > 1 else 0.0,
        "results.time_p50": percentile(ordered, 50),
        "results.time_p90": percentile(ordered, 90),
        "results.time_p99": percentile(ordered, 99),
        "results.warmup_detected": found.warmup,
        # null, not true, when nothing tested the window (issue 58: a run whose times doubled
        # after MSER's search said true); steady_state_untested says why
        "results.steady_state": None if found.untested else found.steady,
        "results.steady_state_untested": found.untested or None,
        "results.time_ci95": _interval(found.ci_low, found.ci_high),
        "results.precision": None if math.isnan(precision) else precision,
        "results.ci_note": found.ci_note or None,
        "results.ci_withheld": found.ci_withheld or None,
        "results.ess": _finite(found.ess),
        "results.autocorr_time": _finite(found.autocorr_time),
        "results.time_p50_ci95": _interval(found.median_low, found.median_high),
        "results.outliers": found.outliers,
    }
