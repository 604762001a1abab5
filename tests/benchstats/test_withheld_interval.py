"""Issue 30: the within-run interval of the mean is given only where it means what it says.
A window that is not steady, or a short window with heavy tails (rare stalls), gets no
interval, with the reason in words (``ci_note``) and in a few words (``ci_withheld``); the
notes do not contradict themselves. Small seeded checks: the full tables are
docs/measurements/report-statistics.md
(``scripts/sim_series.py``)."""
from __future__ import annotations

import math
import re

import numpy as np
from benchstats import analyze
from benchstats.autocorr import mean_interval
from benchstats.simulate import CASES, Case, series
from pytorch_benchmarks.run.timing import summarize


def test_a_drifting_window_gets_no_interval_and_says_it_is_not_steady() -> None:
    """A 400-iteration run drifting 10% printed ``(95% CI 1554.4-1573.3)`` beside
    ``results.steady_state=false``; now every such run is withheld, with the reason."""
    for values in series(CASES["drift10%"], 400, 20, seed=3):
        found = analyze(values)
        assert not found.steady
        assert math.isnan(found.ci_low) and math.isnan(found.precision)
        assert found.ci_withheld == "not steady" and found.ci_note.startswith("not steady")
        assert math.isnan(found.median_low)


def test_short_windows_with_rare_stalls_print_only_intervals_that_cover() -> None:
    """Issue 56: t3 noise with 2% stalls of 3-10x: the heavy-tail rule withheld the windows
    that caught stalls and printed those that caught none, whose "95% CI"s covered 25-46% at
    50-100 iterations. The intervals printed now cover (the benchmark: >= 93%)."""
    case = CASES["t3+stalls3-10x"]
    for n, seed in ((50, 21), (100, 22)):
        given = covered = 0
        for values in series(case, n, 300, seed):
            found = analyze(values)
            if not math.isnan(found.ci_low):
                given += 1
                covered += found.ci_low <= case.true_mean <= found.ci_high
        assert given >= 0.3 * 300 and covered >= 0.9 * given, (n, given, covered)


def test_a_window_that_caught_stalls_gets_an_interval_as_wide_as_they_make_it() -> None:
    """Three stalls of 5x in 100 quiet iterations carry the variance (Box's degrees of
    freedom under 8): the interval is given, and wide."""
    rng = np.random.default_rng(1)
    values = 100.0 + rng.normal(0, 1, 100)
    values[[10, 40, 70]] *= 5.0
    found = analyze(values)
    assert found.ci_withheld == "" and found.precision > 0.1
    assert found.ci_low < 112.0 < found.ci_high


def test_a_heavy_tail_without_stalls_says_why_and_what_would_give_one() -> None:
    """Moderate outliers on both sides (a t3-like tail, no stall): slower iterations rarer
    than the window can show are to be expected, so no interval under 200 iterations."""
    rng = np.random.default_rng(1)
    values = 100.0 + rng.normal(0, 1, 100)
    values[[5, 25, 45, 65]] += 5.0
    values[[15, 55]] -= 5.0
    found = analyze(values)
    assert found.ci_withheld == "heavy tails"
    said = re.search(r"heavy tails: (\d+) of 100 iterations lie beyond 3 scaled MADs",
                     found.ci_note)
    assert said is not None and int(said.group(1)) >= 6, found.ci_note
    assert "rarer than 100 can show" in found.ci_note
    assert "needs at least 200 iterations" in found.ci_note


def test_a_short_quiet_window_cannot_judge_its_tail() -> None:
    """70 quiet iterations: 2% stalls are missing from a quarter of such windows, which then
    look like this one (their intervals covered 87-91% at 60-70 iterations when the heavy-tail
    test judged them, 2026-11-29); no interval, and the note says what would give one."""
    values = series(CASES["iid"], 70, 1, seed=3)[0]
    found = analyze(values)
    assert len(found.window) == 70 and found.ci_withheld == "too few iterations"
    assert "too few to judge the tail" in found.ci_note and "at least 80" in found.ci_note


def test_lognormal_times_keep_their_interval() -> None:
    """Issue 56: the heavy-tail rule withheld 25-28% of independent lognormal runs (sigma 0.3,
    CV 31%) at 100 iterations; the goal is an interval in >= 80% of them."""
    rng = np.random.default_rng(12)
    rows = 100.0 * np.exp(0.3 * rng.standard_normal((200, 100)))
    given = sum(not math.isnan(analyze(v).ci_low) for v in rows)
    assert given >= 0.8 * 200, given


def test_normal_times_keep_their_interval() -> None:
    """The heavy-tail rule withholds little from normal times: an interval in >= 80% at 100
    iterations (issue 56's goal). Since its second pass (two moderate outliers in 100 on the
    log scale are heavy tails: 3.1% of normal windows; t3 noise without a stall passed in a
    third of windows) about 87% get one (``benchmarks/bench_short_run_stalls.py``); it was
    93%, and this test asked 90%."""
    given = sum(not math.isnan(analyze(v).ci_low) for v in series(CASES["iid"], 100, 600, 4))
    assert _not_below(given, 600, 0.80), given


def test_the_correlation_note_states_the_figure_it_compares() -> None:
    """The note said "effective sample size 5.0 ... an interval needs 2": the gate is the
    count at the upper bound of the lag-1 autocorrelation, and the note now leads with it."""
    for seed in range(200):
        values = series(CASES["ar0.9"], 60, 1, seed)[0]
        found = mean_interval(values)
        if found.reason == "too correlated" and found.ess > 2 > found.ess_low:
            break
    else:
        raise AssertionError("no seeded series with ess > 2 > ess_low")
    compared = re.search(r"have an effective sample size of ([0-9.]+) at the upper bound", found.note)
    assert compared is not None and float(compared.group(1)) < 2, found.note
    assert "an interval needs 2 there" in found.note


def test_the_facts_carry_the_reason_an_interval_is_withheld() -> None:
    values = series(CASES["drift10%"], 400, 1, seed=5)[0] / 1000.0
    facts = summarize(list(values / 1000.0), 1)
    assert facts["results.time_ci95"] is None and facts["results.precision"] is None
    assert facts["results.ci_withheld"] == "not steady"
    assert facts["results.ci_note"].startswith("not steady")
    quiet = summarize(list(series(CASES["iid"], 400, 1, seed=5)[0] / 1000.0), 1)
    assert quiet["results.time_ci95"] is not None and quiet["results.ci_withheld"] is None


def test_a_few_stalls_give_the_t_quantile_few_degrees_of_freedom() -> None:
    """Box (1953): the variance of a window is known from as many values as carry it."""
    from benchstats.autocorr import kurtosis_df

    rng = np.random.default_rng(2)
    normal = 100.0 + rng.normal(0, 1, 400)
    stalled = normal.copy()
    stalled[[50, 150, 250, 350]] *= 6.0
    assert kurtosis_df(normal) > 300 and kurtosis_df(stalled) < 10


def test_rare_stalls_in_a_long_window_get_an_interval_that_covers() -> None:
    """t3 noise with 2% stalls of 3-10x at 400 iterations covered 92% (t on n / tau - 1
    degrees of freedom); on the tails' degrees of freedom at least 95%."""
    case = CASES["t3+stalls3-10x"]
    given = covered = 0
    for values in series(case, 400, 300, seed=33):
        found = analyze(values)
        if not math.isnan(found.ci_low):
            given += 1
            covered += found.ci_low <= case.true_mean <= found.ci_high
    assert given >= 0.95 * 300 and covered / given >= 0.95


def _not_below(hits: int, total: int, goal: float) -> bool:
    """Whether ``hits`` of ``total`` is consistent with a rate of at least ``goal`` within
    Monte-Carlo error: ``goal`` lies under the upper end of Wilson's one-sided 99% interval."""
    z = 2.326
    rate = hits / total
    centre = (rate + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / (
        1 + z * z / total)
    return goal <= centre + half


def _lognormal_with_stalls(sigma: float, rate: float, n: int, count: int,
                           seed: int) -> tuple[np.ndarray, float]:
    """Independent lognormal times with a share ``rate`` of stalls of 3-10x, and the
    process's mean (stalls included), as ``benchmarks/bench_short_run_stalls.py`` makes them."""
    rng = np.random.default_rng(seed)
    rows = 100.0 * np.exp(sigma * rng.standard_normal((count, n)))
    stalls = rng.random((count, n)) < rate
    rows *= np.where(stalls, rng.uniform(3.0, 10.0, (count, n)), 1.0)
    return rows, 100.0 * math.exp(sigma * sigma / 2) * (1.0 + rate * 5.5)


def _given_and_covered(rows: np.ndarray, truth: float) -> tuple[int, int]:
    given = covered = 0
    for values in rows:
        found = analyze(values)
        if not math.isnan(found.ci_low):
            given += 1
            covered += found.ci_low <= truth <= found.ci_high
    return given, covered


def test_lognormal_times_of_cv_53_percent_keep_their_interval() -> None:
    """Issue 56, second pass: lognormal times of sigma 0.5 showed about 5% outliers on the
    times, all slow, and got an interval in 52% of 100-iteration runs (goal >= 80%); the
    heavy-tail rule now counts outliers on the log of the times."""
    for n, seed in ((100, 41), (150, 42)):
        rows, truth = _lognormal_with_stalls(0.5, 0.0, n, 600, seed)
        given, covered = _given_and_covered(rows, truth)
        assert _not_below(given, 600, 0.80), (n, given)
        assert _not_below(covered, given, 0.93), (n, given, covered)


def test_lognormal_times_with_rare_stalls_print_intervals_that_cover() -> None:
    """Lognormal sigma 0.5 with 1% stalls of 3-10x (the case the first pass left): an
    interval in >= 80% of runs from 100 iterations, and those given cover >= 93%, within
    Monte-Carlo error (600 seeded series a size)."""
    for n, seed in ((100, 43), (200, 44)):
        rows, truth = _lognormal_with_stalls(0.5, 0.01, n, 600, seed)
        given, covered = _given_and_covered(rows, truth)
        assert _not_below(given, 600, 0.80), (n, given)
        assert _not_below(covered, given, 0.93), (n, given, covered)


def test_stalls_on_t3_noise_are_still_told_apart_on_the_log_scale() -> None:
    """The goal's process (t3 noise of CV 5%, 2% stalls of 3-10x) keeps its coverage >= 93%
    at 50, 100 and 200 iterations under the log-scale count, within Monte-Carlo error."""
    case = CASES["t3+stalls3-10x"]
    for n, seed in ((50, 45), (100, 46), (200, 47)):
        given, covered = _given_and_covered(series(case, n, 600, seed), case.true_mean)
        assert given >= 0.3 * 600 and _not_below(covered, given, 0.93), (n, given, covered)


def test_stalls_with_ar1_noise_or_a_warm_up_print_intervals_that_cover() -> None:
    """The process a benchmark's times come from: t3 noise with 2% stalls of 3-10x, with AR(1)
    noise (phi 0.5) or a warm-up (the first 10% 3x slow): the intervals given at 100
    iterations cover >= 93% within Monte-Carlo error (91-92% under the first pass's 1%
    tolerance, where t3 windows without a stall passed in a third of runs)."""
    for case, seed in ((Case("ar", phi=0.5, heavy=True, stall_low=3.0, stall_high=10.0), 48),
                       (Case("warm", warmup=0.1, heavy=True, stall_low=3.0, stall_high=10.0),
                        49)):
        given, covered = _given_and_covered(series(case, 100, 600, seed), case.true_mean)
        assert given >= 0.5 * 600 and _not_below(covered, given, 0.93), (case.name, given,
                                                                           covered)
