"""Statistics without scipy: t quantiles against a published table, summaries, Welch ratios."""
from __future__ import annotations

import math

import pytest
from benchstats import summarize, t_critical, t_quantile, welch_log_ratio


@pytest.mark.parametrize("df, expected", [
    (1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (5, 2.5706), (9, 2.2622),
    (10, 2.2281), (20, 2.0860), (30, 2.0423), (60, 2.0003), (120, 1.9799), (1e7, 1.9600),
])
def test_t_critical_95_matches_the_table(df: float, expected: float) -> None:
    assert t_critical(df) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("p, df, expected", [(0.995, 5, 4.0321), (0.9, 10, 1.3722),
                                             (0.5, 3, 0.0)])
def test_t_quantile_other_levels(p: float, df: float, expected: float) -> None:
    assert t_quantile(p, df) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("p", [0.5, 0.6, 0.8, 0.9, 0.975, 0.995, 0.9995])
@pytest.mark.parametrize("df", [0.3, 1.0, 1.7, 2.0, 3.0, 4.3, 9.0, 19.0, 60.5, 250.0, 1e4, 1e6])
def test_t_quantile_is_exact_to_twelve_digits(p: float, df: float) -> None:
    """Against the t CDF in 40-digit arithmetic (mpmath, which torch installs): the quantile
    reports and the comparison's planning figure use is right to 1e-12 relative up to 1,000
    degrees of freedom; beyond, the incomplete beta near 1 holds about 9 digits (1e-8)."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    nu, half = mpmath.mpf(df), mpmath.mpf(1) / 2
    got = t_quantile(p, df)

    def cdf_minus_p(t: object) -> object:
        return 1 - mpmath.betainc(nu / 2, half, 0, nu / (nu + t * t), regularized=True) / 2 - p
    exact = 0.0 if p == 0.5 else float(mpmath.findroot(cdf_minus_p, mpmath.mpf(got)))
    tolerance = 1e-12 if df <= 1000 else 1e-8
    assert abs(got - exact) <= tolerance * max(1.0, abs(exact))


def test_t_quantile_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="needs 0.5 <= p < 1 and df > 0"):
        t_quantile(0.975, 0)


def test_summary_of_a_sample() -> None:
    s = summarize([10.0, 12.0, 11.0, 13.0])
    assert (s.n, s.mean, s.median) == (4, 11.5, 11.5)
    assert s.std == pytest.approx(1.290994, abs=1e-6)
    margin = 3.182446 * 1.290994 / 2
    assert (s.ci_low, s.ci_high) == pytest.approx((11.5 - margin, 11.5 + margin), abs=1e-5)
    assert s.cv == pytest.approx(1.290994 / 11.5)


def test_summary_of_one_value_has_no_spread() -> None:
    s = summarize([5.0])
    assert s.mean == s.median == 5.0 and math.isnan(s.std) and math.isnan(s.ci_low)



def test_welch_log_ratio_interval_contains_the_ratio_and_is_symmetric_in_log() -> None:
    r = welch_log_ratio([100.0, 102.0, 98.0], [90.0, 91.0, 89.0])  # base / new
    assert r.ratio == pytest.approx(100.0 / 90.0, rel=1e-3)
    assert 1.0 < r.ci_low < r.ratio < r.ci_high
    assert math.log(r.ratio) - math.log(r.ci_low) == pytest.approx(
        math.log(r.ci_high) - math.log(r.ratio))
    assert 2.0 < r.df < 4.0 + 1e-9


def test_welch_log_ratio_without_spread_on_a_side_has_no_interval() -> None:
    r = welch_log_ratio([100.0], [89.0, 91.0])
    assert r.ratio == pytest.approx(100.0 / math.sqrt(89.0 * 91.0)) and math.isnan(r.ci_low)
