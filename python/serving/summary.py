"""A serving run's figures from its records: latencies, throughput, goodput.

Per request: TTFT (sent to the first content chunk), the inter-token gaps (ITL: between
consecutive content chunks; a chunk carrying several tokens counts as one gap, as vLLM's
benchmark does), TPOT (``(end - TTFT) / (output tokens - 1)``), end-to-end latency. Per run,
over the requests that succeeded: mean and p50/p90/p99, in milliseconds, without intervals: requests that queue behind each other are no
independent draws (``results.latency_ci95_withheld`` says so; an interval comes from
repeated runs, in the report); requests and output tokens per second
over the wall time from the first send to the last answer (a request that timed out ends no
span); goodput under the
SLO (TTFT <= ``slo_ttft_ms`` and TPOT <= ``slo_tpot_ms``; a limit of 0 is not applied): the
requests per second that met it, and the output tokens per second of the tokens that met it
(token ``k`` due at the TTFT limit plus ``k - 1`` TPOT limits from the send: token-level
goodput). A failed request counts against attainment, never in the latencies.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchstats.quantiles import quantile_interval
from benchstats.samples import summarize

from serving.client import Record

QUANTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))
#: Why a run logs no interval of its latencies (``results.latency_ci95_withheld``): requests
#: that queue behind each other are no independent draws. Simulated queueing servers (M/M/1,
#: M/G/4, continuous batching) gave the order-statistic intervals of TTFT p50 88/74/26%
#: coverage at 30/50/80% load, labelled 95%, and no method within one run reached 93% at 80%
#: load or at 100-200 requests (benchmarks/sim_latency_intervals.py, 2026-11-28).
LATENCY_CI_WITHHELD = ("one run's requests queue behind each other: no independent draws, so "
                       "no interval of its latencies; repeated runs (exp.repeat) give one over "
                       "the runs")
#: A run whose loop lagged more than this at its 99th percentile is flagged (milliseconds).
LAG_LIMIT_MS = 10.0


@dataclass(frozen=True)
class Slo:
    """Limits in milliseconds (0: not applied)."""

    ttft_ms: float = 0.0
    tpot_ms: float = 0.0

    @property
    def given(self) -> bool:
        return self.ttft_ms > 0 or self.tpot_ms > 0


def tpot_ms(record: Record) -> float:
    """Time per output token after the first (NaN for fewer than 2 tokens)."""
    tokens = record.output_tokens or 0
    if tokens < 2 or not record.chunks:
        return math.nan
    return (record.end - record.ttft) / (tokens - 1) * 1e3


def gaps_ms(record: Record) -> list[float]:
    return [(b - a) * 1e3 for a, b in zip(record.chunks, record.chunks[1:])]


def meets(record: Record, slo: Slo) -> bool:
    if not record.ok or not record.chunks:
        return False
    if slo.ttft_ms and record.ttft * 1e3 > slo.ttft_ms:
        return False
    tpot = tpot_ms(record)
    return not (slo.tpot_ms and not math.isnan(tpot) and tpot > slo.tpot_ms)


def good_tokens(record: Record, slo: Slo) -> int:
    """The output tokens that met their deadline (token-level goodput). Token ``k`` (from 1)
    is due ``D + (k - 1) * slo.tpot_ms`` after the request left, ``D`` being the TTFT limit
    (where none is applied, the first token's own arrival); with no TPOT limit every token
    counts when the first was on time. A chunk's tokens are the request's tokens spread evenly
    over its chunks, and a chunk is on time when its last token is. The deadlines run from the
    send, not from the chunk before: a stream that fell behind does not catch up because two
    late chunks came together."""
    if not record.ok or not record.chunks:
        return 0
    tokens = record.output_tokens or len(record.chunks)
    first_due_ms = slo.ttft_ms or record.ttft * 1e3
    if record.ttft * 1e3 > first_due_ms:
        return 0
    if not slo.tpot_ms:
        return tokens
    per_chunk = tokens / len(record.chunks)
    good = sum(per_chunk for j, arrival in enumerate(record.chunks)
               if arrival * 1e3 <= first_due_ms + ((j + 1) * per_chunk - 1.0) * slo.tpot_ms)
    return round(good)


def _figures(name: str, values: Sequence[float], intervals: bool = True) -> dict[str, Any]:
    """Mean and percentiles of ``values``, with their 95% intervals when ``intervals`` (the
    values are one a request: independent draws); else each ``_ci95`` is null."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return {f"results.{name}_mean": None}
    stats = summarize(values)
    facts: dict[str, Any] = {
        f"results.{name}_mean": stats.mean,
        f"results.{name}_mean_ci95": None if math.isnan(stats.ci_low) or not intervals else
        [stats.ci_low, stats.ci_high]}
    for label, q in QUANTILES:
        found = quantile_interval(values, q)
        facts[f"results.{name}_{label}"] = found.value
        facts[f"results.{name}_{label}_ci95"] = None if math.isnan(found.low) or not intervals \
            else [found.low, found.high]
    return facts


def answered_span(records: Sequence[Record], wall_s: float) -> float:
    """Seconds from the first send to the last answer (the end of the last request that was
    answered: a timeout waited out, or a stream cut, ends no span); ``wall_s`` when nothing
    was answered."""
    sends = [r.sent for r in records if not math.isnan(r.sent)]
    ends = [r.sent + r.end for r in records if r.ok and not math.isnan(r.end)]
    return max(ends) - min(sends) if sends and ends else wall_s


def summarize_run(records: Sequence[Record], wall_s: float, slo: Slo,
                  lags_ms: Sequence[float]) -> dict[str, Any]:
    """The ``results.*`` facts of a serving run."""
    ok = [r for r in records if r.ok]
    failed = [r for r in records if not r.ok]
    facts: dict[str, Any] = {"results.requests": len(records),
                             "results.completed_requests": len(ok),
                             "results.failed_requests": len(failed)}
    if failed:
        names = Counter((r.error or "").split(":")[0] for r in failed)
        facts["results.errors"] = dict(names.most_common())
        facts["results.first_error"] = failed[0].error
    # Requests queue behind each other (and a request's gaps share its batch's pace): none of
    # these are independent draws, and an interval over them claims far more than it holds
    # (LATENCY_CI_WITHHELD); each *_ci95 is null and the reason is logged once.
    facts.update(_figures("ttft", [r.ttft * 1e3 for r in ok], intervals=False))
    facts.update(_figures("itl", [g for r in ok for g in gaps_ms(r)], intervals=False))
    facts.update(_figures("tpot", [tpot_ms(r) for r in ok], intervals=False))
    facts.update(_figures("e2e", [r.end * 1e3 for r in ok], intervals=False))
    facts["results.latency_ci95_withheld"] = LATENCY_CI_WITHHELD
    out_tokens = sum(r.output_tokens or 0 for r in ok)
    span = answered_span(records, wall_s)
    wall = max(span, 1e-9)
    facts.update({
        "results.duration_s": span,
        "results.request_throughput": len(ok) / wall,
        "results.output_tokens_per_second": out_tokens / wall,
        "results.output_tokens": out_tokens,
        "results.prompt_tokens": sum(r.prompt_tokens or 0 for r in ok),
        "results.tokens_counted_by": sorted({r.tokens_from for r in ok}) or None,
    })
    good = [r for r in records if meets(r, slo)]
    facts["results.slo_attainment"] = len(good) / len(records) if records else None
    facts["results.goodput"] = len(good) / wall
    facts["results.goodput_tokens_per_second"] = sum(good_tokens(r, slo) for r in ok) / wall
    facts["results.slo"] = {"ttft_ms": slo.ttft_ms or None, "tpot_ms": slo.tpot_ms or None}
    lag = quantile_interval(list(lags_ms), 0.99).value if lags_ms else math.nan
    facts["results.client_lag_ms"] = None if math.isnan(lag) else lag
    facts["results.client_lag_max_ms"] = max(lags_ms) if lags_ms else None
    facts["results.client_lagged"] = bool(not math.isnan(lag) and lag > LAG_LIMIT_MS)
    late = [r.sent - r.scheduled for r in records if not math.isnan(r.sent)]
    facts["results.send_delay_p99_ms"] = quantile_interval(late, 0.99).value * 1e3 \
        if late else None
    return facts
