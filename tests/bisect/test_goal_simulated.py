"""Issue 37's goal on the real search and step verdict with simulated run times
(``dlbs.bisect.simulate``): among 64 commits, one 5% slower, the culprit is found in >= 95% of
trials within ceil(log2 64) + 2 = 8 steps (the check counts as one), at a run-to-run CV of 1%
(the synthetic repository's noise) and 2% (default rounds). Seeded: the same trials every
time. ``benchmarks/bench_bisect.py`` measures more trials and noise levels."""
from __future__ import annotations

import math
import random

import pytest

from dlbs.bisect.simulate import Machine, simulate_bisect

COMMITS, SLOWDOWN, TRIALS = 64, 0.05, 120


@pytest.mark.parametrize("run_cv", [0.01, 0.02])
def test_the_culprit_is_found_within_the_step_budget(run_cv: float) -> None:
    rng = random.Random(37)
    budget = math.ceil(math.log2(COMMITS)) + 2
    found = wrong = 0
    for _ in range(TRIALS):
        culprit = rng.randint(1, COMMITS - 1)
        result, check = simulate_bisect(COMMITS, culprit, SLOWDOWN, Machine(run_cv), rng)
        assert check is not None and check.role == "check"
        hit = result.first_bad == str(culprit)
        found += hit and 1 + len(result.steps) <= budget
        wrong += result.found and not hit
    assert found / TRIALS >= 0.95
    assert wrong == 0
