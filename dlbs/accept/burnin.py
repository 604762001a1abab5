"""What a burn-in did to a node (``dlbs accept --burn-in MINUTES``): its GPUs' counters read by
the ``environment`` check before and after the repeated reference runs, turned into one
verdict a node. Pure: two readings in, findings and a verdict out.

A node fails the burn-in when, during it, an uncorrected ECC error was counted on a GPU, a GPU
ended throttled by the hardware (slowdown, thermal, power brake) or by software for heat, or
NVML reported an Xid error (``pytorch_benchmarks.measure.xid`` watched NVML's Xid events
through the burn-in: ``accept.xid`` in the second reading, its codes named in the verdict). A
software power cap is said but does not fail the node: a GPU at its power limit under full
load is working as designed. GPUs whose Xid events NVML does not offer, and NVML's absence,
are said.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dlbs.accept.verdict import CheckVerdict

CHECK = "burn_in"
#: NVML's clock throttle reasons (``nvmlClocksThrottleReason*``) that fail a node.
FAILING_THROTTLE: dict[int, str] = {
    0x8: "hardware slowdown", 0x20: "software thermal slowdown",
    0x40: "hardware thermal slowdown", 0x80: "hardware power brake"}
#: Those said but not failing.
SAID_THROTTLE: dict[int, str] = {0x4: "software power cap"}


def _gpus(reading: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    environment = (reading or {}).get("accept.environment") or {}
    gpus = environment.get("gpus") if isinstance(environment, Mapping) else None
    return [g for g in gpus if isinstance(g, Mapping)] if isinstance(gpus, list) else []


def _throttle_words(reasons: Any, table: Mapping[int, str]) -> list[str]:
    if not isinstance(reasons, int) or isinstance(reasons, bool):
        return []
    return [word for bit, word in table.items() if reasons & bit]


def xid_findings(after: Mapping[str, Any] | None) -> tuple[list[str], list[str]]:
    """``(failures, said)`` of the Xid watch (``accept.xid``, ``accept.xid_watch``,
    ``accept.xid_unavailable`` of the reading after the burn-in): one failure naming every
    GPU's Xid codes, in the order first seen; what could not be watched, said."""
    after = after or {}
    said: list[str] = []
    if isinstance(after.get("accept.xid_unavailable"), str):
        said.append(f"Xid errors not read: {after['accept.xid_unavailable']}")
    watch = after.get("accept.xid_watch")
    if isinstance(watch, Mapping) and isinstance(watch.get("not_watched"), Mapping):
        said += [f"GPU {gpu}: Xid errors not read ({why})"
                 for gpu, why in watch["not_watched"].items()]
    xid = after.get("accept.xid")
    events = xid.get("events") if isinstance(xid, Mapping) else None
    if not isinstance(events, list) or not events:
        return [], said
    codes: dict[str, list[int]] = {}
    for event in events:
        if isinstance(event, Mapping) and isinstance(event.get("xid"), int):
            gpu = "GPU ?" if event.get("gpu") is None else f"GPU {event['gpu']}"
            codes.setdefault(gpu, [])
            if event["xid"] not in codes[gpu]:
                codes[gpu].append(event["xid"])
    count = xid.get("count", len(events)) if isinstance(xid, Mapping) else len(events)
    named = ", ".join(f"{gpu} Xid {', '.join(map(str, found))}" for gpu, found in codes.items())
    return [f"{count} Xid error(s) during the burn-in: {named}"], said


def findings(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
             ) -> tuple[list[str], list[str]]:
    """``(failures, said)``: what fails the node and what is only said, one phrase each,
    from the ``environment`` check's facts before and after the burn-in."""
    failures: list[str] = []
    said: list[str] = []
    old = _gpus(before)
    for index, gpu in enumerate(_gpus(after)):
        name = f"GPU {index}"
        start = old[index].get("ecc_uncorrected") if index < len(old) else None
        end = gpu.get("ecc_uncorrected")
        if isinstance(start, int) and isinstance(end, int) and end > start:
            failures.append(f"{name}: {end - start} uncorrected ECC error(s) during the burn-in")
        words = _throttle_words(gpu.get("throttle_reasons"), FAILING_THROTTLE)
        if words:
            failures.append(f"{name} throttled at the end: {', '.join(words)}")
        said += [f"{name} at its power limit at the end ({w})"
                 for w in _throttle_words(gpu.get("throttle_reasons"), SAID_THROTTLE)]
    xid_failures, xid_said = xid_findings(after)
    return failures + xid_failures, said + xid_said


def burn_in_verdict(node: str, minutes: float, runs: int, before: Mapping[str, Any] | None,
                    after: Mapping[str, Any] | None) -> CheckVerdict:
    """The node's burn-in verdict: failed with its reasons, or passed with what was read."""
    failures, said = findings(before, after)
    head = f"{CHECK} {minutes:g} min, {runs} reference run(s)"
    if failures:
        return CheckVerdict(node, CHECK, True, f"{head}: {'; '.join(failures)}")
    if not _gpus(after):
        read = "no GPU counters (NVML absent)"
        said = [s for s in said if not s.startswith("Xid errors not read: ")]
    else:
        watched = _watched(after)
        xid_read = any(s.startswith(("Xid errors not read", "GPU ")) for s in said)
        read = "ECC and throttle reasons unchanged" + (
            f"; no Xid error on {watched} GPU(s) watched" if watched else
            "" if xid_read else "; Xid errors not read")
    return CheckVerdict(node, CHECK, False, f"{head}: ok ({'; '.join([read, *said])})")


def _watched(after: Mapping[str, Any] | None) -> int:
    """How many GPUs the Xid watch watched (0: none, or no watch)."""
    xid = (after or {}).get("accept.xid")
    watched = xid.get("watched") if isinstance(xid, Mapping) else None
    return len(watched) if isinstance(watched, list) else 0
