"""A withheld interval's note never names a count of iterations that the rules would still
withhold (issue 56 item 2: 'withheld ones say why'): a window under autocorr.MIN_N said 'needs
at least 50' and a too-correlated one 'about 54 iterations would give one', while every window
under robust.TAIL_MIN_N (80) without caught stalls is withheld for its tail."""
from __future__ import annotations

import re

import numpy as np
import pytest
from benchstats import analyze
from benchstats.robust import TAIL_MIN_N


def _named_count(note: str) -> int | None:
    """The count of iterations a note says would give an interval (None: it names none, as
    'run several times longer')."""
    found = re.search(r"needs at least (\d+)|about (\d+) iterations would give one", note)
    return int(found.group(1) or found.group(2)) if found else None


@pytest.mark.parametrize("n", [12, 30, 49])
def test_a_short_window_is_told_the_count_the_tail_rule_needs(n: int) -> None:
    rng = np.random.default_rng(56_201 + n)
    found = analyze(list(1.0 + 0.05 * rng.standard_normal(n)))
    assert found.ci_withheld == "too few iterations"
    count = _named_count(found.ci_note)
    assert count is not None and count >= TAIL_MIN_N, found.ci_note


def test_a_too_correlated_window_is_told_a_count_that_gives_an_interval() -> None:
    rng = np.random.default_rng(56_202)
    notes = []
    for _ in range(200):
        e = rng.standard_normal(60)
        x = np.empty(60)
        x[0] = e[0]
        for i in range(1, 60):
            x[i] = 0.9 * x[i - 1] + np.sqrt(1 - 0.81) * e[i]
        found = analyze(list(1.0 + 0.05 * x))
        if found.ci_withheld == "too correlated":
            notes.append(found.ci_note)
    counts = [c for c in map(_named_count, notes) if c is not None]
    assert len(counts) >= 10  # AR(1) phi 0.9 over 60 iterations: its correlation reaches far
    assert min(counts) >= TAIL_MIN_N
