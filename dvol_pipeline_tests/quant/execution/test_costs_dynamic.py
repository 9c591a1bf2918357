"""The dynamic cost model's components on hand-computed values, and Kyle's lambda on a planted slope."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.execution.costs_dynamic import (
    BINANCE_USDM_FEE_TIERS,
    CostConfig,
    calibration_table,
    estimate_kyle_lambda,
    order_costs,
)

# mid 100, spread 0.02 (half spread 1 bps), sigma 1e-4 per second (1 bps), volume 4 units/s, lambda 0.5 bps/unit
MARKET = {"mid": 100.0, "spread": 0.02, "sigma": 1e-4, "volume_rate": 4.0, "kyle_lambda": 0.5, "vpin": 0.4}
CFG = CostConfig(eta=0.7, beta=0.5, perm_share=0.5, adverse_coef=1.0, markout_s=16.0, horizon_s=100.0)


def costs(style, qty, side=1, cfg=CFG, **extra):
    o = pl.DataFrame({"side": [side], "qty": [qty], "style": [style], **{k: [v] for k, v in extra.items()}})
    return order_costs(o, pl.DataFrame([MARKET]), cfg).row(0, named=True)


def test_binance_vip0_fees_from_the_fee_page():
    # https://www.binance.com/en/fee/futureFee: USDⓈ-M VIP0 maker 0.0200 %, taker 0.0500 %
    assert BINANCE_USDM_FEE_TIERS["VIP0"] == (2.0, 5.0)


def test_aggressive_components_by_hand():
    c = costs("aggressive", 9.0, side=-1)
    assert c["fee_bps"] == 5.0
    assert c["spread_bps"] == pytest.approx(1.0)  # 0.5 * 0.02 / 100 * 1e4
    assert c["temp_impact_bps"] == pytest.approx(0.7 * 1.0 * math.sqrt(9 / 4))  # 1.05
    assert c["perm_move_bps"] == pytest.approx(-4.5)  # 0.5 bps/unit x (-9): a sell pushes the price down
    assert c["perm_bps"] == pytest.approx(2.25)
    assert c["adverse_bps"] == 0.0 and c["opportunity_bps"] == 0.0
    assert c["total_bps"] == pytest.approx(5 + 1 + 1.05 + 2.25)
    assert c["notional"] == 900.0 and c["total_cost"] == pytest.approx(9.3e-4 * 900)


def test_passive_components_by_hand():
    c = costs("passive", 9.0, fill_prob=0.75)
    assert c["fee_bps"] == pytest.approx(0.75 * 2.0)
    assert c["spread_bps"] == pytest.approx(-0.75)  # half spread earned when filled
    assert c["temp_impact_bps"] == 0.0 and c["perm_bps"] == 0.0
    assert c["adverse_bps"] == pytest.approx(0.75 * 0.4 * 1.0 * 4.0)  # vpin x sigma x sqrt(16 s) = 1.6; x p
    assert c["opportunity_bps"] == pytest.approx(0.25 * 1.0 * 10.0 * math.sqrt(2 / math.pi))
    assert c["total_bps"] == pytest.approx(1.5 - 0.75 + 1.2 + 2.5 * math.sqrt(2 / math.pi))


def test_config_fill_prob_tier_and_beta():
    c = costs("passive", 1.0, cfg=CostConfig(passive_fill_prob=1.0, tier="VIP9"))
    assert c["fee_bps"] == 0.0 and c["opportunity_bps"] == 0.0
    c = costs("aggressive", 16.0, cfg=CostConfig(eta=0.142, beta=0.6))
    assert c["temp_impact_bps"] == pytest.approx(0.142 * 4.0 ** 0.6)


def test_costs_scale_exactly_with_the_multiplier():
    for style in ("aggressive", "passive"):
        one, two = costs(style, 3.0), costs(style, 3.0, cfg=replace(CFG, cost_mult=2.0))
        assert two["total_bps"] == pytest.approx(2.0 * one["total_bps"])


def test_market_joined_as_of_the_order():
    market = pl.DataFrame({"ts": [0, 10], **{k: [v, v] for k, v in MARKET.items()}}).with_columns(
        pl.Series("spread", [0.02, 0.04]))
    o = pl.DataFrame({"ts": [5, 12, 10], "side": [1, 1, 1], "qty": [1.0] * 3, "style": ["aggressive"] * 3})
    assert order_costs(o, market)["spread_bps"].to_list() == pytest.approx([1.0, 2.0, 2.0])


def test_calibration_table_shape():
    t = calibration_table()
    assert t.height == 6 and set(t["style"]) == {"aggressive", "passive"}
    big = t.filter((pl.col("style") == "aggressive")).sort("size_usd")["total_bps"].to_list()
    assert big == sorted(big)  # impact grows with size


def test_kyle_lambda_recovers_a_planted_slope_per_regime():
    rng = np.random.default_rng(7)
    n = 4000
    flow = rng.normal(0, 10, n)
    regime = np.where(np.arange(n) % 2 == 0, "calm", "wild")
    lam = np.where(regime == "calm", 0.2, 0.8)
    ret_bps = lam * flow + rng.normal(0, 0.5, n)
    mid = 100.0 * np.cumprod(1 + ret_bps / 1e4)
    bars = pl.DataFrame({"ts": np.arange(n), "symbol": "BTC", "mid_close": mid, "regime": regime,
                         "buy_volume": np.maximum(flow, 0), "sell_volume": np.maximum(-flow, 0)})
    # the return of bar i is mid_i / mid_{i-1}: bar i's own flow, so the slope is the planted lambda
    full = estimate_kyle_lambda(bars, window=None, regime="regime").sort("regime")
    assert full["kyle_lambda"].to_list() == pytest.approx([0.2, 0.8], abs=0.01)
    assert (full["t_stat"] > 50).all()
    rolling = estimate_kyle_lambda(bars, window=200, regime="regime")
    last = rolling.group_by("regime").agg(pl.col("kyle_lambda").last()).sort("regime")
    assert last["kyle_lambda"].to_list() == pytest.approx([0.2, 0.8], abs=0.03)
    assert rolling.filter(pl.col("regime") == "calm")["kyle_lambda"].head(199).null_count() == 199
