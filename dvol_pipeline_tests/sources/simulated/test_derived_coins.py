"""Coins beyond BTC and ETH (SIM3, SIM4, ...): derived parameters, BTC/ETH untouched."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.contracts.validate import validate
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket
from dvol_pipeline.sources.simulated.params import COINS, coin_params, derived_index, scale_coins

START, END = date(2021, 3, 24), date(2021, 4, 6)


def test_names_and_parameters():
    assert scale_coins(2) == ("BTC", "ETH") and scale_coins(4) == ("BTC", "ETH", "SIM3", "SIM4")
    assert [derived_index(c) for c in ("SIM3", "SIM12", "SIM2", "SIM03", "SIMX", "BTC")] == [3, 12, None, None, None, None]
    assert coin_params("BTC") is COINS["BTC"] and coin_params("ETH") is COINS["ETH"]
    btc, eth = COINS["BTC"], COINS["ETH"]
    for k in range(3, 11):
        p = coin_params(f"SIM{k}")
        assert p.coin_id == k
        for f in dataclasses.fields(p):
            if f.name != "coin_id":  # every parameter between BTC's and ETH's
                lo, hi = sorted((getattr(btc, f.name), getattr(eth, f.name)))
                assert lo - 1e-12 <= getattr(p, f.name) <= hi + 1e-12, (k, f.name)
    with pytest.raises(ValueError, match="unknown simulated coin"):
        coin_params("DOGE")


def test_btc_eth_identical_with_extra_coins_and_extra_coins_valid():
    two = SimulatedMarket(SimConfig(), end=END)
    five = SimulatedMarket(SimConfig(coins=scale_coins(5)), end=END)
    for name in ("raw_dvol", "raw_ohlcv", "raw_funding", "raw_onchain"):
        assert two.table(name, START, END).equals(five.table(name, START, END, coins=["BTC", "ETH"])), name
        extra = five.table(name, START, END, coins=["SIM3", "SIM4", "SIM5"])
        assert sorted(extra["asset"].unique()) == ["SIM3", "SIM4", "SIM5"]
        assert validate(RAW_TABLES[name], extra).passed, name
    dvol = five.table("raw_dvol", START, END).group_by("asset").agg(close=__import__("polars").col("close").mean())
    assert dvol["close"].is_between(20, 150).all()
