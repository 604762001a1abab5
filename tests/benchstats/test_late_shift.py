"""Issue 58: a run too short for Schruben's test was counted steady on MSER's verdict alone,
and MSER, searching the first half, is blind to a late step (iteration times from ~295 ms to
~600 ms after iteration 21 of 28: ``results.steady_state=true``). Such a window is now
untested, unless the cheap check of its last third catches the step."""
from __future__ import annotations

import math
import random

import pytest
from benchstats.stationarity import SHIFT_MIN_N, late_shift
from benchstats.steady import analyze


def _ar1(n: int, phi: float, rng: random.Random, mean: float = 100.0,
         cv: float = 0.03) -> list[float]:
    """AR(1) times with a stationary start: marginal SD ``cv * mean`` whatever ``phi``."""
    noise, out = rng.gauss(0, 1), []
    for _ in range(n):
        noise = phi * noise + rng.gauss(0, 1) * math.sqrt(1 - phi * phi)
        out.append(mean * (1 + cv * noise))
    return out


def test_the_clean_step_of_the_issue_is_not_steady() -> None:
    found = analyze([300.0] * 21 + [600.0] * 9)
    assert found.steady is False and found.ci_withheld == "not steady"
    assert "last third" in found.ci_note and found.untested == ""


def test_the_reviewers_run_is_not_steady() -> None:
    rng = random.Random(58)
    times = [295 + rng.gauss(0, 3) for _ in range(21)] + [600 + rng.gauss(0, 5) for _ in range(7)]
    found = analyze(times)
    assert found.steady is False and "last third" in found.ci_note


def test_a_window_too_short_to_test_is_said_untested() -> None:
    """Eight steady iterations after the warm-up: no test can run, so not "steady"."""
    found = analyze([3555, 1799, 468, 470, 465, 472, 469, 471, 466, 470])
    assert found.stationary is None and found.untested == "too few iterations"
    assert found.ci_withheld == "too few iterations"


def test_a_tested_window_is_not_said_untested() -> None:
    found = analyze(_ar1(200, 0.0, random.Random(1)))
    assert found.stationary is True and found.steady and found.untested == ""


@pytest.mark.parametrize("n", [SHIFT_MIN_N, 30])
@pytest.mark.parametrize("phi", [0.0, 0.5], ids=["iid", "ar1-0.5"])
def test_the_late_shift_check_rarely_flags_stationary_noise(n: int, phi: float) -> None:
    """The brief's bound: at most 5% false flags at 30 iterations for independent and AR(1)
    phi = 0.5 times (2,000 seeded series a cell; measured: at most 1% at 20, 0.5% at 30)."""
    rng = random.Random(n * 10 + int(phi * 10))
    flagged = sum(bool(late_shift(_ar1(n, phi, rng))) for _ in range(2000))
    assert flagged <= 0.05 * 2000


def test_the_late_shift_check_catches_a_step_of_a_fifth() -> None:
    """A 20% step at iteration 21 of 30 with 3% noise: caught in at least 95% of 300 runs."""
    rng = random.Random(20)
    caught = sum(bool(late_shift(_ar1(21, 0.0, rng) + _ar1(9, 0.0, rng, mean=120.0)))
                 for _ in range(300))
    assert caught >= 285


def test_the_late_shift_check_needs_twenty_iterations() -> None:
    assert late_shift([300.0] * 13 + [600.0] * 6) is None
    assert late_shift([300.0] * 14 + [600.0] * 6) is True
    assert late_shift([300.0] * 30) is False
