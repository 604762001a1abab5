"""Verdicts of a comparison table, judged together: the policy (band, error level, correction,
sessions) and the cells' intervals, verdicts and planning figures.

The statistics are :mod:`benchstats.compare`'s; this module decides what a comparison's
options mean (a band widened by the session allowance when the sides were measured apart, a
between-session variance when one is given) and words the notes under the table. Pure: run
times in, cells and notes out.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from benchstats import (
    LogDiff,
    Ratio,
    band_p_value,
    interval,
    judge,
    paired_log_diff,
    runs_needed,
    summarize,
    welch_log_diff,
)

#: Fewest successful runs a side for a verdict.
MIN_RUNS = 2
#: Default smallest change (relative) called ``faster``/``slower`` (``--min_change``): none
#: beyond what the interval establishes. With 5 runs a side at a run CV of 2%, a band of 0.5%
#: already loses the 80% power for a 5% change (scripts/sim_compare.py; docs/reports.md).
MIN_CHANGE = 0.0
#: Default error level of a table's verdicts (``--alpha``).
ALPHA = 0.05
#: Default correction (``--correction``): Benjamini-Hochberg. Under the complete null (no
#: cell changed) it controls the family-wise rate too; when many cells truly changed it keeps
#: the power that Holm loses (scripts/sim_compare.py).
CORRECTION = "bh"
#: Changes smaller than this get no verdict when the sides were measured apart and no
#: ``--session_cv`` is given (sessions differ by what the machine did between them). Chosen by
#: simulation (scripts/sim_compare.py): with a 2% session offset and 5 runs a side at run CV
#: 3%, false verdicts stay <= 5% per cell while a 10% change is still found in >= 80%.
SESSION_ALLOWANCE = 0.025
CORRECTION_NAMES = {"bh": "Benjamini-Hochberg (false discovery rate)",
                    "holm": "Holm (family-wise error rate)", "none": "no correction"}


@dataclass(frozen=True)
class Policy:
    """What a comparison's options mean for its verdicts."""

    min_change: float = MIN_CHANGE
    alpha: float = ALPHA
    correction: str = CORRECTION
    session_cv: float | None = None
    apart: bool = True  # the two sides were measured in separate sessions
    paired: bool = False  # pair runs by round (one session only)

    @property
    def allowance(self) -> float:
        """The session allowance the intervals shown are widened by (0: none applies)."""
        return SESSION_ALLOWANCE if self.apart and self.session_cv is None else 0.0

    @property
    def band(self) -> float:
        """The band the runs' own interval must clear: ``min_change`` beyond the session
        allowance (on the log scale, ``log(1 + band) = log(1 + min_change) + log(1 +
        allowance)``), so that the interval shown, widened by the allowance, clears ``1 +/-
        min_change`` exactly when a verdict is given."""
        return (1.0 + self.min_change) * (1.0 + self.allowance) - 1.0

    @property
    def extra_var(self) -> float:
        """Variance added to each side's mean log time (between sessions)."""
        return math.log1p(self.session_cv) ** 2 if self.apart and self.session_cv else 0.0


@dataclass(frozen=True)
class Runs:
    """One experiment's successful run times (ms), by round (``exp.repeat_index``)."""

    base: Mapping[int, float]
    new: Mapping[int, float]


def _diff(runs: Runs, policy: Policy) -> LogDiff:
    if policy.paired:
        rounds = sorted(set(runs.base) & set(runs.new))
        return paired_log_diff([(runs.base[r], runs.new[r]) for r in rounds], policy.extra_var)
    return welch_log_diff(list(runs.base.values()), list(runs.new.values()), policy.extra_var)


def _pairs(runs: Runs, policy: Policy) -> int:
    if policy.paired:
        return len(set(runs.base) & set(runs.new))
    return min(len(runs.base), len(runs.new))


def _log_var(values: Sequence[float]) -> float:
    return summarize([math.log(v) for v in values]).std ** 2


def judge_table(evidence: Sequence[Runs | None], policy: Policy
                ) -> tuple[list[list[object]], float]:
    """Per cell ``[speedup, CI low, CI high, runs needed, verdict]`` (``None`` entries where a
    cell has no evidence: the caller keeps its status verdict), judged together; and the
    confidence level of the intervals shown."""
    diffs = [None if e is None else _diff(e, policy) for e in evidence]
    p_values = [math.nan if d is None else band_p_value(d, policy.band) for d in diffs]
    verdict = judge(p_values, policy.alpha, policy.correction)
    cells: list[list[object]] = []
    for runs, d, rejected in zip(evidence, diffs, verdict.rejected):
        if runs is None or d is None:
            cells.append([None] * 5)
            continue
        ratio = widened(interval(d, verdict.confidence), policy.allowance)
        word = _word(ratio.ratio, rejected, _pairs(runs, policy), d)
        needed = _needed(runs, d, policy, verdict.confidence) if word == "inconclusive" else None
        low = None if math.isnan(ratio.ci_low) else ratio.ci_low
        high = None if math.isnan(ratio.ci_high) else ratio.ci_high
        cells.append([None if math.isnan(ratio.ratio) else ratio.ratio, low, high, needed, word])
    return cells, verdict.confidence


def widened(ratio: Ratio, allowance: float) -> Ratio:
    """The interval with the session allowance on both sides (``low / (1 + a)``, ``high (1 +
    a)``): where the true ratio can be when each session may have shifted its side's runs by
    up to the allowance, which more runs do not average out."""
    if allowance == 0.0:
        return ratio
    return replace(ratio, ci_low=ratio.ci_low / (1.0 + allowance),
                   ci_high=ratio.ci_high * (1.0 + allowance))


def _word(ratio: float, rejected: bool, pairs: int, d: LogDiff) -> str:
    if pairs < MIN_RUNS:
        return f"no verdict: {pairs} run{'s' if pairs != 1 else ''} on a side"
    if math.isnan(d.se):
        return "no verdict: no spread"
    if rejected:
        return "faster" if ratio > 1.0 else "slower"
    return "inconclusive"


def _needed(runs: Runs, d: LogDiff, policy: Policy, confidence: float) -> int | None:
    """Runs per side that would settle the cell with 80% power if the change were the size
    seen (at least twice the band, at least 1%): a planning figure from the observed spread."""
    seen = abs(math.expm1(d.diff))
    effect = max(seen, 2.0 * policy.band, 0.01)
    base_var, new_var = _log_var(list(runs.base.values())), _log_var(list(runs.new.values()))
    if policy.paired:  # the paired spread, split evenly over the sides
        base_var = new_var = d.se ** 2 * _pairs(runs, policy) / 2.0
    needed = runs_needed(d, base_var, new_var, effect, policy.band, confidence,
                         extra_var=policy.extra_var)
    return needed if needed is not None and needed > _pairs(runs, policy) else None


def policy_notes(policy: Policy, confidence: float, judged: int, sides: str) -> list[str]:
    """How the verdicts were reached: the unit, the band, the error control, the sessions."""
    test = ("a paired t over the rounds' log ratios (runs paired by exp.repeat_index)"
            if policy.paired else "Welch's t over the log run times")
    shown = (f"the interval shown is that interval widened by the {policy.allowance:.1%} session "
             f"allowance on each side; " if policy.allowance else "")
    notes = [
        ("speedup = geometric mean of base run times / that of new (> 1: new is faster); the "
        f"interval is {test} (each run a separate process, its time over its steady window; "
        f"runs: successful runs); {shown}a verdict needs >= {MIN_RUNS} runs a side and the "
        f"whole interval shown beyond 1 +/- {policy.min_change:.1%}; inconclusive: the interval "
        "reaches into that band"),
        f"error control over the {judged} cell{'s' if judged != 1 else ''} judged: "
        f"{CORRECTION_NAMES[policy.correction]} at --alpha {policy.alpha:g} (--correction "
        f"{policy.correction}); the intervals shown are at {confidence:.2%}, the level that "
        "agrees with the verdicts" + _level_why(policy.correction),
        sides,
    ]
    return notes


def _level_why(correction: str) -> str:
    if correction == "bh":
        return (" (Benjamini & Yekutieli 2005: 1 - R alpha / m for R verdicts of m cells; "
                "BH is the default: with no real change it bounds the chance of any false "
                "verdict by alpha as Holm does, and keeps more power when many cells changed)")
    if correction == "holm":
        return " (the level of Holm's last step: alpha / (m - R + 1) for R verdicts of m cells)"
    return " (each cell at 1 - alpha: over many cells some false verdicts are expected)"


def session_note(policy: Policy) -> str:
    """What the sessions mean for the verdicts."""
    if not policy.apart:
        return ("one session: both sides were measured in the same session, runs interleaved "
                "by round, so no session allowance applies")
    if policy.session_cv is not None:
        return (f"sessions: the sides were measured apart (separate sessions); a between-session "
                f"CV of {policy.session_cv:.1%} (--session_cv) is added to each side's variance")
    return (f"sessions: the sides were measured apart (separate sessions), which shifts every "
            f"run of a side alike; without --session_cv no verdict is given for a change "
            f"below {SESSION_ALLOWANCE:.1%} (the session allowance, included in the intervals "
            "shown); for smaller changes compare within one session (--compare-by) or give "
            "--session_cv")


def runs_needed_note() -> str:
    return ("runs needed (planning): runs per side that would give a verdict with 80% power "
            "if the change were the size seen (at least twice the band), estimated from the "
            "observed spread of the runs at the level of the intervals shown; a plan, not a "
            "promise (it assumes the runs vary as these did)")
