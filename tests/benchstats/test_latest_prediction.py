"""``judge_latest``'s default since the review of issue 56 (item 5), ``prediction``: the
newest point's prediction interval from the window's spread (its points' session-to-session
spread, which the newest point's 3 runs cannot see), a two-sided test of no change at
``ALPHA`` on Welch-Satterthwaite's degrees of freedom, ``min_change`` a floor on the
estimate, and the drop the history's spread lets it find 4 times in 5. Seeded, small:
``scripts/sim_latest.py --grid`` has the large runs (docs/database.md)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from benchstats.histories import HistoryCase, histories
from benchstats.latest import ALPHA, GOAL_DROP, Latest, detectable_drop, judge_latest


def _noise(run_cv: float, session_cv: float, **extra: Any) -> HistoryCase:
    """3 runs a point at a run CV and a session offsets' sd (absolute), two outlying points
    a history of 100 (sessions gone wrong), of which the newest 21 are read."""
    return HistoryCase(steps=(0,), runs=(3, 3), run_cv=(run_cv, run_cv),
                       session=(session_cv / run_cv, session_cv / run_cv), **extra)


def _verdicts(case: HistoryCase, count: int, seed: int, drop: float,
              method: str = "prediction") -> list[Latest]:
    h = histories(case, count, seed)
    found = []
    for i in range(count):
        values = h.values[i].copy()
        values[-1] *= 1.0 - drop
        latest = judge_latest(values, h.se[i], h.n_runs[i], method=method).latest
        assert latest is not None
        found.append(latest)
    return found


def _regressions(found: list[Latest]) -> float:
    return float(np.mean([f.verdict == "beyond" and f.direction == "regression"
                          for f in found]))


@pytest.mark.parametrize("run_cv,session_cv", [
    pytest.param(0.02, 0.02, id="run-2%-session-2%"),
    pytest.param(0.03, 0.015, id="run-3%-session-1.5%"),
])
def test_a_10_percent_drop_is_found_4_in_5_where_the_band_test_was_not(
        run_cv: float, session_cv: float) -> None:
    """The review's two cells (73% and 70% with the test against the band): the test of no
    change on the window's spread finds >= 80%; the band test stays under it."""
    case = _noise(run_cv, session_cv)
    assert _regressions(_verdicts(case, 400, 31, 0.10)) >= 0.80
    assert _regressions(_verdicts(case, 400, 31, 0.10, "pooled")) < 0.80


@pytest.mark.parametrize("extra", [
    pytest.param({}, id="normal"),
    pytest.param({"tails": "t3"}, id="t3-runs"),
    pytest.param({"session_phi": 0.5}, id="ar1-sessions"),
])
def test_without_a_change_the_gate_fails_in_at_most_2_of_100_histories(
        extra: dict[str, Any]) -> None:
    """At the grid's noisiest corner (run CV 3%, session offsets 2%), outlying sessions
    included: regressions reported without a change (the gate's exit 1), 1,000 histories."""
    assert _regressions(_verdicts(_noise(0.03, 0.02, **extra), 1000, 30, 0.0)) <= 0.02


def test_the_p_value_shown_is_the_one_that_decides() -> None:
    """A change is beyond exactly when its p-value of no change is under ``ALPHA`` and its
    estimate beyond the floor; ``p_beyond`` is that same p-value."""
    found = _verdicts(_noise(0.02, 0.015), 300, 7, 0.06)
    for f in found:
        beyond = f.p_value < ALPHA and abs(f.change) >= 0.05
        assert (f.verdict == "beyond") == beyond
        assert f.p_beyond == f.p_value
    assert 0 < sum(f.verdict == "beyond" for f in found) < len(found)


def _steady(count: int, level: float = 100.0) -> np.ndarray:
    return level * np.exp(0.002 * np.where(np.arange(count) % 2 == 0, 1.0, -1.0))


@pytest.mark.parametrize("newest,verdict", [
    pytest.param(96.0, "within", id="4%-lower-certain-but-inside-the-floor"),
    pytest.param(94.0, "beyond", id="6%-lower-beyond-the-floor"),
])
def test_min_change_is_a_floor_on_the_estimate(newest: float, verdict: str) -> None:
    values = np.append(_steady(20), newest)
    found = judge_latest(values, values * 0.002, [3.0] * 21).latest
    assert found is not None and found.p_value < 1e-6
    assert found.verdict == verdict and found.direction == "regression"


def test_a_noisy_newest_point_is_judged_on_its_own_few_degrees_of_freedom() -> None:
    """Twenty points at run CV 1%, then one 12% lower whose 3 runs scatter by 10%: the F
    test keeps its own variance, whose 2 degrees of freedom dominate the interval's."""
    values = np.append(_steady(20), 88.0)
    quiet = np.append(_steady(20) * 0.01 / math.sqrt(3), 88.0 * 0.01 / math.sqrt(3))
    noisy = np.append(quiet[:-1], 88.0 * 0.10 / math.sqrt(3))
    steady = judge_latest(values, quiet, [3.0] * 21).latest
    loud = judge_latest(values, noisy, [3.0] * 21).latest
    assert steady is not None and loud is not None
    assert steady.df >= 19 and loud.df < 3
    assert steady.verdict == "beyond" and loud.verdict == "within"


def test_detectable_drop_grows_with_the_spread_and_shrinks_with_the_level() -> None:
    assert detectable_drop(0.01, 19, ALPHA, 0.05) < detectable_drop(0.02, 19, ALPHA, 0.05)
    assert detectable_drop(0.02, 200, ALPHA, 0.05) < detectable_drop(0.02, 19, ALPHA, 0.05)
    assert detectable_drop(0.02, 19, 0.05, 0.05) < detectable_drop(0.02, 19, ALPHA, 0.05)
    # a tiny spread: the floor on the estimate is what limits it
    assert detectable_drop(1e-4, 19, ALPHA, 0.05) == pytest.approx(0.05, abs=0.001)


@pytest.mark.parametrize("run_cv,session_cv", [
    pytest.param(0.02, 0.02, id="run-2%-session-2%"),
    pytest.param(0.03, 0.03, id="run-3%-session-3%"),
])
def test_a_drop_of_the_detectable_size_is_found_about_4_times_in_5(
        run_cv: float, session_cv: float) -> None:
    """What ``detectable`` promises, checked by simulation: the median detectable drop of
    1,000 unchanged histories, applied to 1,000 others, is found in 75-85% of them."""
    case = _noise(run_cv, session_cv, outliers=0)
    size = float(np.median([f.detectable for f in _verdicts(case, 1000, 40, 0.0)]))
    assert 0.75 <= _regressions(_verdicts(case, 1000, 41, size)) <= 0.85


def test_too_noisy_for_the_goal_where_the_goal_is_out_of_reach_only() -> None:
    """Session offsets as large as a 3% run CV: a 10% drop is 3 of the newest point's
    standard deviations, under the 80% the issue asks for; most such histories say so, and
    almost none at run CV 1% and offsets of 1%."""
    loud = _verdicts(_noise(0.03, 0.03), 300, 50, 0.0)
    quiet = _verdicts(_noise(0.01, 0.01), 300, 50, 0.0)
    assert np.mean([f.too_noisy for f in loud]) >= 0.5
    assert np.mean([f.too_noisy for f in quiet]) <= 0.02
    assert all(f.detectable > GOAL_DROP for f in loud if f.too_noisy)
