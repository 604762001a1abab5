"""Verdicts of a comparison table, judged together: the policy (band, error level, correction,
sessions) and the cells' intervals, verdicts and planning figures.

The statistics are :mod:`benchstats.compare`'s and :mod:`benchstats.sessions`'; this module
decides what a comparison's options mean (when the sides were measured apart: the session
shift estimated from a side's two or more sessions, else an assumed between-session CV,
``--session_cv`` or its default) and words the notes under the table. Pure: run times in,
cells and notes out.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from benchstats import (
    LogDiff,
    band_p_value,
    interval,
    judge,
    paired_log_diff,
    paired_trimmed_log_diff,
    runs_needed,
    summarize,
    trimmed_log_diff,
    welch_log_diff,
)
from benchstats.estimate import MIN_RUNS_FOR_INTERVAL
from benchstats.sessions import session_log_diff

#: Fewest successful runs a side for a verdict and its interval: the same number as for a
#: value's interval anywhere (issue 56: with two runs a side each side's variance rests on one
#: degree of freedom, and 5.9% of 2,000 20-cell A/A tables got a verdict at --alpha 0.05;
#: benchmarks/sim_sessions.py --cases 24). A cell with fewer shows its speedup alone.
MIN_RUNS = MIN_RUNS_FOR_INTERVAL
#: Default smallest change (relative) called ``faster``/``slower`` (``--min_change``): none
#: beyond what the interval establishes. With 5 runs a side at a run CV of 2%, a band of 0.5%
#: already loses the 80% power for a 5% change (scripts/sim_compare.py;
#: docs/measurements/report-statistics.md, "Comparisons judged over a table").
MIN_CHANGE = 0.0
#: Default error level of a table's verdicts (``--alpha``).
ALPHA = 0.05
#: Default correction (``--correction``): Benjamini-Hochberg. Under the complete null (no
#: cell changed) it controls the family-wise rate too; when many cells truly changed it keeps
#: the power that Holm loses (scripts/sim_compare.py).
CORRECTION = "bh"
#: The between-session CV assumed for a side measured in one session when ``--session_cv`` is
#: not given: one session's shift cannot be told from the code's speed, so it is assumed, above
#: the shifts the compare is promised to cover (random session shifts of CV 1-2%, issue 56).
#: Assuming exactly 2% spends BH's 5% to the last digit at a true 2% (Welch-Satterthwaite's
#: far tails are a little liberal): 4.0-7.0% of A/A tables got a verdict. Chosen on a 0.25%
#: grid by benchmarks/sim_sessions.py and scripts/sim_compare.py: the largest that keeps a 10%
#: change with 5 runs a side at run CV 3% found in >= 80% of cells (2.25%: 84%; 2.5%: 70.5%),
#: with A/A tables at a true 2% given a verdict in 0.5-2.5% (<= 5% with a margin). It replaces
#: issue 30's 2.5% session allowance, a bound that random shifts exceeded: its interval
#: covered 85.6% where 99.75% was printed.
DEFAULT_SESSION_CV = 0.0225
CORRECTION_NAMES = {"bh": "Benjamini-Hochberg (false discovery rate)",
                    "holm": "Holm (family-wise error rate)", "none": "no correction"}


@dataclass(frozen=True)
class Policy:
    """What a comparison's options mean for its verdicts."""

    min_change: float = MIN_CHANGE
    alpha: float = ALPHA
    correction: str = CORRECTION
    session_cv: float | None = None  # None: DEFAULT_SESSION_CV, for a side of one session
    apart: bool = True  # the two sides were measured in separate sessions
    paired: bool = False  # pair runs by round (one session only)
    trim: float = 0.0  # share trimmed from each end (Yuen's t; 0: Welch's t or the paired t)

    @property
    def band(self) -> float:
        """The band the interval shown must clear for a verdict: ``min_change``."""
        return self.min_change

    @property
    def assumed_cv(self) -> float:
        """The between-session CV assumed for a side of one session (0: one session for both
        sides, none applies)."""
        if not self.apart:
            return 0.0
        return DEFAULT_SESSION_CV if self.session_cv is None else self.session_cv

    @property
    def extra_var(self) -> float:
        """Variance added to the mean log time of a side of one session (between sessions):
        the log variance of a lognormal shift of CV ``c``, ``log(1 + c^2)`` (``log(1 + c)^2``
        before issue 56 gave 2% less at c = 2%: A/A tables at that CV got 6-7% verdicts)."""
        return math.log1p(self.assumed_cv ** 2)


@dataclass(frozen=True)
class Runs:
    """One experiment's successful run times (ms), by round (``exp.repeat_index``), and each
    run's session (``sys.timestamp``: one ``dlbs run`` of a plan) where the logs say it; runs
    whose session is not said count as one session."""

    base: Mapping[int, float]
    new: Mapping[int, float]
    base_sessions: Mapping[int, str] = field(default_factory=dict)
    new_sessions: Mapping[int, str] = field(default_factory=dict)

    def sessions(self) -> tuple[int, int]:
        """The number of sessions of each side (at least 1 where it has runs)."""
        return len(_by_session(self.base, self.base_sessions)), \
            len(_by_session(self.new, self.new_sessions))


def _by_session(runs: Mapping[int, float], sessions: Mapping[int, str]) -> list[list[float]]:
    """A side's run times grouped by session, in the order first seen."""
    groups: dict[str, list[float]] = {}
    for label, time in runs.items():
        groups.setdefault(sessions.get(label, ""), []).append(time)
    return list(groups.values())


def _diff(runs: Runs, policy: Policy) -> LogDiff:
    if policy.paired:
        rounds = sorted(set(runs.base) & set(runs.new))
        pairs = [(runs.base[r], runs.new[r]) for r in rounds]
        if policy.trim:
            return paired_trimmed_log_diff(pairs, policy.trim, policy.extra_var)
        return paired_log_diff(pairs, policy.extra_var)
    if policy.apart and not policy.trim:  # sessions: estimated where a side has two or more
        return session_log_diff(_by_session(runs.base, runs.base_sessions),
                                _by_session(runs.new, runs.new_sessions), policy.extra_var,
                                known=policy.session_cv is not None)
    base, new = list(runs.base.values()), list(runs.new.values())
    if policy.trim:
        return trimmed_log_diff(base, new, policy.trim, policy.extra_var)
    return welch_log_diff(base, new, policy.extra_var)


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
    judged = [e is not None and _pairs(e, policy) >= MIN_RUNS for e in evidence]
    p_values = [band_p_value(d, policy.band) if d is not None and ok else math.nan
                for d, ok in zip(diffs, judged)]
    verdict = judge(p_values, policy.alpha, policy.correction)
    cells: list[list[object]] = []
    for runs, d, rejected, ok in zip(evidence, diffs, verdict.rejected, judged):
        if runs is None or d is None:
            cells.append([None] * 5)
            continue
        ratio = interval(d, verdict.confidence)
        word = _word(ratio.ratio, rejected, _pairs(runs, policy), d)
        needed = _needed(runs, d, policy, verdict.confidence) if word == "inconclusive" else None
        low = None if not ok or math.isnan(ratio.ci_low) else ratio.ci_low
        high = None if not ok or math.isnan(ratio.ci_high) else ratio.ci_high
        cells.append([None if math.isnan(ratio.ratio) else ratio.ratio, low, high, needed, word])
    return cells, verdict.confidence


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
    if policy.apart and policy.session_cv is None and runs.sessions() != (1, 1):
        return None  # more sessions, not more runs of each, narrow a session-level interval
    seen = abs(math.expm1(d.diff))
    effect = max(seen, 2.0 * policy.band, 0.01)
    base_var, new_var = _log_var(list(runs.base.values())), _log_var(list(runs.new.values()))
    if policy.paired:  # the paired spread, split evenly over the sides
        base_var = new_var = d.se ** 2 * _pairs(runs, policy) / 2.0
    needed = runs_needed(d, base_var, new_var, effect, policy.band, confidence,
                         extra_var=policy.extra_var)
    return needed if needed is not None and needed > _pairs(runs, policy) else None


def policy_notes(policy: Policy, confidence: float, judged: int, sides: str,
                 none_why: str = "") -> list[str]:
    """How the verdicts were reached: the unit, the band, the error control, the sessions."""
    test = ("a paired t over the rounds' log ratios (runs paired by exp.repeat_index)"
            if policy.paired else "Welch's t over the log run times")
    shown = ("its variance includes the sessions' (the sessions note below); " if policy.apart
             else "")
    notes = [
        ("speedup = geometric mean of base run times / that of new (> 1: new is faster); the "
        f"interval is {test} (each run a separate process, its time over its steady window; "
        f"runs: successful runs); {shown}a verdict needs >= {MIN_RUNS} runs a side and the "
        f"whole interval shown beyond 1 +/- {policy.min_change:.1%}; inconclusive: the interval "
        "reaches into that band"),
        (f"error control over the {judged} cell{'s' if judged != 1 else ''} judged: "
         f"{CORRECTION_NAMES[policy.correction]} at --alpha {policy.alpha:g} (--correction "
         f"{policy.correction}); the intervals shown are at {confidence:.2%}, the level that "
         "agrees with the verdicts" + _level_why(policy.correction)) if judged else
        f"no cell judged: {none_why or f'none has {MIN_RUNS} successful runs a side'}",
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


def session_note(policy: Policy, counts: Sequence[tuple[int, int]] = ((1, 1),)) -> str:
    """What the sessions mean for the verdicts; ``counts``: the sessions of each side (base,
    new) of the cells judged."""
    if not policy.apart:
        return ("one session: both sides were measured in the same session, runs interleaved "
                "by round, so no between-session variance applies")
    parts = [("sessions: the sides were measured apart; a session (one dlbs run of a plan, "
              "its sys.timestamp) shifts all its runs alike, which more runs do not average out")]
    sides = sorted({n for pair in counts for n in pair})
    if any(n >= 2 for n in sides) and policy.session_cv is not None:
        parts.append(f"a side of k sessions takes the between-session CV given, "
                     f"{_percent(policy.session_cv)} (--session_cv), as known: its variance over k "
                     "added to that of the runs within sessions")
    elif any(n >= 2 for n in sides):
        parts.append("a side of two or more sessions has that shift estimated from the spread of "
                     "its session means (random effects: each session one value, Hartung-Knapp "
                     "with equal weights, floored at the runs' own variance, on sessions - 1 "
                     "degrees of freedom a side; no runs needed is given for it: more sessions "
                     "narrow it, not more runs)")
    if not sides or 1 in sides:
        given = ("(--session_cv)" if policy.session_cv is not None else
                 "(the default of --session_cv)")
        parts.append(f"a side of one session cannot show its shift: a between-session CV of "
                     f"{_percent(policy.assumed_cv)} {given} is assumed and added to its variance (more "
                     "runs of that session do not narrow this part); give "
                     "the CV known from repeated sessions, run two or more sessions a side (the "
                     "shift is then estimated), or compare within one session (--compare-by)")
    if policy.session_cv is not None:
        parts.append(SESSION_CV_EXACT)
    shown = ", ".join(f"{n} session{'s' if n != 1 else ''}" for n in sides)
    return "; ".join(parts) + (f" (sessions a side: {shown})" if counts else "")


#: What taking --session_cv as exact means (a review of issue 56, 2026-11-29: one session and
#: 3 runs a side at run CV 3%, the true session CV given, 7.7-9.7% of 20-cell A/A tables got a
#: verdict with Satterthwaite's degrees of freedom at the runs' variance as estimated; at its
#: upper quartile, benchstats.sessions.KNOWN_DF_QUANTILE, 3.2-3.6%; three sessions 5.3-5.4% at
#: session CV 2%, about BH's own 4.9% with exact p-values (900 tables each):
#: docs/measurements/report-statistics.md).
SESSION_CV_EXACT = ("--session_cv is taken as exact: given the true CV, 2.4-5.4% of simulated "
                    "20-cell A/A tables got a verdict (one or three sessions of 3 runs a side, "
                    "run CV 1-3%; BH allows 5%); a CV below the true one makes verdicts too "
                    "easy: give one with a margin")


def _percent(cv: float) -> str:
    """A CV as the report writes it: one decimal, two where a second is set (2.25%)."""
    return f"{cv:.2%}" if round(cv * 10000) % 10 else f"{cv:.1%}"


def session_title(policy: Policy, counts: Sequence[tuple[int, int]]) -> str:
    """What a comparison table's title says of its sessions ('' within one session)."""
    if not policy.apart:
        return ""
    if all(min(pair) >= 2 for pair in counts) and counts and policy.session_cv is None:
        return ", session shifts estimated from the sessions"
    if policy.session_cv is not None:
        return f", {_percent(policy.session_cv)} session CV assumed (--session_cv)"
    return f", {_percent(policy.assumed_cv)} session CV assumed for a side of one session"


def runs_needed_note() -> str:
    return ("runs needed (planning): runs per side that would give a verdict with 80% power "
            "if the change were the size seen (at least twice the band), estimated from the "
            "observed spread of the runs at the level of the intervals shown; a plan, not a "
            "promise (it assumes the runs vary as these did)")
