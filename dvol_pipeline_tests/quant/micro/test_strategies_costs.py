"""The strategies' trades priced by the dynamic cost model: each leg by hand from the model's documented terms."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from dvol_pipeline.quant.micro.strategies.costs import dynamic_cost_fn

T0, T1 = datetime(2024, 3, 1, 10, tzinfo=UTC), datetime(2024, 3, 1, 10, 5, tzinfo=UTC)
NS = pl.Datetime("ns", "UTC")


def test_a_round_trip_costs_its_two_legs():
    market = pl.DataFrame({"venue": ["v", "v"], "symbol": ["BTCUSDT"] * 2, "ts": [T0, T1], "mid": [100.0, 100.0],
                           "spread": [0.02, 0.02], "sigma": [0.001, 0.001], "volume_rate": [100.0, 100.0],
                           "kyle_lambda": [0.0, 0.0], "vpin": [0.3, 0.3]}).with_columns(pl.col("ts").cast(NS))
    trades = pl.DataFrame({"venue": ["v", "v"], "symbol": ["BTCUSDT"] * 2, "entry_ts": [T0, T0], "exit_ts": [T1, T1],
                           "side": [1, 1], "qty": [1.0, 1.0], "execution": ["aggressive", "passive"],
                           "exit_reason": ["mean", "missed"], "legs": [1, 1]}).with_columns(
        pl.col("entry_ts", "exit_ts").cast(NS), pl.col("side").cast(pl.Int8))
    cost = dynamic_cost_fn(market, bar_seconds=60.0)(trades)
    # each aggressive leg: taker fee 5 bps (Binance VIP0) + half the spread 0.5 x 0.02 / 100 = 1 bp
    # + Almgren-Chriss temporary impact eta x sigma x sqrt(qty / volume rate) = 0.7 x 10 bps x sqrt(1/100) = 0.7 bp
    # + no permanent impact (lambda 0): 6.7 bps a leg, 13.4 the round trip; a missed order pays nothing
    assert cost.to_list() == pytest.approx([13.4, 0.0])
