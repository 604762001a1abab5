"""``judge_latest``'s default method since issue 56 (item 5), ``pooled``: the newest point's
spread from the whole window (the runs' pooled spread, the points' own after an outlier rule)
and a test against the ``+-min_change`` band (``p_beyond``), instead of its own few runs'
weights and Criterion's whole-interval rule (``weighted``). Seeded and fast."""
from __future__ import annotations

import math

import numpy as np
import pytest
from benchstats.histories import HistoryCase, histories
from benchstats.latest import judge_latest, judge_latest_many, p_beyond
from benchstats.tdist import t_cdf


def _found(case: HistoryCase, count: int, seed: int, drop: float, method: str) -> float:
    """Share of ``count`` seeded histories whose newest point, lowered by ``drop``, the
    method calls a change beyond 5% at 5% (either direction when ``drop`` is 0)."""
    h = histories(case, count, seed)
    hits = 0
    for i in range(count):
        values = h.values[i].copy()
        values[-1] *= 1.0 - drop
        found = judge_latest(values, h.se[i], h.n_runs[i], method=method).latest
        assert found is not None
        beyond = found.verdict == "beyond" and (method == "pooled" or found.p_value < 0.05)
        hits += beyond and (drop == 0 or found.direction == "regression")
    return hits / count


def test_a_10_percent_drop_at_3_runs_is_found_in_4_of_5_histories() -> None:
    """The issue's goal on 500 histories (docs/database.md has 1,000 a noise model, through
    the command): the default finds >= 80% (86.8% here), the method before it 72.8%."""
    case = HistoryCase(steps=(0,), runs=(3, 3))
    pooled = _found(case, 500, 31, 0.10, "pooled")
    assert pooled >= 0.80
    assert pooled - _found(case, 500, 31, 0.10, "weighted") >= 0.08


@pytest.mark.parametrize("case", [
    pytest.param(HistoryCase(steps=(0,), runs=(3, 3)), id="normal"),
    pytest.param(HistoryCase(steps=(0,), tails="t3", runs=(3, 3)), id="t3"),
    pytest.param(HistoryCase(steps=(0,), session_phi=0.5, runs=(3, 3)), id="ar-sessions"),
    pytest.param(HistoryCase(steps=(0,), noisy=0.1, runs=(3, 3)), id="noisy-days"),
])
def test_without_a_change_at_most_2_false_alarms_in_100(case: HistoryCase) -> None:
    assert _found(case, 400, 30, 0.0, "pooled") <= 0.02


def test_p_beyond_with_no_band_is_the_two_sided_p_value() -> None:
    assert math.isclose(p_beyond(-0.03, 0.01, 19, 0.0), 2.0 * (1.0 - t_cdf(3.0, 19)),
                        rel_tol=1e-9)
    assert p_beyond(0.0, 0.01, 19, 0.0) == pytest.approx(1.0)


def test_p_beyond_is_a_half_at_the_band_edge_and_small_far_past_it() -> None:
    """A change seen exactly at the band's lower edge (-5%) is as likely from inside as from
    outside; one 4 standard errors past it is not."""
    edge = math.log(0.95)
    assert p_beyond(edge, 0.005, 1000, 0.05) == pytest.approx(0.5, abs=0.01)
    assert p_beyond(edge - 0.02, 0.005, 1000, 0.05) < 1e-4
    assert p_beyond(-0.02, 0.005, 1000, 0.05) == pytest.approx(1.0, abs=1e-6)


def _flat(count: int, level: float = 100.0) -> np.ndarray:
    """A steady history: +-0.5% in turn."""
    return level * np.exp(0.005 * np.where(np.arange(count) % 2 == 0, 1.0, -1.0))


def test_a_newest_point_noisier_than_the_pool_keeps_its_own_spread() -> None:
    """Twenty points of 3 runs at run CV 1%, then one 12% lower whose runs scatter by 10%:
    the pool alone would call it beyond 5%; its own spread (F test) says it is not known."""
    values = np.append(_flat(20), 88.0)
    se = np.append(_flat(20) * 0.01 / math.sqrt(3), 88.0 * 0.10 / math.sqrt(3))
    found = judge_latest(values, se, [3.0] * 21).latest
    assert found is not None and found.verdict == "within"
    assert found.ci[0] < -0.2  # the interval says how little is known
    steady = judge_latest(values, np.append(se[:-1], 88.0 * 0.01 / math.sqrt(3)),
                          [3.0] * 21).latest
    assert steady is not None and steady.verdict == "beyond"


def test_one_outlying_point_in_the_window_does_not_hide_a_drop() -> None:
    """One point 30% high among twenty steady ones (a session that went wrong) is left out
    (3.5 scaled MADs): the newest 10% drop stays beyond 5%. Without the rule the history's
    spread would be 6x larger and the drop within."""
    values = _flat(20)
    values[7] *= 1.3
    values = np.append(values, 90.0)
    se = values * 0.01 / math.sqrt(3)
    found = judge_latest(values, se, [3.0] * 21).latest
    assert found is not None and found.verdict == "beyond" and found.direction == "regression"
    assert found.change == pytest.approx(-0.10, abs=0.002)  # its mean leaves the outlier out
    assert found.left_out == (7,) and found.history == 19  # and says so


def test_points_without_run_counts_are_judged_by_their_intervals() -> None:
    values = np.append(_flat(20), 85.0)
    found = judge_latest(values, values * 0.005, method="pooled").latest
    assert found is not None and found.verdict == "beyond" and found.method == "pooled"


@pytest.mark.filterwarnings("ignore:Degrees of freedom")  # histories' one-run points' sd
def test_many_histories_get_the_verdicts_each_gets_alone() -> None:
    h = histories(HistoryCase(steps=(0, 1), runs=(1, 5), noisy=0.1), 60, 3)
    many = judge_latest_many([(h.values[i], h.se[i], h.n_runs[i]) for i in range(60)])
    for i, together in enumerate(many):
        assert together == judge_latest(h.values[i], h.se[i], h.n_runs[i])


def test_an_unknown_method_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="method 'robust': give one of prediction, pooled, weighted"):
        judge_latest(_flat(10), _flat(10) * 0.01, method="robust")
