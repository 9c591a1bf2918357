"""Strategy statistics, promotion against HAR, and the robustness checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import empyrical
import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.dvol.backtest import (
    BacktestConfig,
    CostModel,
    RiskConfig,
    RobustnessConfig,
    ThresholdConfig,
    by_year,
    promote,
    run_futures_backtest,
    strategy_metrics,
)
from dvol_pipeline.quant.evaluate.strategy import daily_pnl_metrics
from dvol_pipeline.quant.stats import sharpe

START = date(2024, 1, 1)


def daily_rows(net, position, *, family="har", horizon=7, asset="BTC", start=START):
    n = len(net)
    net = np.asarray(net, float)
    position = np.asarray(position, float)
    return pl.DataFrame({
        "date": [start + timedelta(days=i) for i in range(n)], "asset": asset, "strategy": f"dvol_futures_{horizon}d",
        "family": family, "horizon": horizon, "sample": "oos", "position": position,
        "turnover": np.abs(np.diff(position, prepend=0.0)), "gross_usd": net, "cost_usd": 0.0, "net_usd": net,
        "equity_usd": np.cumsum(net), "drawdown_usd": 0.0,
    }).with_columns(pl.col("horizon").cast(pl.Int32))


def test_daily_pnl_metrics_match_a_hand_computation_and_empyrical():
    # net USD 200 -100 300 -200 100 on 1,000 of capital: returns r = .2 -.1 .3 -.2 .1
    #   mean .06; deviations .14 -.16 .24 -.26 .04, squares sum .172, sample variance .172/4 = .043
    #   Sharpe = .06 / sqrt(.043) x sqrt(365); ann_vol = sqrt(.043) x sqrt(365)
    #   downside: min(r, 0)^2 = .01, .04 over 5 days -> mean .01, deviation .1 x sqrt(365);
    #   Sortino = .06 x 365 / (.1 x sqrt(365)) = .6 x sqrt(365)
    #   wealth 1.2 1.08 1.404 1.1232 1.23552: worst fall 1.404 -> 1.1232 = 20 %; ann_return 1.23552^(365/5) - 1
    #   equity USD 200 100 400 200 300, peak 200 200 400 400 400: max drawdown 200 USD
    #   position 1 1 -1 0 .5: in the market 4 of 5 days, winning on 3 of those 4 (day 4's -200 is flat)
    net, position, turnover = [200, -100, 300, -200, 100], [1, 1, -1, 0, 0.5], [1, 0, 2, 1, 0.5]
    r = np.array([0.2, -0.1, 0.3, -0.2, 0.1])
    m = daily_pnl_metrics(net, 1_000.0, position=position, turnover=turnover)
    assert m["n_days"] == 5 and m["pnl"] == 300.0
    assert m["sharpe"] == pytest.approx(0.06 / np.sqrt(0.043) * np.sqrt(365))
    assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, annualization=365))
    assert m["ann_vol"] == pytest.approx(np.sqrt(0.043) * np.sqrt(365))
    assert m["ann_vol"] == pytest.approx(empyrical.annual_volatility(r, annualization=365))
    assert m["sortino"] == pytest.approx(0.6 * np.sqrt(365))
    assert m["sortino"] == pytest.approx(empyrical.sortino_ratio(r, annualization=365))
    assert m["ann_return"] == pytest.approx(1.23552 ** 73 - 1)
    assert m["ann_return"] == pytest.approx(empyrical.annual_return(r, annualization=365))
    assert m["max_drawdown"] == pytest.approx(0.2)
    assert m["max_drawdown"] == pytest.approx(-empyrical.max_drawdown(r))
    assert m["max_drawdown_pnl"] == 200.0
    assert m["exposure"] == pytest.approx(4 / 5) and m["hit_rate"] == pytest.approx(3 / 4)
    assert m["turnover"] == pytest.approx(4.5 / 5)
    # returns given directly (capital 1): the same scale-free statistics; no position, no turnover keys
    direct = daily_pnl_metrics(r)
    assert direct["sharpe"] == pytest.approx(m["sharpe"]) and direct["max_drawdown"] == pytest.approx(0.2)
    assert direct["max_drawdown_pnl"] == pytest.approx(0.2)  # cumulative .2 .1 .4 .2 .3 from its .4 peak
    assert not {"exposure", "hit_rate", "turnover"} & set(direct)
    # 252 periods a year scales Sharpe by sqrt(252 / 365)
    assert daily_pnl_metrics(net, 1_000.0, 252)["sharpe"] == pytest.approx(m["sharpe"] * np.sqrt(252 / 365))
    flat = daily_pnl_metrics([50.0] * 4, 1_000.0)
    assert np.isnan(flat["sharpe"]) and np.isnan(flat["sortino"]) and flat["max_drawdown_pnl"] == 0.0


@pytest.mark.parametrize("module", ["dvol_pipeline.quant.evaluate.strategy", "dvol_pipeline.quant.universe.strategy",
                                    "dvol_pipeline.quant.options.ivrank.metrics"])
def test_each_lane_imports_the_strategy_statistics_first(module):
    """The DVOL-futures backtest package imports evaluate.strategy, so evaluate.strategy must
    not import that package at module level, or a process importing a lane first breaks."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_metrics_match_a_hand_computation():
    daily = daily_rows([100, -50, 200, 0, -100], [1, 1, -1, 0, 0.5])
    jumps = pl.DataFrame({"date": [START + timedelta(days=i) for i in range(5)], "asset": "BTC",
                          "jump_day": [False, True, False, False, True]})
    m = strategy_metrics(daily, capital_usd=1_000.0, jump_days=jumps, all_assets=False).row(0, named=True)
    r = np.array([0.1, -0.05, 0.2, 0.0, -0.1])
    std = np.sqrt((0.07**2 + 0.08**2 + 0.17**2 + 0.03**2 + 0.13**2) / 4)  # mean 0.03, ddof 1
    assert m["sharpe"] == pytest.approx(0.03 / std * np.sqrt(365))
    assert m["sortino"] == pytest.approx(0.03 * 365 / (np.sqrt((0.05**2 + 0.1**2) / 5) * np.sqrt(365)))
    assert m["ann_vol"] == pytest.approx(std * np.sqrt(365))
    assert m["ann_return"] == pytest.approx(np.prod(1 + r) ** (365 / 5) - 1)
    assert m["max_drawdown_usd"] == 100.0  # equity 100 50 250 250 150
    assert m["max_drawdown_pct"] == pytest.approx(10.0)  # compounded: the last day loses 10 % from the peak
    assert m["turnover"] == pytest.approx((1 + 0 + 2 + 1 + 0.5) / 5)
    assert m["exposure"] == pytest.approx(4 / 5)
    assert m["hit_rate"] == pytest.approx(2 / 4)  # active days: +100 -50 +200 -100
    assert m["jump_days"] == 2 and m["jump_tail_mean_usd"] == pytest.approx(-75.0)
    assert m["jump_tail_p5_usd"] == pytest.approx(-100 + 0.05 * 50)
    assert m["net_usd"] == 150.0 and m["n_days"] == 5


def test_both_coins_rows_sum_the_coins():
    btc = daily_rows([100, -50, 200], [1, 1, 0])
    eth = daily_rows([-20, 10, 30], [0, -1, -1], asset="ETH")
    table = strategy_metrics(pl.concat([btc, eth]), capital_usd=1_000.0)
    both = table.filter(pl.col("asset") == "ALL").row(0, named=True)
    assert both["net_usd"] == 270.0 and both["exposure"] == 1.0
    r = np.array([80, -40, 230]) / 2_000  # capital doubles with two coins
    assert both["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, annualization=365))
    years = by_year(pl.concat([btc, eth]), capital_usd=1_000.0)
    assert years["year"].unique().to_list() == [2024]


def test_array_sharpe_is_empyricals():
    rng = np.random.default_rng(0)
    net = rng.normal(10, 100, (3, 50))
    active = np.ones((3, 50), bool)
    active[1, :20] = False
    got = sharpe(net, where=active)
    for row in range(3):
        want = empyrical.sharpe_ratio(net[row][active[row]], annualization=365)
        assert got[row] == pytest.approx(want)
    assert np.isnan(sharpe(np.zeros((1, 10)), where=np.ones((1, 10), bool))[0])


def families(days: int = 182):
    """har is the baseline; garch beats it on Sharpe and drawdown; ensemble too, less so;
    lstm has the best Sharpe but a deep early drawdown."""
    rng = np.random.default_rng(1)
    e = rng.normal(0, 1_000, days)
    crash = np.zeros(days)
    crash[10] = -40_000
    nets = {"har": e + 20, "garch": 0.5 * e + 60, "ensemble": 0.5 * e + 40, "lstm": 0.8 * e + 400 + crash}
    pos = np.ones(days)
    return {f: daily_rows(n, pos, family=f) for f, n in nets.items()}


def test_promotion_picks_the_best_family_that_beats_har_on_both():
    frames = families()
    decision, evidence = promote(pl.concat(frames.values()), "2024-05")
    ev = {r["family"]: r for r in evidence.iter_rows(named=True)}
    assert ev["lstm"]["beats_har_sharpe"] and not ev["lstm"]["beats_har_drawdown"] and not ev["lstm"]["eligible"]
    assert ev["garch"]["eligible"] and ev["ensemble"]["eligible"] and not ev["har"]["eligible"]
    assert ev["garch"]["net_sharpe"] > ev["ensemble"]["net_sharpe"]
    assert decision.row(0, named=True)["promoted_family"] == "garch"
    assert "garch beats har" in decision["reason"][0]


def test_har_stays_when_no_family_beats_it_on_both():
    frames = families()
    decision, evidence = promote(pl.concat([frames["har"], frames["lstm"]]), "2024-05")
    assert decision["promoted_family"].to_list() == ["har"] and not evidence["eligible"].any()
    assert "har stays" in decision["reason"][0]


def test_promotion_ignores_the_fold_and_later():
    frames = families()
    cut = pl.col("date") >= date(2024, 4, 30)  # P&L realised from May 1 on
    late_loss = frames["garch"].with_columns(net_usd=pl.when(cut).then(-1e6).otherwise(pl.col("net_usd")))
    late_loss = late_loss.with_columns(equity_usd=pl.col("net_usd").cum_sum())
    decision, _ = promote(pl.concat([frames["har"], late_loss, frames["lstm"]]), "2024-05")
    assert decision["promoted_family"].to_list() == ["garch"]
    decision, _ = promote(pl.concat([frames["har"], late_loss, frames["lstm"]]), "2024-06")
    assert decision["promoted_family"].to_list() == ["har"]


def test_promotion_from_a_metrics_table():
    metrics = pl.DataFrame({"horizon": [1, 1, 1], "family": ["har", "garch", "zero"], "asset": "ALL",
                            "sharpe": [0.5, 0.8, None], "max_drawdown_usd": [10_000.0, 8_000.0, 0.0],
                            "exposure": [0.5, 0.6, 0.0]})
    decision, evidence = promote(metrics, "2024-05")
    assert decision["promoted_family"].to_list() == ["garch"]
    assert not evidence.filter(pl.col("family") == "zero")["eligible"].item()  # never traded


def market_and_predictions(seed: int = 2, days: int = 120):
    rng = np.random.default_rng(seed)
    dates = [START + timedelta(days=i) for i in range(days + 1)]
    dvol = 60 + np.cumsum(rng.normal(0, 3, days + 1))
    market = pl.DataFrame({"date": dates, "asset": "BTC", "dvol": dvol, "jump_1d": rng.uniform(0, 1, days + 1),
                           "funding_mean": rng.normal(1, 0.5, days + 1)})
    preds = pl.concat([
        pl.DataFrame({"date": dates[:days], "asset": "BTC", "horizon": h, "family": "har",
                      "fold": [d.strftime("%Y-%m") for d in dates[:days]],
                      "y_hat": (dvol[1:] - dvol[:-1]) * 0.3 + rng.normal(0, 2, days), "y": 0.0})
        for h in (1, 7)
    ]).with_columns(pl.col("horizon").cast(pl.Int32))
    return preds, market


def test_noise_free_draws_reproduce_the_base_run():
    preds, market = market_and_predictions()
    cfg = BacktestConfig(robustness=RobustnessConfig(dvol_noise_sd=0.0, funding_noise_sd=0.0, draws=3,
                                                     sweep_taus=(1.0,)))
    result = run_futures_backtest(preds, market, cfg)
    joined = result.robustness.join(result.metrics, on=["strategy", "family", "horizon", "asset"])
    assert joined.height == 4  # two horizons x (BTC, ALL)
    np.testing.assert_allclose(joined["sharpe_p5"], joined["sharpe"])
    np.testing.assert_allclose(joined["sharpe_p95"], joined["sharpe"])
    np.testing.assert_allclose(joined["net_usd_mean"], joined["net_usd"])


def test_noise_draws_are_seeded():
    preds, market = market_and_predictions()
    cfg = BacktestConfig(robustness=RobustnessConfig(draws=4, sweep_taus=(1.0,)), run_sweep=False)
    first = run_futures_backtest(preds, market, cfg).robustness
    assert first.equals(run_futures_backtest(preds, market, cfg).robustness)
    other = replace(cfg, robustness=replace(cfg.robustness, seed=8))
    assert not first.equals(run_futures_backtest(preds, market, other).robustness)
    assert (first["sharpe_p95"] > first["sharpe_p5"]).all()


def test_sweep_point_equals_a_backtest_at_that_fixed_tau():
    preds, market = market_and_predictions()
    no_path = RiskConfig(daily_stop_usd=None, kill_drawdown_usd=None)
    cfg = BacktestConfig(risk=no_path, robustness=RobustnessConfig(sweep_taus=(0.5, 2.0)), run_robustness=False)
    sweep = run_futures_backtest(preds, market, cfg).sweep.filter(pl.col("asset") == "BTC")
    for tau in (0.5, 2.0):
        multiple = tau / cfg.costs.round_trip
        fixed = replace(cfg, thresholds=ThresholdConfig(grid_multiples=(multiple,), default_multiple=multiple),
                        run_sweep=False)
        want = run_futures_backtest(preds, market, fixed).metrics.filter(pl.col("asset") == "BTC").sort("horizon")
        got = sweep.filter((pl.col("tau") == tau) & (pl.col("cost_mult") == 1.0)).sort("horizon")
        np.testing.assert_allclose(got["net_usd"], want["net_usd"])
        np.testing.assert_allclose(got["sharpe"], want["sharpe"])
    for _, cell in sweep.group_by("horizon", "tau"):
        assert np.all(np.diff(cell.sort("cost_mult")["net_usd"].to_numpy()) <= 0)


def test_cost_free_run_costs_nothing():
    preds, market = market_and_predictions()
    cfg = BacktestConfig(costs=CostModel(0.0, 0.0, 0.0), run_sweep=False, run_robustness=False)
    result = run_futures_backtest(preds, market, cfg)
    assert result.daily["cost_usd"].abs().max() == 0
    assert (result.metrics["net_usd"] == result.metrics["gross_usd"]).all()
