"""A simulated bisection: revisions whose run times are drawn, not measured, judged by the
real decision (``verdict.judge_in_rounds``) and searched by the real search.

Each run's time is ``base x (1 + slowdown if the revision is at or after the culprit) x
exp(round effect + run noise)``: run noise is normal on the log scale with sd ``run_cv``, the
round effect (the machine in that round: both sides of a round share it) normal with sd
``round_cv``. A share ``slow_share`` of runs, drawn independently, is also slowed by a factor
uniform in ``slow_range`` (issue 56: a neighbour's burst, a throttled core, a run placed on a
busy socket: one run slow, whichever revision it measured). ``tests/bisect`` and ``benchmarks/bench_bisect.py`` measure the goal with it.
Pure but for the seeded ``random.Random`` it is given.
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from dlbs.bisect.search import SLOWER, BisectResult, Judgement, Step, find_first_bad
from dlbs.bisect.verdict import (
    ALPHA,
    CHECK_PRECISION,
    TRIM,
    Measure,
    Times,
    check_in_rounds,
    judge_in_rounds,
    round_schedule,
    threshold_from_check,
)


@dataclass(frozen=True)
class Machine:
    """How runs vary: ``run_cv`` per run, ``round_cv`` per round (shared by both sides), and
    a share ``slow_share`` of runs slowed by a factor uniform in ``slow_range``."""

    run_cv: float = 0.02
    round_cv: float = 0.0
    base_ms: float = 10.0
    slow_share: float = 0.0
    slow_range: tuple[float, float] = (1.2, 1.5)


def session(rng: random.Random, machine: Machine, slow_good: float, slow_candidate: float
            ) -> Measure:
    """``measure(rounds)`` of one simulated interleaved session: the runs of every round so
    far (earlier rounds kept, as the runner keeps their logs)."""
    good: dict[int, float] = {}
    candidate: dict[int, float] = {}

    def measure(rounds: int) -> tuple[Times, Times]:
        for r in range(len(good), rounds):
            shared = rng.gauss(0.0, machine.round_cv)
            good[r] = _run(rng, machine, slow_good, shared)
            candidate[r] = _run(rng, machine, slow_candidate, shared)
        return dict(good), dict(candidate)
    return measure


def _run(rng: random.Random, machine: Machine, slowdown: float, shared: float) -> float:
    time = machine.base_ms * (1.0 + slowdown) * math.exp(shared + rng.gauss(0.0, machine.run_cv))
    # drawn only when slow runs are asked for: the clean machine's seeded draws stay the same
    if machine.slow_share > 0.0 and rng.random() < machine.slow_share:
        time *= rng.uniform(*machine.slow_range)
    return time


def simulate_bisect(n: int, culprit: int, slowdown: float, machine: Machine,
                    rng: random.Random, schedule: Sequence[int] | None = None,
                    alpha: float = ALPHA, paired: bool = False,
                    threshold: float | None = None, trim: float = TRIM,
                    precision: float = CHECK_PRECISION) -> tuple[BisectResult, Step | None]:
    """Bisect ``n`` revisions (0 good, ``n - 1`` bad) whose first bad one is ``culprit``: the
    check of bad against good first (its slowdown sets the threshold unless ``threshold`` is
    given), then the search; ``trim`` and ``precision`` as :func:`judge_in_rounds` and
    :func:`check_in_rounds` (the old behaviour: ``trim=0``, ``precision=0.5``). Returns the
    result and the check (when the check did not confirm bad, the result has no steps and no
    suspects)."""
    schedule = list(schedule or round_schedule())
    check = check_in_rounds(session(rng, machine, 0.0, slowdown), schedule, alpha, paired,
                            trim=trim, precision=precision)
    if check.verdict != SLOWER:
        return BisectResult(None, []), Step(str(n - 1), check, "check")
    cut = threshold if threshold is not None else threshold_from_check(check)

    def judge(revision: str) -> Judgement:
        slow = slowdown if int(revision) >= culprit else 0.0
        return judge_in_rounds(session(rng, machine, 0.0, slow), cut, schedule, alpha, paired,
                               trim=trim)

    result = find_first_bad([str(i) for i in range(1, n)], judge)
    return result, Step(str(n - 1), check, "check")
