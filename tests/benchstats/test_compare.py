"""benchstats.compare: the band test, BH and Holm over a table, intervals that agree with the
verdicts, paired and Welch log ratios, the planning figure and the ratio of means."""
from __future__ import annotations

import math
import random

import pytest
from benchstats import (
    LogDiff,
    band_p_value,
    interval,
    judge,
    paired_log_diff,
    ratio_of_means,
    runs_needed,
    welch_log_diff,
)


@pytest.mark.parametrize("p_values, correction, rejected, confidence", [
    # BH: R = max{i: p_(i) <= i alpha / m} = 3 of 4; intervals at 1 - 3 alpha / 4
    pytest.param([0.001, 0.02, 0.03, 0.5], "bh", [True, True, True, False], 1 - 0.0375, id="bh"),
    # Holm: 0.001 <= 0.05/4, then 0.02 > 0.05/3 stops; intervals at 1 - alpha / 4
    pytest.param([0.001, 0.02, 0.03, 0.5], "holm", [True, False, False, False], 1 - 0.0125,
                 id="holm"),
    pytest.param([0.001, 0.02, 0.03, 0.5], "none", [True, True, True, False], 0.95, id="none"),
    pytest.param([0.2, 0.3], "bh", [False, False], 1 - 0.025, id="bh-nothing-bonferroni-level"),
    pytest.param([0.01, math.nan], "holm", [True, False], 0.95, id="nan-not-judged-or-counted"),
])
def test_corrections_reject_and_give_the_level(p_values: list[float], correction: str,
                                               rejected: list[bool], confidence: float) -> None:
    verdict = judge(p_values, 0.05, correction)
    assert verdict.rejected == rejected
    assert verdict.confidence == pytest.approx(confidence)


@pytest.mark.parametrize("correction", ["bh", "holm", "none"])
def test_the_interval_at_the_tables_level_agrees_with_every_verdict(correction: str) -> None:
    rng = random.Random(5)
    for _ in range(200):
        diffs = [LogDiff(rng.gauss(0.0, 0.05), rng.uniform(0.005, 0.03), rng.uniform(2, 10))
                 for _ in range(12)]
        band = rng.choice([0.0, 0.01, 0.025])
        verdict = judge([band_p_value(d, band) for d in diffs], 0.05, correction)
        for d, rejected in zip(diffs, verdict.rejected):
            ratio = interval(d, verdict.confidence)
            outside = ratio.ci_low > 1 + band or ratio.ci_high < 1 / (1 + band)
            assert outside == rejected


def test_band_p_value_is_half_the_level_where_the_interval_touches_the_band() -> None:
    d = LogDiff(0.1, 0.02, 6.0)
    ratio = interval(d, 0.95)
    band = ratio.ci_low - 1.0  # the 95% interval's low end exactly on the band
    assert band_p_value(d, band) == pytest.approx(0.05, rel=1e-6)


def test_welch_adds_a_known_session_variance_to_each_side() -> None:
    base, new = [10.0, 10.2, 9.9], [9.0, 9.1, 8.9]
    plain, with_session = welch_log_diff(base, new), welch_log_diff(base, new, 0.02 ** 2)
    assert with_session.diff == plain.diff
    assert with_session.se == pytest.approx(math.sqrt(plain.se ** 2 + 2 * 0.02 ** 2))
    assert with_session.df > plain.df


def test_paired_uses_the_per_round_ratios() -> None:
    # a round effect shared by both sides cancels in the pairs, not in Welch
    pairs = [(10.0 * r, 9.0 * r * f) for r, f in zip((1.0, 1.3, 0.8, 1.1), (1.0, 1.01, 0.99, 1.0))]
    paired = paired_log_diff(pairs)
    welch = welch_log_diff([b for b, _ in pairs], [n for _, n in pairs])
    assert paired.diff == pytest.approx(welch.diff) and paired.df == 3
    assert paired.se < welch.se / 10


@pytest.mark.parametrize("values", [[], [10.0], [10.0, -1.0]])
def test_no_interval_without_two_positive_values(values: list[float]) -> None:
    d = welch_log_diff(values, [1.0, 1.1])
    assert math.isnan(d.se) and math.isnan(band_p_value(d, 0.0))


def test_runs_needed_is_a_plan_that_shrinks_with_the_effect_and_is_none_inside_the_band() -> None:
    d = LogDiff(0.03, 0.02, 4.0)
    small = runs_needed(d, 0.0009, 0.0009, 0.03, 0.0, 0.95)
    large = runs_needed(d, 0.0009, 0.0009, 0.10, 0.0, 0.95)
    assert small is not None and large is not None and large < small
    assert runs_needed(d, 0.0009, 0.0009, 0.02, 0.025, 0.95) is None
    # a session variance more runs cannot shrink: no number of runs settles a 3% change
    assert runs_needed(d, 0.0009, 0.0009, 0.03, 0.0, 0.95, extra_var=0.02 ** 2) is None


def test_ratio_of_means_is_positive_and_surrounds_the_ratio() -> None:
    ratio = ratio_of_means(200.0, 20.0, 2, 100.0, 10.0, 2)
    assert 0 < ratio.ci_low < 2.0 < ratio.ci_high and ratio.ratio == 2.0
    assert math.isnan(ratio_of_means(200.0, 0.0, 1, 100.0, 1.0, 3).ci_low)
