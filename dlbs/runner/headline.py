"""What a finished experiment measured, said on the console as it ends and counted at the
sweep's end: its headline figure with its unit, and the marks that say how far to trust it.

A person watching a sweep reads the console, not the logs: ``[3/12] ok in 41.2 s: 4.71
samples/s, busy 87%`` says what the log holds and that the machine was shared, and the summary
counts the runs on a busy machine, those without a steady state and those whose interval was
withheld (what ``dlbs report`` marks ``#`` and ``~``). Pure: the log's facts in, text out.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dlbs.logs.fact_types import (
    BUSY_THRESHOLD,
    NOT_JUDGED_WHY,
    NOT_LOGGED,
    SHORT_WINDOW,
    machine_state,
    not_judged_words,
)
from dlbs.logs.withheld import ci_withheld


@dataclass(frozen=True)
class Measured:
    """A run's headline figure (``""`` when its log has none) and its marks."""

    figure: str = ""
    busy: float | None = None   # other processes' share of its CPUs, when above the threshold
    unsteady: bool = False      # results.steady_state false
    withheld: str = ""          # why its interval was withheld (dlbs.logs.withheld.ci_withheld)
    above_cores: bool = False   # exp.ranks_above_cores: ranks x threads above usable cores
    not_judged: str = ""        # why its machine state was not judged (fact_types.NOT_JUDGED_WHY)
    untested: str = ""          # results.steady_state_untested: why no test of its steady state

    def text(self) -> str:
        """The figure and its marks, e.g. ``4.71 samples/s, busy 87%, not steady``."""
        parts = [self.figure] if self.figure else []
        if self.busy is not None:
            parts.append(f"busy {self.busy:.0%}")
        if self.above_cores:
            parts.append("ranks above cores")
        if self.unsteady:
            parts.append("not steady")
        elif self.withheld:
            parts.append(f"no interval: {self.withheld}")
        return ", ".join(parts)


def significant(value: float) -> str:
    """A figure to 3 significant digits, whole numbers from 100 on (``0.0123``, ``4.71``,
    ``38.0``, ``1,234``): a small figure keeps its digits, trailing zeros too, as the reports
    show them (``38`` read as two digits of 38.04), and a large one shows no false precision."""
    shown = f"{value:#.3g}"
    if abs(value) >= 100 or abs(float(shown)) >= 100:  # 99.96 rounds up to 100
        return f"{value:,.0f}"
    return shown


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def headline_figure(facts: Mapping[str, Any]) -> str:
    """The figure a report leads with: a capacity search's capacity, a serving run's TTFT p50
    and requests/s, a language model's tokens/s, else samples/s."""
    capacity = _number(facts.get("results.capacity"))
    if capacity is not None:
        unit = facts.get("results.capacity_unit") or "requests/s"
        return f"capacity {significant(capacity)} {unit}"
    ttft = _number(facts.get("results.ttft_p50"))
    if ttft is not None:
        rate = _number(facts.get("results.request_throughput"))
        tail = f", {significant(rate)} requests/s" if rate is not None else ""
        return f"TTFT p50 {significant(ttft)} ms{tail}"
    tokens = _number(facts.get("results.tokens_per_second"))
    if tokens is not None:
        return f"{significant(tokens)} tokens/s"
    samples = _number(facts.get("results.throughput"))
    return f"{significant(samples)} samples/s" if samples is not None else ""


def measured(facts: Mapping[str, Any]) -> Measured:
    """The headline and marks of a finished run's facts (what its process wrote)."""
    share = _number(facts.get("results.other_cpu_share"))
    untested = facts.get("results.steady_state_untested")
    state = machine_state(facts)
    return Measured(headline_figure(facts),
                    share if share is not None and share > BUSY_THRESHOLD else None,
                    facts.get("results.steady_state") is False,
                    ci_withheld(facts) or "",  # "not steady" for logs before the key too
                    facts.get("exp.ranks_above_cores") is True,
                    state if state in NOT_JUDGED_WHY else "",
                    untested if isinstance(untested, str) else "")


def _busy_advice(busy: int, short: bool) -> str:
    """What to do about a busy count: a busy run is measured again on a quiet machine; a
    window too short to judge gets more iterations (a longer window)."""
    if busy:
        return "figures not comparable; measure again on a quiet machine"
    more = "; raise exp.num_batches for a timed window of 1 s or more" if short else ""
    return "a busy machine not ruled out" + more


def counts(runs: Sequence[Measured]) -> list[str]:
    """The summary's lines on the runs that measured something: how many were on a busy
    machine, found no steady state, or have no interval (none when all is well)."""
    total = len(runs)
    if not total:
        return []
    lines = []
    runs_word = "runs" if total != 1 else "run"
    busy = sum(r.busy is not None for r in runs)
    # The runs not judged are named with the count (issue 56: "4 of 4" for 6 runs); a run
    # without the key counts only when it measured something (a failed run logs no state).
    not_judged = Counter(r.not_judged for r in runs
                         if r.not_judged and (r.not_judged != NOT_LOGGED or r.figure))
    if busy or not_judged:
        lines.append(f"  {busy} of {total} {runs_word} on a busy machine (other processes took over "
                     f"{BUSY_THRESHOLD:.0%} of their CPUs: results.other_cpu_share)"
                     f"{not_judged_words(dict(not_judged))}: "
                     + _busy_advice(busy, SHORT_WINDOW in not_judged) + " (docs/reports.md)")
    above = sum(r.above_cores for r in runs)
    if above:
        lines.append(f"  {above} of {total} {runs_word} with more threads than usable cores "
                     "(exp.ranks_above_cores): the threads waited for each other; lower "
                     "exp.cpu_threads or the ranks per node")
    unsteady = sum(r.unsteady for r in runs)
    if unsteady:
        lines.append(f"  {unsteady} of {total} {runs_word} found no steady state (results.steady_state):"
                     " the warm-up may be in the figure; raise exp.num_batches")
    untested = Counter(r.untested for r in runs if r.untested)
    if untested:
        lines.append(f"  {sum(untested.values())} of {total} {runs_word} with the steady state not "
                     f"tested ({_reasons(untested)}: results.steady_state_untested), not counted "
                     "steady: raise exp.num_batches (100 iterations or more)")
    # Every run without an interval, the unsteady ones too (issue 58: "8 of 10 without an
    # interval" when all 10 had none, 2 not steady), with the reasons adding up to the count.
    withheld = Counter(r.withheld for r in runs if r.withheld)
    if withheld:
        lines.append(f"  {sum(withheld.values())} of {total} {runs_word} without an interval of "
                     f"their own ({_reasons(withheld)}: results.ci_withheld; repeated runs give "
                     "one over the runs)")
    return lines


def _reasons(counted: Counter[str]) -> str:
    """``8: too few iterations, 2: not steady``: the counts by reason, largest first."""
    return ", ".join(f"{n}: {why}" for why, n in counted.most_common())
