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


def test_a_few_slow_runs_neither_hide_the_culprit_nor_name_one_when_nothing_changed() -> None:
    """Issue 56, item 6: 16 commits, a 5% slowdown, run CV 2% and 5% of runs 1.2-1.5x slow
    (a neighbour's burst, either side): the culprit in >= 90% of trials (Welch's t, the old
    test, found it in 9-15%, its check saying "nothing to bisect" in a quarter; 12 of these
    100); and with nothing changed on the same machine a culprit is named in at most 1 of 200
    (here 1: a check whose interval cleared 1 at its last look). 200 trials cannot show a rate
    of 1 in 1,000: ``benchmarks/bench_bisect.py --null-trials`` measures it (docs/bisect.md)."""
    rng = random.Random(56)
    machine = Machine(0.02, slow_share=0.05, slow_range=(1.2, 1.5))
    trials, commits = 100, 16
    found = wrong = 0
    for _ in range(trials):
        culprit = rng.randint(1, commits - 1)
        result, _ = simulate_bisect(commits, culprit, SLOWDOWN, machine, rng)
        found += result.first_bad == str(culprit)
        wrong += result.found and result.first_bad != str(culprit)
    assert found / trials >= 0.90
    assert wrong == 0
    named = sum(simulate_bisect(commits, rng.randint(1, commits - 1), 0.0, machine, rng)[0].found
                for _ in range(200))
    assert named <= 1
