"""The per-run latency intervals on simulated queueing servers (issue 55, item 3): the old
method (requests as independent draws) fails under queueing; what the new one withholds."""
from __future__ import annotations

import math

import numpy as np
import pytest
from benchstats.dependent import (
    MIN_N,
    NOT_STATIONARY,
    TOO_FEW,
    TOO_FEW_TAIL,
    mean_latency_interval,
    quantile_latency_interval,
)
from benchstats.latency_coverage import coverage, repeat_coverage, repeat_truth, true_values
from benchstats.queues import mm1

TRIALS = 60


def _binomial_floor(p: float, trials: int) -> float:
    """Three binomial standard errors under ``p``: a coverage of ``p`` falls below this in
    far fewer than 1% of seeds."""
    return p - 3.0 * math.sqrt(p * (1 - p) / trials)


def test_old_intervals_miss_the_median_of_a_queue_at_80_percent_load() -> None:
    truth = true_values("M/M/1", 0.8, n=100_000)
    tally = coverage("M/M/1", 0.8, 200, TRIALS, seed=3, truth=truth)[("ttft", "p50")]
    # 95% claimed; a queue's requests are not independent draws
    assert tally.old_coverage() < _binomial_floor(0.95, tally.old_printed)


@pytest.mark.parametrize("load", [0.3, 0.5])
def test_new_median_interval_holds_on_an_m_m_1_server(load: float) -> None:
    truth = true_values("M/M/1", load, n=100_000)
    tally = coverage("M/M/1", load, 1000, TRIALS, seed=5, truth=truth)[("ttft", "p50")]
    assert tally.printed > TRIALS // 2
    assert tally.coverage() >= _binomial_floor(0.93, tally.printed)


def test_short_runs_and_rare_quantiles_are_withheld_with_the_reason() -> None:
    values = list(np.random.default_rng(1).exponential(1.0, MIN_N - 1))
    assert mean_latency_interval(values).why == TOO_FEW
    values = list(np.random.default_rng(1).exponential(1.0, 1000))
    assert quantile_latency_interval(values, 0.99).why == TOO_FEW_TAIL


def test_a_queue_that_keeps_growing_is_withheld_as_not_stationary() -> None:
    run = mm1(1000, 1.3, np.random.default_rng(2))   # overloaded: the queue never drains
    assert quantile_latency_interval(run.ttft, 0.5).why == NOT_STATIONARY
    assert mean_latency_interval(run.ttft).why == NOT_STATIONARY


def test_over_repeated_runs_t_misses_and_the_median_run_interval_holds() -> None:
    """The report's interval over repeated runs: Student's t over the runs' values (its
    method before 2026-11-28) covered 70% on an M/G/4 server at 80% load with 6 runs of 100
    requests, labelled 95%; the order-statistic interval of the median run holds (given
    from 6 runs: none from 5)."""
    truth = repeat_truth("M/G/4", 0.8, 100, runs=3000, seed=11)
    six = repeat_coverage("M/G/4", 0.8, 100, 6, 300, seed=13, truth=truth)[("ttft", "p50")]
    assert six.old_coverage() < _binomial_floor(0.95, six.old_printed)
    assert six.printed == six.trials
    assert six.coverage() >= _binomial_floor(0.95, six.printed)
    five = repeat_coverage("M/G/4", 0.8, 100, 5, 20, seed=13, truth=truth)[("ttft", "p50")]
    assert five.printed == 0
