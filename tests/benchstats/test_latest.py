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
        found = judge_latest(values, h.se[i], h.n_runs[i], min_change=min_change,
                             method="pooled").latest
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
    """The test against the band (``pooled``): a change under --min-change never reported."""
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


def test_many_histories_judged_together_get_the_verdicts_each_gets_alone() -> None:
    """``judge_latest_many`` (``regressions --latest``) and ``between_variances`` give what
    ``judge_latest`` and ``between_variance`` give history by history, to the last bit: short
    histories, unknown and zero standard errors, steps, noise far above and below the
    intervals, one-run and many-run points."""
    from benchstats.changepoints import between_variance, between_variances
    from benchstats.latest import judge_latest_many

    rng = np.random.default_rng(5)
    histories = []
    for h in range(400):
        n = int(rng.integers(1, 30))
        level = 100.0 * (1 + h % 7)
        values = level * np.exp(rng.normal(0, [0.001, 0.02, 0.2][h % 3], n))
        if h % 5 == 0:
            values[n // 2:] *= 0.9  # a step inside the history
        if h % 4 == 0:
            values[-1] *= 1.3  # a change at the newest point
        se = values * [0.0005, 0.01, 0.05, 0.0][h % 4]
        if h % 6 == 0:
            se[rng.random(n) < 0.3] = np.nan  # unknown intervals
        runs = rng.integers(1, 4, n).astype(float)
        histories.append((values, se, runs))
    for better in (True, False):
        together = judge_latest_many(histories, min_change=0.03, higher_is_better=better)
        alone = [judge_latest(v, s, r, min_change=0.03, higher_is_better=better)
                 for v, s, r in histories]
        assert together == alone
    assert sum(one.latest is not None for one in together) > 300
    pairs = [(np.log(v), (s / v) ** 2) for v, s, _ in histories]
    assert between_variances(pairs) == [between_variance(y, s2) for y, s2 in pairs]
    assert any(tau2 > 0 for tau2 in between_variances(pairs))
