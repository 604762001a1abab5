"""The newest point of a history against the points before it (``benchstats.judge_latest``):
calibrated on seeded histories without a change, powerful for a real drop."""
from __future__ import annotations

import math

import numpy as np
import pytest
from benchstats.compare import judge
from benchstats.histories import HistoryCase, histories
from benchstats.latest import judge_latest


def _alarms(step: float, min_change: float, count: int = 400) -> float:
    h = histories(HistoryCase(steps=(0,), outliers=0), count, seed=11)
    ps, beyond = [], []
    for i in range(count):
        values = h.values[i].copy()
        values[-1] *= 1.0 + step
        found = judge_latest(values, h.se[i], h.n_runs[i], min_change=min_change).latest
        assert found is not None
        ps.append(found.p_value)
        beyond.append(found.verdict == "beyond" and found.direction == "regression")
    rejected = judge(ps, 0.05, "bh").rejected
    return float(np.mean([b and r for b, r in zip(beyond, rejected)]))


def test_without_a_change_the_raw_test_keeps_its_level() -> None:
    h = histories(HistoryCase(steps=(0,)), 400, seed=12)
    ps = [judge_latest(h.values[i], h.se[i], h.n_runs[i], min_change=0.0).latest.p_value
          for i in range(400)]
    assert np.mean(np.array(ps) < 0.05) <= 0.09  # 5.7% over 2,000 series (docs/database.md)


@pytest.mark.parametrize("step,min_change,low,high", [
    pytest.param(0.0, 0.05, 0.0, 0.0, id="no-change-no-alarm"),
    pytest.param(-0.10, 0.05, 0.70, 1.0, id="10%-drop-found"),
    pytest.param(-0.03, 0.05, 0.0, 0.0, id="under-min-change-never"),
])
def test_alarms_over_many_configurations(step: float, min_change: float, low: float,
                                         high: float) -> None:
    assert low <= _alarms(step, min_change) <= high


def test_short_history_is_not_judged_and_excluded_points_are_skipped() -> None:
    short = judge_latest([100.0] * 5, [1.0] * 5)
    assert short.latest is None and "fewer than 5" in (short.not_judged or "")
    values = [100.0, 101.0, 99.0, 100.5, 99.5, 100.2, 60.0, 88.0]
    se = [0.5] * len(values)
    kept = judge_latest(values, se, min_change=0.05).latest
    skipped = judge_latest(values, se, min_change=0.05, excluded=[6]).latest
    assert kept is not None and skipped is not None and kept.index == skipped.index == 7
    assert skipped.history == 6 and skipped.verdict == "beyond"
    assert skipped.direction == "regression" and skipped.ci[1] < -0.05
    assert math.isclose(skipped.change, 88.0 / np.exp(np.mean(np.log(values[:6]))) - 1,
                        rel_tol=0.02)


def test_lower_is_better_for_times() -> None:
    found = judge_latest([10.0, 10.1, 9.9, 10.0, 10.05, 9.95, 12.0], [0.05] * 7,
                         higher_is_better=False).latest
    assert found is not None and found.direction == "regression"
