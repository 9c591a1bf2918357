"""DVOL-futures backtest: P&L arithmetic, staggered tranches, costs, risk controls, schema."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvol_pipeline.quant.dvol.backtest import (
    FUTURES_DAILY_SCHEMA,
    BacktestConfig,
    CostModel,
    RiskConfig,
    run_futures_backtest,
    staggered,
    validate_daily,
)

NO_RISK = RiskConfig(position_cap=None, guardrail=False, daily_stop_usd=None, kill_drawdown_usd=None)
START = date(2024, 1, 1)


def frames(y_hat, dvol, *, horizon=1, family="har", asset="BTC", start=START):
    """predictions for len(y_hat) days and a market with len(dvol) days (>= one more)."""
    days = [start + timedelta(days=i) for i in range(len(dvol))]
    preds = pl.DataFrame({
        "date": days[: len(y_hat)], "asset": asset, "horizon": horizon, "family": family,
        "fold": [d.strftime("%Y-%m") for d in days[: len(y_hat)]], "y_hat": np.asarray(y_hat, float),
        "y": 0.0,
    }).with_columns(pl.col("horizon").cast(pl.Int32))
    market = pl.DataFrame({"date": days, "asset": asset, "dvol": np.asarray(dvol, float),
                           "jump_1d": 1.0, "jump_share_1d": 0.1, "funding_mean": 1.0})
    return preds, market


def config(**kw) -> BacktestConfig:
    base = {"costs": CostModel(fee_vol=0.1, half_spread_vol=0.2, slippage_vol=0.2), "multiplier_usd": 2.0,
            "contracts_per_unit": 10.0, "risk": NO_RISK, "run_sweep": False, "run_robustness": False}
    return BacktestConfig(**{**base, **kw})


def test_five_day_pnl_matches_hand_computation():
    # tau defaults to the round trip (2 x 0.5 = 1.0): signals +1 +1 -1 0 -1
    preds, market = frames([2.0, 2.0, -2.0, 0.5, -1.0], [50, 52, 51, 55, 54, 50])
    daily = run_futures_backtest(preds, market, config()).daily.sort("date")
    assert daily["tau"].to_list() == [1.0] * 5
    assert daily["signal"].to_list() == [1, 1, -1, 0, -1]
    assert daily["position"].to_list() == [1, 1, -1, 0, -1]
    assert daily["turnover"].to_list() == [1, 0, 2, 1, 1]
    assert daily["gross_vol"].to_list() == [2, -1, -4, 0, 4]  # ΔDVOL 2 -1 4 -1 -4
    assert daily["cost_vol"].to_list() == [0.5, 0, 1.0, 0.5, 0.5]
    assert daily["net_usd"].to_list() == pytest.approx([30, -20, -100, -10, 70])  # x 2 USD x 10 contracts
    assert daily["cost_usd"].to_list() == pytest.approx([10, 0, 20, 10, 10])
    assert daily["equity_usd"].to_list() == pytest.approx([30, 10, -90, -100, -30])
    assert daily["drawdown_usd"].to_list() == pytest.approx([0, 20, 120, 130, 60])
    assert daily["strategy"].unique().to_list() == ["dvol_futures_1d"]
    validate_daily(daily, FUTURES_DAILY_SCHEMA)


def test_slippage_can_grow_with_trade_size():
    preds, market = frames([2.0, -2.0, 2.0], [50, 51, 52, 53])
    base = config()
    impact = replace(base, costs=replace(base.costs, impact_vol=0.25))
    plain = run_futures_backtest(preds, market, base).daily.sort("date")["cost_vol"].to_numpy()
    sized = run_futures_backtest(preds, market, impact).daily.sort("date")["cost_vol"].to_numpy()
    # trades 1, 2, 2 units: extra 0.25 x |Δ|² on top
    np.testing.assert_allclose(sized - plain, 0.25 * np.array([1, 4, 4]))


def naive_staggered(signal: np.ndarray, h: int) -> np.ndarray:
    out = np.zeros(len(signal))
    for t in range(len(signal)):
        out[t] = signal[max(0, t - h + 1) : t + 1].sum() / h
    return out


def test_staggered_position_is_the_mean_of_the_last_h_signals():
    rng = np.random.default_rng(3)
    sig = rng.integers(-1, 2, size=(3, 40))
    horizons = np.array([1, 7, 14])
    out = staggered(sig, horizons)
    for row, h in enumerate(horizons):
        np.testing.assert_allclose(out[row], naive_staggered(sig[row], h))
    stacked = staggered(np.stack([sig, -sig]), horizons)  # candidates x strategies x days
    np.testing.assert_allclose(stacked[1], -out)


def test_backtest_holds_seven_day_tranches():
    rng = np.random.default_rng(5)
    y_hat = rng.normal(0, 3, 30)
    preds, market = frames(y_hat, 60 + np.cumsum(rng.normal(0, 2, 31)), horizon=7)
    daily = run_futures_backtest(preds, market, config()).daily.sort("date")
    assert daily["strategy"][0] == "dvol_futures_7d"
    np.testing.assert_allclose(daily["position"], naive_staggered(daily["signal"].to_numpy(), 7))
    assert 0 < np.abs(daily["position"]).max() <= 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), spread=st.floats(0.01, 1.0), horizon=st.sampled_from([1, 7, 14]))
def test_costs_reduce_net_monotonically(seed, spread, horizon):
    rng = np.random.default_rng(seed)
    preds, market = frames(rng.normal(0, 3, 45), 60 + np.cumsum(rng.normal(0, 3, 46)), horizon=horizon)
    cfg = config(costs=CostModel(fee_vol=0.02, half_spread_vol=spread, slippage_vol=0.01),
                 risk=RiskConfig(position_cap=0.8, daily_stop_usd=150.0, kill_drawdown_usd=400.0, guardrail=False))
    result = run_futures_backtest(preds, market, cfg)
    table = result.cost_sensitivity.filter(pl.col("asset") == "BTC").sort("cost_mult")
    traded = result.daily["turnover"].sum() > 0
    net = table["net_usd"].to_numpy()
    assert np.all(np.diff(net) < 0) if traded else np.all(np.diff(net) == 0)
    one = table.filter(pl.col("cost_mult") == 1.0)["net_usd"].item()
    assert one == pytest.approx(result.daily["net_usd"].sum())


def losing_path(days: int, loss_per_day: float = 2.0):
    """Always long (forecast +3) while DVOL falls `loss_per_day` points a day."""
    return frames([3.0] * days, 80 - loss_per_day * np.arange(days + 1))


def test_kill_switch_fires_on_a_losing_path_and_stays_flat_to_the_fold_end():
    preds, market = losing_path(45)  # Jan 1 .. Feb 14
    cfg = config(contracts_per_unit=500.0, costs=CostModel(0.0, 0.0, 0.0),  # 1,000 USD a point, no costs
                 risk=replace(NO_RISK, kill_drawdown_usd=10_000.0))
    result = run_futures_backtest(preds, market, cfg)
    daily = result.daily.sort("date")
    kills = result.kill_events.filter(pl.col("control") == "kill_switch")
    # equity after row k is -2,000 (k+1): the drawdown first exceeds 10,000 on Jan 6
    assert kills["date"].to_list() == [date(2024, 1, 6), date(2024, 2, 6)]
    assert kills["flat_until"].to_list() == [date(2024, 1, 31), date(2024, 2, 14)]
    assert kills["trigger_usd"].to_list() == pytest.approx([12_000.0, 12_000.0])
    jan_after = daily.filter((pl.col("date") > date(2024, 1, 6)) & (pl.col("date") <= date(2024, 1, 31)))
    assert jan_after["position"].abs().max() == 0 and jan_after["killed"].all()
    feb_first = daily.filter(pl.col("date") == date(2024, 2, 1))
    assert feb_first["position"].item() == 1.0 and not feb_first["killed"].item()  # a new fold re-arms it
    assert daily.filter(pl.col("date") > date(2024, 2, 6))["position"].abs().max() == 0
    assert daily.filter(pl.col("date") <= date(2024, 1, 6))["killed"].sum() == 0


def test_kill_switch_for_a_fixed_number_of_days():
    preds, market = losing_path(20)
    cfg = config(contracts_per_unit=500.0, costs=CostModel(0.0, 0.0, 0.0),
                 risk=replace(NO_RISK, kill_drawdown_usd=10_000.0, kill_days=3))
    daily = run_futures_backtest(preds, market, cfg).daily.sort("date")
    # fires on rows 5 and 14 (6 losing days each), flat for the 3 days after each
    flat = np.flatnonzero(daily["position"].to_numpy() == 0)
    assert flat.tolist() == [6, 7, 8, 15, 16, 17]
    assert daily["killed"].to_numpy()[flat].all()


def test_daily_stop_flattens_the_next_day_only():
    dvol = [60, 61, 62, 50, 51, 52, 53]  # the long position loses 12 points on Jan 3
    preds, market = frames([3.0] * 6, dvol)
    cfg = config(contracts_per_unit=500.0, costs=CostModel(0.0, 0.0, 0.0),
                 risk=replace(NO_RISK, daily_stop_usd=5_000.0))
    result = run_futures_backtest(preds, market, cfg)
    daily = result.daily.sort("date")
    assert daily["position"].to_list() == [1, 1, 1, 0, 1, 1]
    assert daily["stopped"].to_list() == [False, False, False, True, False, False]
    stop = result.kill_events.filter(pl.col("control") == "daily_stop")
    assert stop["date"].to_list() == [date(2024, 1, 3)] and stop["trigger_usd"].item() == pytest.approx(12_000)


def test_guardrail_scales_size_after_a_jump_and_uses_past_data_only():
    rng = np.random.default_rng(1)
    n = 120
    preds, market = frames(np.full(n, 50.0), 60 + np.cumsum(rng.normal(0, 1, n + 1)))  # above every tau
    jump = rng.uniform(0, 1, n + 1)
    jump[100] = 50.0  # a spike far above the trailing 95th percentile
    market = market.with_columns(jump_1d=pl.Series(jump))
    cfg = config(risk=RiskConfig(position_cap=None, guardrail=True, guardrail_scale=0.25, guardrail_min_days=30,
                                 guardrail_funding=False, daily_stop_usd=None, kill_drawdown_usd=None))
    daily = run_futures_backtest(preds, market, cfg).daily.sort("date")
    assert daily["guardrail"][100] and daily["position"][100] == 0.25
    assert not daily["guardrail"][:30].any()  # no trailing history yet
    later = market.with_columns(jump_1d=pl.when(pl.col("date") > START + timedelta(days=100)).then(99.0)
                                .otherwise(pl.col("jump_1d")))
    again = run_futures_backtest(preds, later, cfg).daily.sort("date")
    assert again["guardrail"][:101].to_list() == daily["guardrail"][:101].to_list()


def test_risk_control_effects_show_each_control():
    preds, market = losing_path(40)
    cfg = config(contracts_per_unit=500.0, risk=replace(NO_RISK, kill_drawdown_usd=10_000.0))
    effects = run_futures_backtest(preds, market, cfg).risk_effects.filter(pl.col("asset") == "BTC")
    by = {r["variant"]: r for r in effects.iter_rows(named=True)}
    assert by["full"]["days_affected"] == 0
    assert by["without_kill_switch"]["days_affected"] > 0
    assert by["without_kill_switch"]["net_usd"] < by["full"]["net_usd"]  # the switch saved money here
    assert by["without_kill_switch"]["control_effect_net_usd"] > 0
    assert by["without_daily_stop"]["days_affected"] == 0  # that control is off in this config


def test_validator_names_what_is_wrong():
    preds, market = frames([2.0, -2.0, 2.0], [50, 51, 52, 53])
    daily = run_futures_backtest(preds, market, config()).daily
    with pytest.raises(ValueError, match="missing columns"):
        validate_daily(daily.drop("net_usd"))
    with pytest.raises(ValueError, match="running sum"):
        validate_daily(daily.with_columns(pl.col("equity_usd") + 1.0))
    with pytest.raises(ValueError, match="wrong dtypes"):
        validate_daily(daily.with_columns(pl.col("killed").cast(pl.Int8)), FUTURES_DAILY_SCHEMA)


def test_predictions_without_next_day_marks_are_an_error():
    preds, market = frames([1.0, 1.0], [50, 51])
    with pytest.raises(ValueError, match="next day"):
        run_futures_backtest(preds, market.head(1), config())
