"""Whether a serving run's server kept up with the load it was offered (issue 55, item 5).

Responsibility: turn a run's request records into ``results.offered_rate``,
``results.achieved_share``, ``results.saturated`` and ``results.saturated_why``. Pure: no
clock, no I/O, no printing.

Three verdicts (``results.saturated`` true, false, or null with ``results.saturated_why``
saying ``cannot tell``) from two signs:

* **Throughput over the window of sends** (``results.window_share``): the requests answered by
  the last scheduled send over those scheduled, so the drain of the last requests after it
  (their own time in the system, which a server that keeps up needs too) does not count.
  Below :data:`ACHIEVED_SHARE` the server may have fallen behind; below :data:`SURE_SHARE` it
  did. Until 2026-11-29 the sign was ``results.achieved_share`` (answered over first send to
  last answer, against the realised schedule), still logged: the drain lowered it, and on
  simulated servers that keep up it marked 9-52% of 100-request runs at 80% load.
* **A growing queue**: the median TTFT of the requests in send order rises through every
  quarter of the run, the last quarter's at least :data:`GROWTH` times the first's and
  :data:`LATE_GROWTH` times the second's (at least :data:`MIN_REQUESTS` answered): requests
  wait behind a backlog that grows through the run, not one that filled once from the empty
  server a run starts on.

* **A growing backlog** (``results.late_window_share``, for long runs): over the second half
  of the sends the backlog grew by at least :data:`LATE_BACKLOG` requests and by more than
  1 - :data:`ACHIEVED_SHARE` of that half's sends.

Saturated: the window share under :data:`SURE_SHARE`, or a growing queue or backlog with the
window share under :data:`ACHIEVED_SHARE`. Kept up (false): the window share at least
:data:`ACHIEVED_SHARE` and no growing queue. Otherwise **cannot tell** (null): a short run of a
server near its limit cannot tell 90% from 110% load (docs/serving.md, measured with
benchmarks/sim_saturation.py), and the mark does not guess.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from serving.client import Record

#: The stated share: a run whose server answered fewer than this share of what was sent (over
#: the window of sends) did not keep up, or cannot be told from one that did not.
ACHIEVED_SHARE = 0.9
#: Window share under which a run is saturated on that sign alone: 0-2% of 100-request runs
#: fell below it on simulated servers that keep up at 80% load with Poisson arrivals, 6-23%
#: with bursty ones (benchmarks/sim_saturation.py's servers; docs/serving.md).
SURE_SHARE = 0.75
#: Fewest requests by which the backlog (sent, not yet answered) must grow over the second half
#: of the sends for that half's share (:func:`late_window`) to count: in 100 requests a stable
#: server's backlog swings by as much (so short runs are judged as before), in 1,000 at 120%
#: load it grows by about 80.
LATE_BACKLOG = 25
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


def window_share(records: Sequence[Record]) -> float | None:
    """Requests answered by the last scheduled send over those scheduled (None under 2 sends
    or when every send was scheduled at once: no window to compare over)."""
    sent = [r for r in records if not math.isnan(r.sent)]
    if len(sent) < 2:
        return None
    first = min(r.scheduled for r in sent)
    last = max(r.scheduled for r in sent)
    if not last > first:
        return None
    answered = sum(1 for r in sent if r.ok and not math.isnan(r.end) and r.sent + r.end <= last)
    return answered / len(sent)


def late_window(records: Sequence[Record]) -> tuple[float, int] | None:
    """Over the second half of the sends (from the middle scheduled send to the last): the
    share of what was sent then that was answered by the last send, counting the backlog
    already there at the middle as answered work carried over (1 - backlog growth / sends),
    and the backlog's growth in requests. None where :func:`window_share` is None."""
    sent = sorted((r for r in records if not math.isnan(r.sent)), key=lambda r: r.scheduled)
    if window_share(records) is None:
        return None
    half = len(sent) // 2
    middle, last = sent[half].scheduled, sent[-1].scheduled

    def answered_by(moment: float) -> int:
        return sum(1 for r in sent
                   if r.ok and not math.isnan(r.end) and r.sent + r.end <= moment)

    growth = (len(sent) - answered_by(last)) - (half - answered_by(middle))
    return 1 - growth / (len(sent) - half), growth


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
    """``results.offered_rate``, ``achieved_share``, ``window_share``, ``ttft_growth``,
    ``saturated`` (true, false, or null: not judged or cannot tell) and ``saturated_why``."""
    offered = offered_rate(records)
    share = achieved_rate / offered if offered else None
    window = window_share(records)
    growth = ttft_growth(records)
    medians = quarter_medians(records)
    grows = growth is not None and medians is not None and growing(medians)
    late = late_window(records)
    late_grows = late is not None and late[0] < ACHIEVED_SHARE and late[1] >= LATE_BACKLOG
    signs: list[str] = []
    if window is not None and window < ACHIEVED_SHARE:
        answered = (f"answered {achieved_rate:.3g} requests/s of {offered:.3g} offered, "
                    if offered else "")
        signs.append(f"{answered}{window:.0%} of the requests by the last send "
                     f"(< {ACHIEVED_SHARE:.0%})")
    if late_grows:
        assert late is not None
        signs.append(f"backlog grew by {late[1]} requests over the second half of the sends "
                     f"({late[0]:.0%} of them answered by the last send)")
    if grows:
        assert growth is not None and medians is not None
        signs.append(f"queue growing: TTFT p50 rose through every quarter of the requests, the "
                     f"last quarter's {growth:.1f}x the first's (>= {GROWTH:g}x) and "
                     f"{medians[3] / medians[1]:.1f}x the second's (>= {LATE_GROWTH:g}x)")
    saturated: bool | None
    if window is None and growth is None or not any(r.ok for r in records):
        saturated, why = None, None  # no window, or nothing answered: a failed run, not judged
    elif (window is not None and window < SURE_SHARE) or (
            (grows or late_grows) and (window is None or window < ACHIEVED_SHARE)):
        saturated, why = True, "; ".join(signs)
    elif signs:
        saturated = None
        why = ("cannot tell: " + "; ".join(signs) + f", but not enough to say (saturated: under "
               f"{SURE_SHARE:.0%} by the last send, or a growing queue or backlog and under "
               f"{ACHIEVED_SHARE:.0%}): a short run near the server's limit; give more requests")
    else:
        saturated, why = False, None
    return {"results.offered_rate": offered, "results.achieved_share": share,
            "results.window_share": window,
            "results.late_window_share": late[0] if late else None,
            "results.ttft_growth": growth,
            "results.saturated": saturated, "results.saturated_why": why}
