"""The stop rule in the benchmark's words: its warnings and its ``results.*`` facts.

Responsibility: say before the run what limit a precision target gets by default, and after
it how the count of timed iterations was decided (``results.num_batches_done``,
``results.target_precision_met``...), warning for every early stop: a run never stops short
without saying so. The arithmetic (when to stop, how many more) is :mod:`benchstats.stopping`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from benchstats import DEFAULT_MAX_TIME, StopRule, analyze

Warn = Callable[[str], None]


def announce(rule: StopRule, warn: Warn) -> None:
    """State, before the run, a limit the user did not set: the default cap of timed work
    that a precision target gets without ``--max_time``."""
    if rule.target > 0 and rule.max_time <= 0:
        warn(f"--target_precision {rule.target:g} without --max_time: timed work is capped "
             f"at the default max_time of {DEFAULT_MAX_TIME:.0f} s")


def stop_facts(times: list[float], met: bool, rule: StopRule, warn: Warn,
               stopped_by: str | None = None) -> dict[str, Any]:
    """The facts of how the count was decided; warns for every early stop (``stopped_by``:
    the stop signal that ended the run early, else the time limit did)."""
    done = len(times)
    facts: dict[str, Any] = {"results.num_batches_done": done}
    limit = rule.limit
    if limit:
        facts["results.max_time"] = limit
    source = "--max_time" if rule.max_time > 0 else f"the default cap of {DEFAULT_MAX_TIME:.0f} s"
    why = (f"{stopped_by} received" if stopped_by
           else f"max_time ({source}, {limit:g} s of timed work) reached")
    if done < rule.num_batches:
        warn(f"stopped after {done} of {rule.num_batches} timed batches: {why}")
    if rule.target > 0:
        facts["results.target_precision"] = rule.target
        facts["results.target_precision_met"] = met
        if not met:  # without an interval, why there is none (issue 30), not "unknown"
            found = analyze(times)
            shown = (f"none: {found.ci_withheld or 'unknown'}" if math.isnan(found.precision)
                     else f"{found.precision:.4f}")
            warn(f"target precision {rule.target:g} not reached (achieved {shown}, "
                 f"{done} batches): {why}")
    return facts
