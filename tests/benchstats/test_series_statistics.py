"""Issue 19's goals for one series of iteration times, on seeded simulations of the hard cases
(``benchstats.simulate``): the interval of the mean is valid or absent, drift is flagged and
stationary series are not, outliers are not cut as warm-up, the adaptive stop keeps its
promise. Bounds are the issue's rates; the full tables are docs/measurements/report-statistics.md
(``scripts/sim_series.py``), where each simulated rate sits above its bound here."""
from __future__ import annotations

import math

import numpy as np
import pytest
from benchstats import StopRule, analyze, run_until
from benchstats.autocorr import mean_interval
from benchstats.robust import binomial_rank, count_outliers, median_interval
from benchstats.simulate import CASES, Case, series


def _intervals(name: str, n: int, count: int, seed: int) -> tuple[int, int]:
    """(intervals given, intervals covering the true mean) over ``count`` series."""
    case = CASES[name]
    given = covered = 0
    for values in series(case, n, count, seed):
        found = analyze(values)
        if not math.isnan(found.ci_low):
            given += 1
            covered += found.ci_low <= case.true_mean <= found.ci_high
    return given, covered


@pytest.mark.parametrize("name,n,floor", [
    pytest.param("iid", 100, 0.93, id="iid-100"),
    pytest.param("iid", 400, 0.93, id="iid-400"),
    pytest.param("ar0.9", 400, 0.90, id="ar0.9-400"),
    pytest.param("t3+outliers", 400, 0.90, id="heavy-tails-400"),
])
def test_the_interval_of_the_mean_covers_as_promised(name: str, n: int, floor: float) -> None:
    given, covered = _intervals(name, n, 300, seed=n + 11)
    assert given >= 0.7 * 300 and covered / given >= floor


@pytest.mark.parametrize("name,n", [
    pytest.param("ar0.9", 100, id="ar0.9-100"),
    pytest.param("ar0.9", 200, id="ar0.9-200"),
])
def test_a_series_short_for_its_correlation_gets_a_valid_interval_or_none(name: str,
                                                                          n: int) -> None:
    """The issue's bound: phi 0.9 at n = 100 (true ESS 5) covers >= 88% among the intervals
    given, or none are given. Gated on 10 effective samples, 1.4% got one and those covered
    29-60% (selection: their correlation looked small); the conservative width fixes it."""
    given, covered = _intervals(name, n, 500, seed=5 + n)
    assert given == 0 or covered / given >= 0.88


@pytest.mark.parametrize("n", [10, 30, 49])
def test_fewer_than_fifty_iterations_get_no_interval_and_say_so(n: int) -> None:
    """Fewer than 50 iterations cannot show a correlation time of 20 (phi 0.9): the few such
    series that look independent would get an interval covering 60-80%."""
    values = np.random.default_rng(n).normal(10.0, 0.1, n)
    found = mean_interval(values)
    assert math.isnan(found.low) and "needs at least 50" in found.note
    assert math.isnan(median_interval(values)[1])


def test_no_interval_comes_with_a_note_and_no_negative_bound() -> None:
    trend = 1.0 + 0.02 * np.arange(60) + np.random.default_rng(1).normal(0.0, 0.01, 60)
    found = mean_interval(trend)
    assert math.isnan(found.low) and "too short for its correlation" in found.note
    wide = mean_interval([0.01] * 60 + [50.0])
    assert math.isnan(wide.low) or wide.low > 0


@pytest.mark.parametrize("name,n,low,high", [
    pytest.param("drift10%", 100, 0.90, 1.0, id="drift-flagged"),
    pytest.param("iid", 100, 0.0, 0.02, id="iid-100-not-flagged"),
    pytest.param("ar0.5", 100, 0.0, 0.02, id="ar0.5-100-not-flagged"),
    pytest.param("iid", 400, 0.0, 0.02, id="iid-400-not-flagged"),
    pytest.param("ar0.5", 400, 0.0, 0.02, id="ar0.5-400-not-flagged"),
])
def test_steady_state_is_a_test(name: str, n: int, low: float, high: float) -> None:
    """10% linear drift over 100 iterations at 3% noise flagged >= 90%; stationary series
    flagged <= 2% from 100 iterations on."""
    flagged = sum(not analyze(values).steady for values in series(CASES[name], n, 400, n + 3))
    assert low <= flagged / 400 <= high


def test_isolated_stalls_are_not_cut_as_warmup() -> None:
    """t3 noise with 2% stalls at 2-4x, n = 400: MSER cut a "warm-up" from 41% of these
    stationary runs; on the clipped series it cuts about as often as from Gaussian ones."""
    heavy = sum(analyze(v).warmup > 0 for v in series(CASES["t3+outliers"], 400, 300, 9))
    gaussian = sum(analyze(v).warmup > 0 for v in series(CASES["iid"], 400, 300, 9))
    assert heavy <= 0.15 * 300 and heavy <= gaussian + 0.1 * 300


def test_a_real_warmup_is_still_cut() -> None:
    cuts = [analyze(v).warmup for v in series(CASES["warmup"], 400, 100, 4)]
    assert min(cuts) >= 40  # the first 10% run 3x slow: never kept


def _stop_coverage(name: str, count: int, seed: int) -> tuple[int, int]:
    base = CASES[name]
    case = Case(name, cv=0.10, phi=base.phi)
    covered = met_count = 0
    for values in series(case, 3000, count, seed):
        position = [0]

        def chunk(k: int, values: np.ndarray = values, position: list[int] = position
                  ) -> list[float]:
            position[0] += k
            return [float(v) for v in values[position[0] - k:position[0]]]

        times, met = run_until(chunk, StopRule(10, target=0.05, max_time=1e9))
        found = analyze(times)
        met_count += met
        covered += met and found.ci_low <= case.true_mean <= found.ci_high
    return met_count, covered


@pytest.mark.parametrize("name,floor", [("iid", 0.92), ("ar0.5", 0.88)])
def test_the_adaptive_stop_keeps_its_promise(name: str, floor: float) -> None:
    """CV 10%, 5% target: coverage where the rule stopped >= 92% (iid), >= 88% (phi 0.5)."""
    met, covered = _stop_coverage(name, 300, seed=21)
    assert met == 300 and covered / met >= floor


def test_the_median_interval_is_the_order_statistic_one() -> None:
    assert [binomial_rank(m) for m in (5, 6, 10, 20, 100)] == [0, 1, 2, 6, 40]
    values = np.random.default_rng(2).standard_normal(100)
    median, low, high = median_interval(values)
    ordered = np.sort(values)
    assert median == pytest.approx(np.median(values))
    assert (low, high) == (ordered[39], ordered[60]) or low <= ordered[39]


def test_outliers_are_counted_beyond_three_scaled_mads() -> None:
    assert count_outliers([10.0, 10.1, 9.9, 10.0, 10.2, 9.8, 30.0, 10.0]) == 1
    assert count_outliers([1.0] * 5) == 0


def test_a_trend_has_no_effective_sample_size_fact() -> None:
    """A series that moves like a trend has an infinite autocorrelation time: both facts are
    null (docs/log-format.md), never an effective sample size of 0."""
    from pytorch_benchmarks.run.timing import summarize
    ms = [100.0 + 0.5 * i for i in range(15)] + [700.0 + 0.5 * i for i in range(15)]
    facts = summarize([t / 1000.0 for t in ms], samples_per_iteration=8)
    assert facts["results.autocorr_time"] is None
    assert facts["results.ess"] is None
    assert facts["results.time_ci95"] is None and facts["results.ci_note"]

def _ar1(phi: float, n: int, count: int, seed: int) -> np.ndarray:
    """``count`` Gaussian AR(1) series of mean 10 and marginal CV 5% (stationary start)."""
    noise = np.random.default_rng(seed).standard_normal((count, n))
    x = np.empty_like(noise)
    x[:, 0] = noise[:, 0]
    for i in range(1, n):
        x[:, i] = phi * x[:, i - 1] + math.sqrt(1 - phi * phi) * noise[:, i]
    return 10.0 * (1.0 + 0.05 * x)


@pytest.mark.parametrize("phi,n,most_wrong,least_given", [
    pytest.param(0.9, 100, 0.03, 0.0, id="ar0.9-100"),
    pytest.param(0.95, 200, 0.05, 0.0, id="ar0.95-200"),
    pytest.param(0.0, 100, 0.05, 0.99, id="iid-100"),
    pytest.param(0.5, 200, 0.06, 0.99, id="ar0.5-200"),
])
def test_the_median_interval_is_valid_or_absent(phi: float, n: int, most_wrong: float,
                                                least_given: float) -> None:
    """Review of issue 19: gated on the indicator's correlation alone, phi 0.9 at n = 100 got a
    median interval in 78% of series and those covered 76% (18% of all runs held a wrong
    one). With the mean's gate, the share of runs holding a median interval that misses the
    true median (10) stays small, and short independent series keep theirs."""
    given = wrong = 0
    for values in _ar1(phi, n, 300, seed=int(phi * 100) + n):
        _, low, high = median_interval(values)
        if not math.isnan(low):
            given += 1
            wrong += not low <= 10.0 <= high
    assert wrong / 300 <= most_wrong and given / 300 >= least_given


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_a_series_with_a_non_finite_time_gets_no_statistics_and_says_why(bad: float) -> None:
    """Review of issue 19: one NaN raised StopIteration and one inf a ValueError in analyze."""
    found = analyze([10.0, 10.2, 9.9] * 10 + [bad])
    assert math.isnan(found.mean) and math.isnan(found.ci_low) and not found.steady
    assert "1 of 31 iteration times are not finite" in found.ci_note
