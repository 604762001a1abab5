"""Whether a serving run's server kept up with the load it was offered (issue 55, item 5).

Responsibility: turn a run's request records into ``results.offered_rate``,
``results.achieved_share``, ``results.saturated`` and ``results.saturated_why``. Pure: no
clock, no I/O, no printing.

Two signs, either enough:

* **Throughput**: answered requests per second over the *realised* offered rate below
  :data:`ACHIEVED_SHARE`. The offered rate is the requests sent over the span of their own
  schedule (first to last scheduled send) plus the fastest answer: the realised schedule, not
  the nominal ``serve.request_rate``, so Poisson noise in the count and a ``serve.ramp_up`` do
  not count against the server, and a server that keeps up ends one answer after the last send
  (its share is near 1 whatever the run's length).
* **A growing queue**: the median TTFT of the requests in send order rises through every
  quarter of the run, the last quarter's at least :data:`GROWTH` times the first's and
  :data:`LATE_GROWTH` times the second's (at least :data:`MIN_REQUESTS` answered): requests
  wait behind a backlog that grows through the run, not one that filled once from the empty
  server a run starts on. Until 2026-11-29 the last over the first quarter alone decided it,
  and on simulated servers that keep up it fired in 18-27% of 100-request runs at half load
  (38-53% at 80%): the first quarter meets an empty queue (docs/serving.md).
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from serving.client import Record

#: A run is saturated when the server answered fewer than this share of the offered rate.
#: 0.9: a server that keeps up scores about 1 (the realised schedule removes sampling noise),
#: 3% of the offered load (the issue's busy machine) scores 0.03.
ACHIEVED_SHARE = 0.9
#: Last-quarter median TTFT over the first quarter's at which the queue is said to grow.
GROWTH = 2.0
#: Last-quarter median TTFT over the second quarter's at which the queue is still growing
#: past the run's start (a queue that only filled from empty stays level after it).
LATE_GROWTH = 1.5
#: Fewest answered requests whose quarters are compared.
MIN_REQUESTS = 20


def offered_rate(records: Sequence[Record]) -> float | None:
    """Requests sent per second of their realised schedule plus the fastest answer."""
    sent = [r for r in records if not math.isnan(r.sent)]
    answers = [r.end for r in records if r.ok and not math.isnan(r.end)]
    if len(sent) < 2 or not answers:
        return None
    span = max(r.scheduled for r in sent) - min(r.scheduled for r in sent) + min(answers)
    return len(sent) / span if span > 0 else None


def quarter_medians(records: Sequence[Record]) -> list[float] | None:
    """Median TTFT of each quarter of the answered requests in send order (None below
    :data:`MIN_REQUESTS`)."""
    ttfts = [r.ttft for r in sorted(records, key=lambda r: r.sent)
             if r.ok and not math.isnan(r.ttft)]
    if len(ttfts) < MIN_REQUESTS:
        return None
    quarter = len(ttfts) // 4
    return [statistics.median(ttfts[i * quarter:(i + 1) * quarter]) for i in range(3)] + [
        statistics.median(ttfts[-quarter:])]


def ttft_growth(records: Sequence[Record]) -> float | None:
    """Median TTFT of the last quarter of answered requests (send order) over the first's."""
    medians = quarter_medians(records)
    if medians is None or not medians[0] > 0:
        return None
    return medians[3] / medians[0]


def growing(medians: list[float]) -> bool:
    """Whether quarter medians show a queue that grows through the run: rising through
    every quarter, the last :data:`GROWTH` times the first and :data:`LATE_GROWTH` times the
    second."""
    first, second, third, last = medians
    return (first <= second <= third <= last and last >= GROWTH * first
            and last >= LATE_GROWTH * second)


def saturation_facts(records: Sequence[Record], achieved_rate: float) -> dict[str, Any]:
    """``results.offered_rate``, ``achieved_share``, ``ttft_growth``, ``saturated`` and
    ``saturated_why`` (null when neither sign could be judged)."""
    offered = offered_rate(records)
    share = achieved_rate / offered if offered else None
    growth = ttft_growth(records)
    medians = quarter_medians(records)
    why: list[str] = []
    if share is not None and share < ACHIEVED_SHARE:
        why.append(f"answered {achieved_rate:.3g} requests/s of {offered:.3g} offered "
                   f"({share:.0%} < {ACHIEVED_SHARE:.0%})")
    if growth is not None and medians is not None and growing(medians):
        why.append(f"queue growing: TTFT p50 rose through every quarter of the requests, the "
                   f"last quarter's {growth:.1f}x the first's (>= {GROWTH:g}x) and "
                   f"{medians[3] / medians[1]:.1f}x the second's (>= {LATE_GROWTH:g}x)")
    judged = share is not None or growth is not None
    return {"results.offered_rate": offered, "results.achieved_share": share,
            "results.ttft_growth": growth,
            "results.saturated": bool(why) if judged else None,
            "results.saturated_why": "; ".join(why) or None}
