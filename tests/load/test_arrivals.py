"""The arrival processes, tested statistically: Poisson gaps are exponential (Kolmogorov-
Smirnov against the exponential of the rate), gamma gaps have the mean of the rate and the
coefficient of variation ``1 / sqrt(burstiness)``, constant gaps are exact; the ramp-up stretches
the start; the same seed gives the same schedule."""
from __future__ import annotations

import math

import pytest
from serving.arrivals import MAX_WAIT_S, check_rate, first_arrival, lowest_rate, schedule


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip([0.0, *times], times)]


def _ks_exponential(gaps: list[float], rate: float) -> float:
    ordered = sorted(gaps)
    n = len(ordered)
    return max(max((i + 1) / n - (1 - math.exp(-rate * x)), (1 - math.exp(-rate * x)) - i / n)
               for i, x in enumerate(ordered))


@pytest.mark.parametrize("seed", range(5))
def test_poisson_gaps_are_exponential_of_the_rate(seed: int) -> None:
    gaps = _gaps(schedule(4000, 8.0, "poisson", seed=seed))
    # 1.63 / sqrt(n): the 1% critical value of the one-sample KS statistic
    assert _ks_exponential(gaps, 8.0) < 1.63 / math.sqrt(len(gaps))
    assert not _ks_exponential(gaps, 6.0) < 1.63 / math.sqrt(len(gaps))  # the test can fail


@pytest.mark.parametrize("burstiness", [0.25, 1.0, 4.0])
def test_gamma_gaps_have_the_rates_mean_and_the_burstiness_spread(burstiness: float) -> None:
    gaps = _gaps(schedule(20000, 5.0, "gamma", burstiness, seed=1))
    mean = sum(gaps) / len(gaps)
    sd = math.sqrt(sum((g - mean) ** 2 for g in gaps) / (len(gaps) - 1))
    assert mean == pytest.approx(0.2, rel=0.05)
    assert sd / mean == pytest.approx(1 / math.sqrt(burstiness), rel=0.06)


def test_constant_rate_zero_and_seeds() -> None:
    assert schedule(4, 2.0, "constant") == [0.5, 1.0, 1.5, 2.0]
    assert schedule(3, 0.0) == [0.0, 0.0, 0.0]
    assert schedule(50, 3.0, seed=7) == schedule(50, 3.0, seed=7) != schedule(50, 3.0, seed=8)
    with pytest.raises(ValueError, match="serve.arrivals"):
        schedule(3, 1.0, "bursty")
    with pytest.raises(ValueError, match="serve.burstiness"):
        schedule(3, 1.0, "gamma", 0.0)
    with pytest.raises(ValueError, match="serve.request_rate"):
        schedule(3, -1.0)


def test_a_ramp_up_rises_linearly_then_holds_the_rate() -> None:
    times = schedule(400, 10.0, "constant", ramp_up=4.0)
    # the rate grows as 10 t / 4: by t the ramp has sent 10 t^2 / 8 requests
    assert sum(t <= 2.0 for t in times) == 5
    assert sum(t <= 4.0 for t in times) == 20
    after = [t for t in times if t > 4.0]
    assert _gaps(after)[1:] == pytest.approx([0.1] * (len(after) - 1))


@pytest.mark.parametrize("wait,ramp_up", [
    pytest.param(3600.0, 0.0, id="no-ramp"),
    pytest.param(10.0, 4.0, id="past-the-ramp"),
    pytest.param(10.0, 10.0, id="at-the-ramp-end"),
    pytest.param(10.0, 300.0, id="within-the-ramp"),
])
def test_the_lowest_rate_has_its_first_request_due_exactly_at_the_wait(
        wait: float, ramp_up: float) -> None:
    assert first_arrival(lowest_rate(wait, ramp_up), ramp_up) == pytest.approx(wait)


@pytest.mark.parametrize("rate,duration,ramp_up,words", [
    pytest.param(1e-300, 0.0, 0.0, "past the longest wait for a first request (3600 s); "
                 "give at least 0.000278 requests/s", id="1e-300-waits-10^300-s"),
    pytest.param(1 / 3601, 0.0, 0.0, "past the longest wait", id="just-under-one-an-hour"),
    pytest.param(0.4, 2.0, 0.0, "due after 2.5 s at the mean gap, past serve.duration (2 s); "
                 "give at least 0.5 requests/s", id="first-past-the-duration"),
    pytest.param(1.0, 0.0, 1e300, "past the longest wait", id="a-ramp-of-1e300-s"),
    pytest.param(math.nan, 0.0, 0.0, "serve.request_rate is nan; it must be 0", id="nan"),
    pytest.param(math.inf, 0.0, 0.0, "serve.request_rate is inf; it must be 0", id="inf"),
    pytest.param(-1.0, 0.0, 0.0, "serve.request_rate is -1.0; it must be 0", id="negative"),
])
def test_a_rate_whose_first_request_would_wait_past_the_cap_is_refused(
        rate: float, duration: float, ramp_up: float, words: str) -> None:
    with pytest.raises(ValueError, match="serve.request_rate") as err:
        check_rate(rate, duration, ramp_up)
    assert words in str(err.value)


@pytest.mark.parametrize("rate,duration", [(0.0, 0.0), (1 / MAX_WAIT_S, 0.0), (0.5, 2.0),
                                           (1e6, 0.0), (0.001, 1e7)])
def test_a_rate_whose_first_request_comes_in_time_is_accepted(rate: float,
                                                              duration: float) -> None:
    check_rate(rate, duration)


def test_a_schedule_stops_at_its_duration_whatever_the_count() -> None:
    assert schedule(10 ** 9, 4.0, "constant", duration=2.0) == [0.25 * k for k in range(1, 9)]
    assert len(schedule(10 ** 9, 50.0, seed=3, duration=2.0)) < 200
    assert schedule(10 ** 9, 50.0, seed=3, duration=2.0) == [
        t for t in schedule(400, 50.0, seed=3) if t <= 2.0]


def test_a_duration_no_rate_can_meet_is_blamed_not_the_rate() -> None:
    # a review's case: '--duration 1e-320' advised 'at least inf requests/s', and a ramp-up
    # longer than the duration a rate above the highest allowed
    from serving import arrivals as arrivals_module
    for duration, ramp_up in ((1e-320, 0.0), (2.0, 2_592_000.0)):
        with pytest.raises(ValueError) as refused:
            arrivals_module.check_rate(1.0, duration, ramp_up)
        text = str(refused.value)
        assert "give a longer serve.duration or a shorter serve.ramp_up" in text
        assert "inf" not in text


def test_a_rate_whose_mean_gap_overflows_is_never_due_not_due_after_inf() -> None:
    from serving import arrivals as arrivals_module
    with pytest.raises(ValueError, match="is never due .*give at least 0.000278"):
        arrivals_module.check_rate(1e-320)


def test_the_highest_rate_is_the_configs() -> None:
    from serving import arrivals as arrivals_module
    from serving import loadgen
    assert loadgen.LIMITS["request_rate"][1] == arrivals_module.MAX_RATE
