"""benchstats.compare's trimmed comparisons (issue 56, item 6): Yuen's t on trimmed mean log
times and the trimmed mean of paired log ratios. Without trimming they are Welch's and the
paired t; with it a few slow runs neither hide a change nor fake one, and the interval keeps
its level on runs drawn as a benchmark makes them (lognormal noise, a share of runs slowed
1.2-1.5x, whichever side they measured)."""
from __future__ import annotations

import math
import random
from dataclasses import astuple

import pytest
from benchstats import (
    TRIM,
    LogDiff,
    interval,
    paired_log_diff,
    paired_trimmed_log_diff,
    trimmed_log_diff,
    welch_log_diff,
)


def runs(rng: random.Random, n: int, level: float, cv: float = 0.02,
         slow_share: float = 0.0) -> list[float]:
    """``n`` run times: lognormal noise of ``cv`` about ``level``, a ``slow_share`` of them
    slowed by a factor uniform in 1.2-1.5 (a neighbour's burst)."""
    out = []
    for _ in range(n):
        value = level * math.exp(rng.gauss(0.0, cv))
        out.append(value * rng.uniform(1.2, 1.5) if rng.random() < slow_share else value)
    return out


def test_without_trimming_they_are_welchs_and_the_paired_t() -> None:
    rng = random.Random(1)
    base, new = runs(rng, 9, 10.0), runs(rng, 7, 10.5)
    assert astuple(trimmed_log_diff(base, new, 0.0)) == pytest.approx(
        astuple(welch_log_diff(base, new)))
    pairs = list(zip(base, new))
    assert astuple(paired_trimmed_log_diff(pairs, 0.0)) == pytest.approx(
        astuple(paired_log_diff(pairs)))


def test_yuens_t_by_hand() -> None:
    """Five logs a side, 20%: one trimmed from each end, the ends winsorized to their
    neighbours; each side's squared error (n - 1) s_w^2 / (h (h - 1)) with h = 3."""
    base = [math.exp(v) for v in (0.0, 1.0, 2.0, 3.0, 10.0)]
    new = [math.exp(v) for v in (0.0, 0.0, 1.0, 2.0, 2.0)]
    # base: kept 1, 2, 3 (mean 2); winsorized 1, 1, 2, 3, 3: mean 2, s_w^2 = 4 / 4 = 1
    # new: kept 0, 1, 2 (mean 1); winsorized 0, 0, 1, 2, 2: mean 1, s_w^2 = 4 / 4 = 1
    d = 4 * 1.0 / (3 * 2)
    expected = LogDiff(1.0, math.sqrt(2 * d), (2 * d) ** 2 / (2 * d ** 2 / 2))
    assert astuple(trimmed_log_diff(base, new, TRIM)) == pytest.approx(astuple(expected))


def test_the_paired_form_by_hand() -> None:
    """Log ratios 0, 1, 2, 3, 10: trimmed mean 2, s_w^2 = 1, error 4 / 6, 2 degrees of
    freedom."""
    pairs = [(math.exp(v), 1.0) for v in (0.0, 1.0, 2.0, 3.0, 10.0)]
    assert astuple(paired_trimmed_log_diff(pairs, TRIM)) == pytest.approx(
        astuple(LogDiff(2.0, math.sqrt(4 / 6), 2.0)))


def test_one_slow_run_does_not_hide_a_five_percent_slowdown() -> None:
    """Eight runs a side, the new one 5% slower, one of its runs 1.4x slow: Welch's interval
    reaches past 1 (the slow run's variance), Yuen's lies wholly beyond it."""
    base = [10.0, 10.2, 9.8, 10.1, 9.9, 10.05, 9.95, 10.0]
    new = [10.5, 10.7, 10.3, 10.6, 10.4, 10.55, 10.45, 14.7]
    welch = interval(welch_log_diff(base, new), 0.99)
    yuen = interval(trimmed_log_diff(base, new), 0.99)
    assert welch.ci_high > 1.0 / 1.02  # base / new: speedup below 1 is slower
    assert yuen.ci_high < 1.0 / 1.03
    assert yuen.ratio == pytest.approx(1 / 1.05, rel=0.005)


@pytest.mark.parametrize("slow_share", [0.0, 0.05])
def test_the_interval_keeps_its_level_with_and_without_slow_runs(slow_share: float) -> None:
    """Both sides the same process (nothing changed), 5-20 runs a side: the 95% interval
    holds 1 in at least 94% of 1,500 seeded draws (the slow runs fall on either side)."""
    rng = random.Random(56)
    covered = 0
    trials = 1500
    for _ in range(trials):
        n = rng.choice((5, 8, 12, 20))
        ratio = interval(trimmed_log_diff(runs(rng, n, 10.0, slow_share=slow_share),
                                          runs(rng, n, 10.0, slow_share=slow_share)), 0.95)
        covered += ratio.ci_low <= 1.0 <= ratio.ci_high
    assert covered / trials >= 0.94


@pytest.mark.parametrize("trim", [-0.1, 0.5])
def test_a_trim_out_of_range_is_refused(trim: float) -> None:
    with pytest.raises(ValueError, match="trim must be in"):
        trimmed_log_diff([1.0, 2.0], [1.0, 2.0], trim)
    with pytest.raises(ValueError, match="trim must be in"):
        paired_trimmed_log_diff([(1.0, 2.0), (2.0, 1.0)], trim)
