"""A node's ``environment`` reading judged (the check ``environment``: NVML's driver, GPUs,
clocks, ECC counters and throttle reasons, read right after the node's load checks). Pure:
each node's facts in, a verdict a node out.

A node fails when a GPU is throttled by the hardware (slowdown, thermal, power brake) or by
software for heat, as the burn-in judges it (:data:`dlbs.accept.burnin.FAILING_THROTTLE`), or
when its driver, its GPU model or its number of GPUs differs from what most of the fleet's
nodes read (a node left on the old driver after an update, a GPU missing). A software power
cap and uncorrected ECC errors already counted (NVML's aggregate counter: since the GPU's
counters were last cleared; new ones are the burn-in's) are said, not failed. A node whose
NVML did not start is not judged, its reason said.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from dlbs.accept.burnin import FAILING_THROTTLE, SAID_THROTTLE
from dlbs.accept.verdict import CheckVerdict

CHECK = "environment"


def _reading(facts: Mapping[str, Any]) -> tuple[str | None, list[Mapping[str, Any]]] | None:
    """A node's driver and GPUs, or None without a reading."""
    env = facts.get("accept.environment")
    if not isinstance(env, Mapping):
        return None
    gpus = env.get("gpus")
    driver = env.get("driver")
    return (driver if isinstance(driver, str) else None,
            [g for g in gpus if isinstance(g, Mapping)] if isinstance(gpus, list) else [])


def _words(reasons: Any, table: Mapping[int, str]) -> list[str]:
    if not isinstance(reasons, int) or isinstance(reasons, bool):
        return []
    return [word for bit, word in table.items() if reasons & bit]


def _odd(node: str, what: str, values: Mapping[str, Any]) -> str | None:
    """How ``node``'s ``what`` differs from most nodes', or None (also with fewer than 3
    nodes, or no majority: nothing to say which is odd)."""
    counts = Counter(values.values())
    if len(values) < 3 or len(counts) < 2:
        return None
    usual, many = counts.most_common(1)[0]
    if many * 2 <= len(values) or values[node] == usual:
        return None
    return f"{what} {values[node]} while {many} of {len(values)} nodes have {usual}"


def environment_verdicts(facts: Mapping[str, Mapping[str, Any]]) -> list[CheckVerdict]:
    """Each node's verdict on ``environment`` (nodes whose check did not run: none)."""
    readings = {node: r for node, f in facts.items() if (r := _reading(f)) is not None}
    drivers = {node: r[0] for node, r in readings.items()}
    models = {node: ", ".join(sorted({str(g.get("name")) for g in r[1]})) or "no GPU"
              for node, r in readings.items()}
    counts = {node: len(r[1]) for node, r in readings.items()}
    verdicts = []
    for node, node_facts in facts.items():
        if node not in readings:
            why = node_facts.get("accept.environment_unavailable")
            if isinstance(why, str):
                verdicts.append(CheckVerdict(node, CHECK, False, f"{CHECK}: not read: {why}",
                                             judged=False))
            continue
        driver, gpus = readings[node]
        failures = [line for line in (_odd(node, "driver", drivers),
                                      _odd(node, "GPU model", models),
                                      _odd(node, "GPU count", counts)) if line]
        said = []
        for index, gpu in enumerate(gpus):
            clock = gpu.get("sm_clock_mhz")
            at = f" (SM clock {clock:,} MHz)" if isinstance(clock, int) else ""
            words = _words(gpu.get("throttle_reasons"), FAILING_THROTTLE)
            if words:
                failures.append(f"GPU {index} throttled{at}: {', '.join(words)}")
            said += [f"GPU {index} at its power limit{at}: {w}"
                     for w in _words(gpu.get("throttle_reasons"), SAID_THROTTLE)]
            ecc = gpu.get("ecc_uncorrected")
            if isinstance(ecc, int) and not isinstance(ecc, bool) and ecc > 0:
                said.append(f"GPU {index}: {ecc} uncorrected ECC error(s) counted before "
                            "(aggregate)")
        head = f"{CHECK} driver {driver}, {len(gpus)} GPU(s) {models[node]}"
        if failures:
            verdicts.append(CheckVerdict(node, CHECK, True, f"{head}: {'; '.join(failures)}"))
        else:
            verdicts.append(CheckVerdict(node, CHECK, False, f"{head}: ok" + (
                f" ({'; '.join(said)})" if said else "")))
    return verdicts
