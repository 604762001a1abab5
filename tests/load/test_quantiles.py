"""The order-statistic interval of a quantile covers the true quantile about 95% of the time,
whatever the distribution (checked by simulation of skewed latencies), and is withheld when too
few values exist for that quantile."""
from __future__ import annotations

import math
import random

import pytest
from benchstats.quantiles import quantile_interval, ranks


@pytest.mark.parametrize("q,n", [(0.5, 200), (0.9, 300), (0.99, 1000), (0.9, 2500)])
def test_coverage_is_at_least_the_confidence(q: float, n: int) -> None:
    rng = random.Random(11)
    true = -math.log(1 - q)  # the exponential(1) quantile
    hits, trials = 0, 400
    for _ in range(trials):
        found = quantile_interval([rng.expovariate(1.0) for _ in range(n)], q)
        hits += found.low <= true <= found.high
    assert 0.93 <= hits / trials <= 0.995


def test_too_few_values_give_no_interval() -> None:
    assert ranks(50, 0.99) is None
    found = quantile_interval(list(range(50)), 0.99)
    assert math.isnan(found.low) and found.value == pytest.approx(48.51)
    assert math.isnan(quantile_interval([], 0.5).value)
