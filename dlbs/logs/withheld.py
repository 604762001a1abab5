"""Why a run's within-run interval of the mean (``results.time_ci95``) is not one to read.

Responsibility: one reading of the facts for every place that shows a run's interval (the
database's query rows; reports that list runs): the reason in a few words, or ``None`` when
the interval stands. The benchmark writes the reason (``results.ci_withheld``, since issue
30); older logs are read by what they carry: an interval beside ``results.steady_state=false``
was given for a window that was not steady, a ``null`` interval has its ``results.ci_note``.
It decides nothing new and computes no statistics.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Older ``results.ci_note`` openings and the reason they give (the benchmark's words).
NOTE_REASONS = (("series too short for its correlation", "too correlated"),
                ("interval would reach zero", "too spread"),
                ("no iterations", "no iterations"))


#: The facts :func:`ci_withheld` reads (all it needs of a run).
WITHHELD_FACTS = ("results.ci_withheld", "results.steady_state", "results.ci_note",
                  "results.time_ci95")


def ci_withheld(facts: Mapping[str, Any]) -> str | None:
    """The reason a run has no interval to read, in a few words ("not steady", "heavy
    tails", "too few iterations"...), or ``None`` when ``results.time_ci95`` stands (or the
    run has no timing at all)."""
    reason = facts.get("results.ci_withheld")
    if isinstance(reason, str) and reason:
        return reason
    if facts.get("results.steady_state") is False:
        return "not steady"
    note = facts.get("results.ci_note")
    if facts.get("results.time_ci95") is not None or not isinstance(note, str) or not note:
        return None
    for opening, said in NOTE_REASONS:
        if note.startswith(opening):
            return said
    return "too few iterations" if "needs at least" in note else note.split(":")[0]
