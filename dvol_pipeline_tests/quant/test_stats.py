"""quant/stats.py: the one definition of each statistic, on hand-checkable numbers."""

from __future__ import annotations

from datetime import date

import empyrical
import numpy as np
import pytest

from dvol_pipeline.quant.stats import (
    active_hit_rate,
    annual_return,
    annual_volatility,
    annualise,
    drawdown,
    hit_counts,
    hit_rate,
    hits,
    max_drawdown,
    sharpe,
    sharpe_from_sums,
    sortino,
    win_rate,
)


def test_a_calendar_year_of_daily_figures_annualises_to_that_years_own_figures():
    """Crypto trades every calendar day: a year of daily P&L or returns (every day of 2023)
    annualises to what that year did, and a shorter span to the same pace over a year."""
    days = (date(2024, 1, 1) - date(2023, 1, 1)).days
    rng = np.random.default_rng(7)
    pnl = rng.normal(10.0, 100.0, days)
    assert annualise(pnl.mean(), "mean") == pytest.approx(pnl.sum())  # the year's total P&L
    r = rng.normal(0.001, 0.02, days)
    assert annual_return(r) == pytest.approx(np.prod(1 + r) - 1)  # the year's compounded return
    fifth = r[: days // 5]  # 73 days: five of them make the year
    assert annual_return(fifth) == pytest.approx(np.prod(1 + fifth) ** 5 - 1)
    # a year of independent daily moves adds their variances
    assert annual_volatility(r) == pytest.approx(np.sqrt(days * np.var(r, ddof=1)))
    assert annualise(np.std(r, ddof=1), "vol") == pytest.approx(annual_volatility(r))
    assert sharpe(r) == pytest.approx(annualise(r.mean(), "mean") / annual_volatility(r))
    # an equity desk's year of 252 trading days, when asked for
    assert annualise(0.1, "sharpe", periods_per_year=252) == pytest.approx(0.1 * np.sqrt(252))
    with pytest.raises(ValueError, match="kind"):
        annualise(1.0, "total")


def test_hit_rate_counts_signs_where_both_are_nonzero_and_finite():
    pred = np.array([1.0, -2.0, 3.0, 0.0, 2.0, -1.0, np.nan, 1.0])
    real = np.array([2.0, 1.0, 5.0, -1.0, 0.0, -4.0, 1.0, -3.0])
    # rows: hit, miss, hit, (zero call), (zero move), hit, (missing), miss
    counts = hit_counts(pred, real)
    assert (counts.hits, counts.misses, counts.zeros, counts.missing, counts.counted) == (3, 2, 2, 1, 5)
    assert hit_rate(pred, real) == pytest.approx(3 / 5) == counts.rate
    np.testing.assert_array_equal(hits(pred, real), [1, 0, 1, np.nan, np.nan, 1, np.nan, 0])
    assert np.isnan(hit_rate(np.zeros(4), real[:4]))  # a zero forecast makes no call at all
    assert np.isnan(hit_rate([], []))


def test_active_hit_rate_keeps_signals_beyond_tau():
    y_hat = np.array([0.5, -2.0, 3.0, -1.0, 1.5])
    y = np.array([-1.0, -1.0, -2.0, 0.0, 2.0])
    assert active_hit_rate(y_hat, y, 1.0) == pytest.approx(2 / 3)  # -2 hit, 3 miss, -1 no move, 1.5 hit
    assert active_hit_rate(y_hat, y, 0.0) == pytest.approx(2 / 4)
    assert np.isnan(active_hit_rate(y_hat, y, 10.0)) and np.isnan(active_hit_rate(y_hat, y, float("nan")))


def test_win_rate_is_the_hit_rate_of_days_in_a_position():
    net = np.array([100.0, -50.0, 0.0, 200.0, 30.0])
    position = np.array([1.0, -1.0, 1.0, 0.5, 0.0])  # the flat day (+30) and the zero-P&L day do not count
    assert win_rate(net, position) == pytest.approx(2 / 3)


def test_sharpe_of_a_known_series():
    r = np.array([0.01, -0.02, 0.03, 0.0, 0.01])
    mean, std = 0.006, np.sqrt(np.sum((r - 0.006) ** 2) / 4)
    assert sharpe(r) == pytest.approx(mean / std * np.sqrt(365))
    assert sharpe(r, 252) == pytest.approx(mean / std * np.sqrt(252))
    assert sharpe(1000 * r) == pytest.approx(sharpe(r))  # USD or returns: the same number
    assert sharpe(r) == pytest.approx(empyrical.sharpe_ratio(r, annualization=365))
    assert np.isnan(sharpe([0.1, 0.1, 0.1])) and np.isnan(sharpe([0.5])) and np.isnan(sharpe([]))
    assert sharpe([0.01, np.nan, -0.02, 0.03, 0.0, 0.01]) == pytest.approx(sharpe(r))  # missing is dropped


def test_sharpe_rows_and_running_sums_agree_with_the_series_version():
    rng = np.random.default_rng(0)
    x = rng.normal(1, 10, (3, 40))
    where = np.ones_like(x, bool)
    where[1, :15] = False
    rows = sharpe(x, where=where)
    for i in range(3):
        assert rows[i] == pytest.approx(sharpe(x[i][where[i]]), rel=1e-12)
    s1, s2, n = np.where(where, x, 0.0), np.where(where, x, 0.0) ** 2, where.sum(axis=1)
    np.testing.assert_allclose(sharpe_from_sums(s1.sum(1), s2.sum(1), n), rows, rtol=1e-9)
    assert np.isnan(sharpe_from_sums(3.0, 3.0, 3))  # three equal values: no variance


def test_sortino_and_annual_figures_match_empyrical():
    r = np.array([0.1, -0.05, 0.2, 0.0, -0.1])
    assert sortino(r) == pytest.approx(np.mean(r) * 365 / (np.sqrt((0.05**2 + 0.1**2) / 5) * np.sqrt(365)))
    assert sortino(r) == pytest.approx(empyrical.sortino_ratio(r, annualization=365))
    assert np.isnan(sortino([0.01, 0.02, 0.03]))  # no losing day: no downside to divide by
    assert annual_return(r) == pytest.approx(empyrical.annual_return(r, annualization=365))
    assert annual_volatility(r) == pytest.approx(empyrical.annual_volatility(r, annualization=365))


def test_drawdown_is_additive_from_a_zero_peak_and_compounded_on_request():
    pnl = np.array([-10.0, 30.0, -20.0, -5.0, 40.0])  # equity -10 20 0 -5 35
    np.testing.assert_allclose(drawdown(pnl), [10, 0, 20, 25, 0])
    assert max_drawdown(pnl) == 25.0 and max_drawdown(np.array([])) == 0.0
    np.testing.assert_allclose(max_drawdown(np.vstack([pnl, -pnl])), [25.0, 45.0])  # -pnl: peak 10, low -35
    r = np.array([0.1, -0.05, 0.2, 0.0, -0.1])
    assert max_drawdown(r, compounded=True) == pytest.approx(0.1)
    assert max_drawdown(r, compounded=True) == pytest.approx(-empyrical.max_drawdown(r))
    assert max_drawdown(np.array([-0.5, 0.2]), compounded=True) == pytest.approx(0.5)  # peak starts at 1
