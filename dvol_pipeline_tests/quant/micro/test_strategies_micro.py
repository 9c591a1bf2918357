"""Microstructure mean reversion, the metrics table and the cost multipliers."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.micro.strategies import MicroConfig, strategy_metrics_table
from dvol_pipeline.quant.micro.strategies.microstructure import run_strategy
from dvol_pipeline.quant.stats import annual_return, max_drawdown, sharpe, sortino

from .strat_frames import frame, ts

OFI = [0.0, 0.0, 3.0, 0.2, 0.0, 0.0]


def test_fade_ofi_overshoot():
    # ofi_z 3 > 2.5 at bar 2 -> short at bar 3 (101); |0.2| < 0.5 at bar 3 -> exit at bar 4 (100.5):
    # gross = -(100.5/101 - 1) 1e4 = 49.505 bps
    run = run_strategy(frame([100, 100, 101, 101, 100.5, 100.5], ofi_z=OFI, vpin=0.3))
    row = run.trades.row(0, named=True)
    assert (row["side"], row["entry_ts"], row["exit_ts"], row["exit_reason"]) == (-1, ts(3), ts(4), "mean")
    assert row["gross_bps"] == pytest.approx(-(100.5 / 101 - 1) * 1e4)


def test_toxic_flow_and_model_filter():
    prices = [100, 100, 101, 101, 100.5, 100.5]
    assert run_strategy(frame(prices, ofi_z=OFI, vpin=0.8)).trades.height == 0  # VPIN 0.8 >= 0.5
    assert run_strategy(frame(prices, ofi_z=OFI, vpin=0.3, p_up=0.6)).trades.height == 0  # short needs p_up <= 0.45
    assert run_strategy(frame(prices, ofi_z=OFI, vpin=0.3, p_up=0.4)).trades.height == 1
    off = MicroConfig(use_p_up=False)
    assert run_strategy(frame(prices, ofi_z=OFI, vpin=0.3, p_up=0.6), off).trades.height == 1


def _multi_day_run():
    rng = np.random.default_rng(3)
    n = 3 * 1440
    start = datetime(2024, 3, 1, 0, 1, tzinfo=timezone.utc)
    p = list(100 * np.exp(np.cumsum(rng.normal(0, 5e-4, n))))
    z = list(rng.normal(0, 1.2, n))
    regime = ["low" if (i // 720) % 2 else "high" for i in range(n)]
    f = frame(p, start=start, ofi_z=z, vpin=0.2).with_columns(regime=pl.Series(regime))
    return run_strategy(f, MicroConfig(entry_k=2.0, hold_minutes=3))


def test_metrics_equal_shared_statistics_and_costs_scale_linearly():
    run = _multi_day_run()
    table = strategy_metrics_table([run])
    bars = run.bar_pnl.with_columns(day=(pl.col("ts") - pl.duration(nanoseconds=1)).dt.date())
    for mult in (0.5, 1.0, 1.5, 2.0, 3.0):
        # oracle: the daily sums computed here, then quant.stats on them
        daily = bars.group_by("day", maintain_order=True).agg(
            ((pl.col("gross_bps") + pl.col("funding_bps") - mult * pl.col("cost_bps")).sum() / 1e4).alias("r"))
        r = daily["r"].to_numpy()
        row = table.filter((pl.col("regime") == "all") & (pl.col("cost_mult") == mult)).row(0, named=True)
        assert row["sharpe"] == pytest.approx(sharpe(r))
        assert row["sortino"] == pytest.approx(sortino(r))
        assert row["annual_return"] == pytest.approx(annual_return(r))
        assert row["max_drawdown"] == pytest.approx(max_drawdown(r, compounded=True))
        assert row["net_return"] == pytest.approx(r.sum())
    # net return is linear in the multiplier: net(m) = gross - m x total cost
    allr = table.filter(pl.col("regime") == "all").sort("cost_mult")
    cost = run.bar_pnl["cost_bps"].sum() / 1e4
    gross = (run.bar_pnl["gross_bps"].sum() + run.bar_pnl["funding_bps"].sum()) / 1e4
    assert cost > 0
    np.testing.assert_allclose(allr["net_return"].to_numpy(), gross - allr["cost_mult"].to_numpy() * cost, rtol=1e-9)
    assert allr["trades"].n_unique() == 1 and allr["trades"][0] == run.trades.height
    assert set(table["regime"]) == {"all", "high", "low"}
    per_regime = table.filter((pl.col("regime") != "all") & (pl.col("cost_mult") == 1.0))["trades"].sum()
    assert per_regime == run.trades.height
