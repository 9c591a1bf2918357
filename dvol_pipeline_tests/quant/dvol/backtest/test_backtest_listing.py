"""DVOL futures as listed: no trade before listing, rolls at expiries, a basis that follows
the term structure and converges at expiry."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.dvol.backtest import BacktestConfig, ListedFutures, RiskConfig, run_futures_backtest
from dvol_pipeline.quant.dvol.backtest.listing import TERM_COLUMNS, expiries, fair_ratio, futures_marks

START, DAYS = date(2023, 1, 1), 181
LISTING = date(2023, 3, 1)
NO_RISK = RiskConfig(position_cap=None, guardrail=False, daily_stop_usd=None, kill_drawdown_usd=None)


def _market(slope: float, assets=("BTC", "ETH")) -> pl.DataFrame:
    """DVOL random walk; ATM vols rising with tenor by `slope` points per 30 days (negative: inverted)."""
    rng = np.random.default_rng(5)
    rows = []
    for a in assets:
        dvol = 60 * np.exp(np.cumsum(rng.normal(0, 0.03, DAYS)))
        for i in range(DAYS):
            atm = {c: dvol[i] + slope * (t - 30) / 30 for c, t in zip(TERM_COLUMNS, (7, 30, 60, 90), strict=True)}
            rows.append({"date": START + timedelta(days=i), "asset": a, "dvol": float(dvol[i]), "jump_1d": 0.0,
                         "funding_mean": 0.0, **atm})
    return pl.DataFrame(rows)


def _always_long(market: pl.DataFrame) -> pl.DataFrame:
    return market.select("date", "asset", horizon=pl.lit(1), family=pl.lit("har"), y_hat=pl.lit(50.0))


def _run(market, contract=ListedFutures(listing={"BTC": str(LISTING), "ETH": str(LISTING)})):
    cfg = BacktestConfig(risk=NO_RISK, run_sweep=False, run_robustness=False, contract=contract)
    return run_futures_backtest(_always_long(market), market, cfg).daily.sort("asset", "date")


def test_no_trade_before_listing():
    market = _market(5.0)
    daily = _run(market, ListedFutures(listing={"BTC": str(LISTING)}))  # ETH has no listed future
    btc, eth = daily.filter(pl.col("asset") == "BTC"), daily.filter(pl.col("asset") == "ETH")
    before = btc.filter(pl.col("date") < LISTING)
    assert before.height == (LISTING - START).days
    assert before["position"].abs().max() == 0 and before["turnover"].sum() == 0 and before["net_usd"].abs().max() == 0
    assert before["contract_expiry"].null_count() == before.height
    after = btc.filter(pl.col("date") >= LISTING)
    assert after["position"].min() == 1.0 and after["turnover"][0] == 1.0  # first trade at the listing day's close
    assert eth["position"].abs().max() == 0 and eth["cost_usd"].sum() == 0
    # the index model trades from the first forecast
    index = _run(market, None).filter(pl.col("asset") == "BTC")
    assert index["position"].min() == 1.0 and index["contract_expiry"].null_count() == index.height


def test_rolls_happen_at_expiries_and_pay_both_legs():
    daily = _run(_market(5.0)).filter((pl.col("asset") == "BTC") & (pl.col("date") >= LISTING))
    listed = expiries(LISTING, daily["date"].max())
    rolls = daily.filter(pl.col("roll"))["date"].to_list()
    # the close before each expiry moves the position into the next month's contract
    last = daily["date"].max()
    assert rolls == [e.astype(date) - timedelta(days=1) for e in listed if LISTING < e.astype(date) - timedelta(days=1) <= last]
    assert rolls[0] == date(2023, 3, 30)  # March 2023's last Friday is the 31st
    assert daily.filter(pl.col("roll"))["turnover"].to_list() == [2.0] * len(rolls)
    held = daily.select("date", "contract_expiry")
    for r in rolls:
        before = held.filter(pl.col("date") == r - timedelta(days=1))["contract_expiry"].item()
        after = held.filter(pl.col("date") == r)["contract_expiry"].item()
        assert before == r + timedelta(days=1) and after > before
    # the held contract never expires before the next close
    assert (daily["contract_expiry"] >= daily["date"] + timedelta(days=2)).all()
    cfg = BacktestConfig()
    roll_cost = daily.filter(pl.col("roll"))["cost_vol"].to_numpy()
    np.testing.assert_allclose(roll_cost, 2 * cfg.costs.per_unit)


@pytest.mark.parametrize("slope", [6.0, -6.0])
def test_the_basis_follows_the_term_structure_and_converges_at_expiry(slope):
    market = _market(slope)
    daily = _run(market).filter((pl.col("asset") == "BTC") & (pl.col("date") >= LISTING))
    joined = daily.join(market.select("date", "asset", "dvol"), on=["date", "asset"])
    basis = joined["futures_price"] - joined["dvol"]
    far = (joined["contract_expiry"] - joined["date"]).dt.total_days() > 10
    assert (np.sign(basis.filter(far)) == np.sign(slope)).all()  # contango when vols rise with tenor
    # a day and 8 hours before its expiry the held contract has all but converged to the index
    near = joined.filter((pl.col("contract_expiry") - pl.col("date")).dt.total_days() == 2)
    assert near.height >= 3
    assert (basis.filter(far).abs().min() > 3 * (near["futures_price"] - near["dvol"]).abs().max())
    # the P&L is the held contract's own change (same expiry on both days), not the index's
    marks = futures_marks(market, ListedFutures(listing={"BTC": str(LISTING)}))
    m = marks.filter(pl.col("asset") == "BTC").join(daily.select("date", "gross_vol", "position"), on="date")
    np.testing.assert_allclose(m["gross_vol"], m["position"] * m["change"])
    index_change = joined["dvol"].shift(-1) - joined["dvol"]
    assert not np.allclose(m["change"].to_numpy()[:-1], index_change.to_numpy()[:-1])


def test_fair_value_without_a_term_structure_is_the_index():
    flat = np.array([[60.0, 60.0, 60.0, 60.0], [np.nan] * 4])
    np.testing.assert_allclose(fair_ratio(flat, np.array([20.0, 20.0])), [1.0, 1.0])
    market = _market(5.0).drop(*TERM_COLUMNS)
    daily = _run(market).filter(pl.col("date") >= LISTING)
    joined = daily.join(market.select("date", "asset", "dvol"), on=["date", "asset"])
    np.testing.assert_allclose(joined["futures_price"], joined["dvol"])
    with pytest.raises(ValueError, match="cycle"):
        ListedFutures(cycle="daily")


def test_a_market_that_ends_before_listing_trades_nothing():
    market = _market(5.0).filter(pl.col("date") < LISTING)
    daily = _run(market, ListedFutures(listing={"BTC": "2024-01-01"}))
    assert daily.height and daily["position"].abs().max() == 0 and daily["cost_usd"].sum() == 0
