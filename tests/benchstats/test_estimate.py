"""The one estimator of a configuration's value and interval over its runs (issue 56, item 1)."""
from __future__ import annotations

import math
import random

import pytest
from benchstats import estimate_of_sums, estimate_runs, log_sums, one_run_throughput_interval

#: The issue's three runs of AlexNet OWT batch 8 (samples/s).
RUNS = (3.72, 4.71, 8.34)


def test_three_runs_give_their_geometric_mean_and_a_log_scale_t_interval() -> None:
    """5.27 [1.88, 14.77]: what ``dlbs history`` printed for these runs; never the inverted
    t interval of the mean time (4.99 [2.59, 73.29], an upper end 9x the best run)."""
    found = estimate_runs(RUNS)
    assert round(found.value, 2) == 5.27
    assert (round(found.low, 2), round(found.high, 2)) == (1.88, 14.77)
    assert found.n == 3


@pytest.mark.parametrize("seed", range(20))
def test_the_ends_are_plausible_values_and_the_time_interval_inverts(seed: int) -> None:
    """Any 3-5 positive runs, however far apart: the ends are positive and finite, within
    ``exp(t * sd)``-ish of the runs (the upper end never beyond best x (best / worst)^t), and
    the estimate of the times (samples / throughput) is the throughput's inverted."""
    rng = random.Random(seed)
    runs = [rng.lognormvariate(1.5, rng.choice([0.01, 0.3, 1.0])) for _ in range(rng.randint(3, 5))]
    found = estimate_runs(runs)
    assert 0 < found.low <= found.value <= found.high < math.inf
    times = estimate_runs([8.0 / r for r in runs])
    assert times.value == pytest.approx(8.0 / found.value, rel=1e-12)
    assert (times.low, times.high) == pytest.approx((8.0 / found.high, 8.0 / found.low),
                                                    rel=1e-12)


def test_two_runs_keep_their_value_and_standard_error_but_no_interval() -> None:
    """Student's t on one degree of freedom (12.7) gave 3.72 and 8.34 samples/s the interval
    [0.033, 940.6]: no plausible throughput; three runs give ends near the runs."""
    two = estimate_runs([3.72, 8.34])
    assert two.value == pytest.approx(math.sqrt(3.72 * 8.34), rel=1e-12)
    assert math.isnan(two.low) and math.isnan(two.high) and two.n == 2
    assert two.se == pytest.approx(two.value * abs(math.log(8.34 / 3.72)) / 2, rel=1e-12)
    three = estimate_runs([3.72, 4.71, 8.34])
    assert 1.8 < three.low < 3.72 and 8.34 < three.high < 2 * 8.34  # [1.88, 14.77]


def test_the_order_of_the_runs_and_kept_sums_change_no_digit() -> None:
    """The database keeps the sums at each ingest; a folder report makes them at once."""
    values = [random.Random(3).uniform(90.0, 110.0) for _ in range(50)]
    once = estimate_runs(values)
    assert estimate_runs(values[::-1]) == once
    assert estimate_of_sums(log_sums(values[:20]).merged(log_sums(values[20:]))) == once


def test_one_run_is_its_value_and_its_own_interval_comes_from_its_time() -> None:
    one = estimate_runs([4.71])
    assert one.value == 4.71 and math.isnan(one.low) and math.isnan(one.high)
    # throughput 4.71 samples/s of 8 samples: time 1698.5 ms; interval 1690-1710 ms
    time = 8000.0 / 4.71
    low, high = one_run_throughput_interval(4.71, time, 1690.0, 1710.0)
    assert (low, high) == pytest.approx((8000.0 / 1710.0, 8000.0 / 1690.0))
    assert all(math.isnan(x) for x in one_run_throughput_interval(4.71, time, 0.0, 1710.0))
