"""What a burn-in did to a node (``dlbs accept --burn-in MINUTES``): its GPUs' counters read by
the ``environment`` check before and after the repeated reference runs, turned into one
verdict a node. Pure: two readings in, findings and a verdict out.

A node fails the burn-in when, during it, an uncorrected ECC error was counted on a GPU, or a
GPU ended throttled by the hardware (slowdown, thermal, power brake) or by software for heat.
A software power cap is said but does not fail the node: a GPU at its power limit under full
load is working as designed. Xid errors are not read yet (NVML gives them as events, not a
counter; the kernel log needs privileges): the verdict says so.
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
    return failures, said


def burn_in_verdict(node: str, minutes: float, runs: int, before: Mapping[str, Any] | None,
                    after: Mapping[str, Any] | None) -> CheckVerdict:
    """The node's burn-in verdict: failed with its reasons, or passed with what was read."""
    failures, said = findings(before, after)
    head = f"{CHECK} {minutes:g} min, {runs} reference run(s)"
    if failures:
        return CheckVerdict(node, CHECK, True, f"{head}: {'; '.join(failures)}")
    read = "no GPU counters (NVML absent)" if not _gpus(after) else \
        "ECC and throttle reasons unchanged; Xid errors not read"
    return CheckVerdict(node, CHECK, False, f"{head}: ok ({'; '.join([read, *said])})")
