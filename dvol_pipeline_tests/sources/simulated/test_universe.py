"""Stylised facts of the simulated universe (the cross-section a desk sees), and its consistency
with the simulated market's BTC and ETH."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from scipy import stats

from dvol_pipeline.contracts.universe import validate_universe
from dvol_pipeline.quant.universe.symbols import symbol_table
from dvol_pipeline.sources.simulated.market import SimConfig, SimulatedMarket
from dvol_pipeline.sources.simulated.universe import (UniverseConfig, bad_print, known_events,
                                                      simulate_universe)

CFG = UniverseConfig(n_coins=24, start=date(2021, 3, 24), end=date(2023, 6, 30))


@pytest.fixture(scope="module")
def universe() -> pl.DataFrame:
    return simulate_universe(CFG)


@pytest.fixture(scope="module")
def per_coin(universe) -> pl.DataFrame:
    raw = validate_universe(universe, known_events(CFG)).valid
    btc = raw.filter(pl.col("symbol") == "BTC").select("date", pl.col("close").log().diff().alias("btc"))
    r = raw.sort("symbol", "date").with_columns(pl.col("close").log().diff().over("symbol").alias("r")).join(btc, on="date")
    return r.filter(pl.col("symbol").str.starts_with("ALT")).group_by("symbol").agg(
        (pl.col("r").std() * np.sqrt(365)).alias("vol"), pl.col("market_cap").median().log10().alias("log_cap"),
        (pl.col("r").abs() / pl.col("volume_quote")).median().alias("amihud"),
        (pl.cov("r", "btc") / pl.col("btc").var()).alias("beta"), pl.col("r").kurtosis().alias("kurt"),
        pl.corr(pl.col("r").abs(), pl.col("r").abs().shift(1)).alias("acf_abs"))


def test_market_caps_span_four_orders_of_magnitude(universe):
    caps = universe.group_by("symbol").agg(pl.col("market_cap").median())["market_cap"]
    assert np.log10(caps.max() / caps.min()) >= 3.5


def test_volatility_and_illiquidity_grow_as_size_falls(per_coin):
    assert stats.spearmanr(per_coin["vol"], per_coin["log_cap"]).statistic < -0.5
    assert stats.spearmanr(per_coin["amihud"], per_coin["log_cap"]).statistic < -0.5


def test_altcoins_load_on_btc_with_fat_tails_and_clustered_vol(per_coin):
    assert 0.7 < per_coin["beta"].median() < 2.0
    assert per_coin["kurt"].median() > 1.0  # excess kurtosis: fatter than normal
    assert per_coin["acf_abs"].median() > 0.05


def test_listings_delistings_and_stablecoins(universe):
    symbols = symbol_table(validate_universe(universe, known_events(CFG)).valid)
    assert symbols["listed_in_history"].sum() >= 2 and symbols["delisted"].sum() >= 1
    stable = symbols.filter(pl.col("stablecoin"))["symbol"].to_list()
    assert stable == ["DAI", "USDC", "USDT"]
    r = universe.filter(pl.col("symbol").is_in(stable)).sort("symbol", "date").with_columns(
        pl.col("close").log().diff().over("symbol").alias("r"))
    assert r.group_by("symbol").agg(pl.col("r").std() * np.sqrt(365))["r"].max() < 0.05
    assert symbols.filter(pl.col("stablecoin"))["modelled"].sum() == 0


def test_btc_and_eth_are_the_simulated_market_spot_closes(universe):
    market = SimulatedMarket(SimConfig(seed=CFG.seed, start=CFG.start), end=CFG.end)
    bars = market.table("raw_ohlcv", CFG.start, CFG.end, ["BTC"]).filter(pl.col("kind") == "spot")
    last = bars.group_by(pl.col("ts").dt.date().alias("date")).agg(pl.col("close").sort_by("ts").last()).sort("date")
    ours = universe.filter(pl.col("symbol") == "BTC").sort("date")
    assert ours["date"].to_list() == last["date"].to_list()
    np.testing.assert_allclose(ours["close"].to_numpy(), last["close"].to_numpy())


def test_deterministic_and_the_planted_bad_print_is_quarantined_but_the_known_pump_is_not(universe):
    assert simulate_universe(CFG).equals(universe)
    report = validate_universe(universe, known_events(CFG))
    sym, day = bad_print(CFG)
    assert report.rejected.select("symbol", "date").rows() == [(sym, str(day))]
    assert "500 %" in report.rejected["reason"][0]
    pump_sym, pump_day = known_events(CFG)[0]
    assert validate_universe(universe).rejected.filter(pl.col("symbol") == pump_sym)["date"].to_list() == [str(pump_day)]


def test_a_history_too_short_for_listings_and_delistings_is_refused_by_name():
    """Delistings fall between day int(0.6 n) and day n − 60: 150 days leave none (int(90.0) = 90 = 150 − 60),
    151 days leave one (int(90.6) = 90 < 91). Shorter ranges used to fail inside numpy ("low >= high")."""
    short = UniverseConfig(n_coins=12, start=date(2024, 1, 1), end=date(2024, 5, 29))  # 150 days
    with pytest.raises(ValueError, match=r"at least 151 days, 2024-01-01\.\.2024-05-29 has 150"):
        simulate_universe(short)
    enough = simulate_universe(UniverseConfig(n_coins=12, start=date(2024, 1, 1), end=date(2024, 5, 30)))
    assert enough["date"].min() == date(2024, 1, 1) and enough["date"].max() == date(2024, 5, 30)
