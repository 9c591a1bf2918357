"""tau is chosen on past folds only, and is the best candidate on them."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dvol_pipeline.quant.dvol.backtest import (
    BacktestConfig,
    CostModel,
    RiskConfig,
    ThresholdConfig,
    build_panel,
    select_taus,
)
from dvol_pipeline.quant.dvol.backtest.threshold import thresholds_frame

START, DAYS = date(2024, 1, 1), 152  # Jan .. May 2024 (+1 mark)
FOLD = "2024-04"
CFG = BacktestConfig(
    costs=CostModel(fee_vol=0.05, half_spread_vol=0.2, slippage_vol=0.05),  # round trip 0.6
    risk=RiskConfig(position_cap=None, guardrail=False, daily_stop_usd=None, kill_drawdown_usd=None),
    run_sweep=False, run_robustness=False,
    contract=None,  # the naive loop below trades the index (listed futures: test_backtest_listing.py)
)


def synthetic(seed: int = 11):
    """Two coins, two families at 1d and 7d; forecasts are noisy looks at the future change."""
    rng = np.random.default_rng(seed)
    days = [START + timedelta(days=i) for i in range(DAYS + 14)]
    preds, market = [], []
    for asset in ("BTC", "ETH"):
        dvol = 60 + np.cumsum(rng.normal(0, 3, len(days)))
        market.append(pl.DataFrame({"date": days, "asset": asset, "dvol": dvol, "jump_1d": rng.uniform(0, 1, len(days)),
                                    "funding_mean": rng.normal(1, 0.5, len(days))}))
        for h in (1, 7):
            y = dvol[h:] - dvol[:-h]
            for family, noise in (("har", 2.0), ("lstm", 6.0)):
                preds.append(pl.DataFrame({
                    "date": days[:DAYS], "asset": asset, "horizon": h, "family": family,
                    "fold": [d.strftime("%Y-%m") for d in days[:DAYS]],
                    "y_hat": 0.5 * y[:DAYS] + rng.normal(0, noise, DAYS), "y": y[:DAYS],
                }))
    return pl.concat(preds).with_columns(pl.col("horizon").cast(pl.Int32)), pl.concat(market)


def thresholds(preds, market, cfg=CFG):
    panel = build_panel(preds, market, cfg)
    return thresholds_frame(panel, select_taus(panel, cfg)).sort("family", "horizon", "asset", "fold")


def test_changing_the_traded_month_never_changes_its_tau():
    preds, market = synthetic()
    before = thresholds(preds, market)
    cut = date(2024, 4, 1)
    rng = np.random.default_rng(99)
    in_k = pl.col("date") >= cut
    scrambled_preds = preds.with_columns(
        y_hat=pl.when(in_k).then(pl.lit(rng.normal(0, 10, preds.height))).otherwise(pl.col("y_hat")),
        y=pl.when(in_k).then(-pl.col("y")).otherwise(pl.col("y")),
    )
    scrambled_market = market.with_columns(
        dvol=pl.when(in_k).then(pl.lit(rng.uniform(20, 150, market.height))).otherwise(pl.col("dvol"))
    )
    after = thresholds(scrambled_preds, scrambled_market)
    cols = ["family", "horizon", "asset", "fold", "tau", "in_sample_sharpe", "in_sample_days", "tau_source"]
    up_to_k = pl.col("fold") <= FOLD
    # the panels differ after the cut, so the past folds' Sharpes are recomputed: equal to rounding
    assert_frame_equal(before.filter(up_to_k).select(cols), after.filter(up_to_k).select(cols),
                       check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    later = [f.filter(~up_to_k)["in_sample_sharpe"].to_numpy().astype(float) for f in (before, after)]
    assert not np.allclose(*later, rtol=1e-6, equal_nan=True)
    k = before.filter(pl.col("fold") == FOLD)
    assert (k["tau_source"] == "past_folds").all() and k["tau"].n_unique() > 1  # a real choice was made


def test_tau_uses_only_pnl_realised_before_the_fold():
    preds, market = synthetic()
    table = thresholds(preds, market).filter(pl.col("fold") == FOLD)
    # rows dated up to Mar 30 earn the move to Mar 31 at the latest: Jan 1 .. Mar 30 = 90 days
    assert table["in_sample_days"].unique().to_list() == [(date(2024, 3, 30) - START).days + 1]
    early = thresholds(preds, market).filter(pl.col("fold") == "2024-01")
    assert (early["tau_source"] == "default").all() and early["tau"].to_list() == pytest.approx([0.6] * early.height)
    assert early["in_sample_sharpe"].is_null().all()


def naive_insample_sharpe(y_hat, change, tau, h, per_unit, n_days):
    """Day-by-day reference: signal, mean of the last h signals, cost on the change."""
    sig = [(1 if (v > 0 and v >= tau) else -1 if (v < 0 and v <= -tau) else 0) for v in y_hat[:n_days]]
    pos = [sum(sig[max(0, t - h + 1) : t + 1]) / h for t in range(n_days)]
    prev, net = 0.0, []
    for t in range(n_days):
        net.append(pos[t] * change[t] - abs(pos[t] - prev) * per_unit)
        prev = pos[t]
    net = np.array(net)
    return 0.0 if net.std() == 0 else net.mean() / net.std(ddof=1) * np.sqrt(365)


@pytest.mark.parametrize("h", [1, 7])
def test_chosen_tau_maximises_past_sharpe_like_a_naive_loop(h):
    preds, market = synthetic(seed=4)
    one = preds.filter((pl.col("asset") == "ETH") & (pl.col("family") == "har") & (pl.col("horizon") == h))
    chosen = thresholds(one, market).filter(pl.col("fold") == FOLD).row(0, named=True)
    y_hat = one.sort("date")["y_hat"].to_numpy()
    dv = market.filter(pl.col("asset") == "ETH").sort("date")["dvol"].to_numpy()
    change, n_days = dv[1:] - dv[:-1], chosen["in_sample_days"]
    grid = CFG.costs.round_trip * np.array(CFG.thresholds.grid_multiples)
    scores = [naive_insample_sharpe(y_hat, change, tau, h, CFG.costs.per_unit, n_days) for tau in grid]
    best = max(range(len(grid)), key=lambda i: (round(scores[i], 9), i))
    assert chosen["tau"] == pytest.approx(grid[best])
    assert chosen["in_sample_sharpe"] == pytest.approx(scores[best])


def test_net_objective_picks_the_most_profitable_tau():
    preds, market = synthetic(seed=8)
    one = preds.filter((pl.col("asset") == "BTC") & (pl.col("family") == "lstm") & (pl.col("horizon") == 1))
    cfg = BacktestConfig(costs=CFG.costs, risk=CFG.risk, thresholds=ThresholdConfig(objective="net"))
    panel = build_panel(one, market, cfg)
    choice = select_taus(panel, cfg)
    k = choice.folds.index(FOLD)
    y_hat = one.sort("date")["y_hat"].to_numpy()
    dv = market.filter(pl.col("asset") == "BTC").sort("date")["dvol"].to_numpy()
    n_days = int(choice.insample_days[0, k])
    grid = cfg.costs.round_trip * np.array(cfg.thresholds.grid_multiples)
    totals = []
    for tau in grid:
        sig = np.where((y_hat > 0) & (y_hat >= tau), 1, np.where((y_hat < 0) & (y_hat <= -tau), -1, 0))[:n_days]
        net = sig * (dv[1:] - dv[:-1])[:n_days] - np.abs(np.diff(sig, prepend=0)) * cfg.costs.per_unit
        totals.append(net.sum())
    assert choice.tau[0, k] == pytest.approx(grid[int(np.argmax(totals))])


def test_unknown_objective_is_rejected():
    preds, market = synthetic()
    cfg = BacktestConfig(thresholds=ThresholdConfig(objective="sortino"))
    with pytest.raises(ValueError, match="objective"):
        select_taus(build_panel(preds, market, cfg), cfg)
