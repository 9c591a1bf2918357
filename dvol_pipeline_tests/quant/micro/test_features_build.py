"""build_features end to end on small frames: joins, calendar, missing inputs, the look-ahead check,
the daily roll-up and the docs table."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.micro.features import (NAMES, build_features, daily_rollup, features_markdown,
                                                lookahead_check, missing_features)
from dvol_pipeline_tests.bench.bench_micro_features import synthetic_bars

T0 = datetime(2024, 3, 31, 22, 0, tzinfo=timezone.utc)
UTC = pl.Datetime("ns", "UTC")


def _bars(rows: int = 400) -> pl.DataFrame:
    return pl.concat([synthetic_bars(rows, 0, "BTCUSDT", "sim_usdm", T0, 60, 60_000.0, "1m"),
                      synthetic_bars(rows, 1, "BTCUSDT", "sim_spot", T0, 60, 60_000.0, "1m"),
                      synthetic_bars(rows, 2, "ETHUSDT", "sim_usdm", T0, 60, 3_000.0, "1m")])


def _ticker() -> pl.DataFrame:
    ts = pl.datetime_range(T0, T0 + pl.duration(hours=8), "10m", eager=True, time_unit="ns")
    return pl.DataFrame({"ts_local": ts}).with_columns(
        ts_exchange="ts_local", venue=pl.lit("sim_usdm"), symbol=pl.lit("BTCUSDT"), mark_price=60_030.0,
        index_price=60_000.0, funding_rate=1e-4, funding_time=pl.lit(datetime(2024, 4, 1, tzinfo=timezone.utc)),
        funding_interval_hours=pl.lit(8, pl.Int32), open_interest=1_000.0).with_columns(
        pl.col("funding_time").cast(UTC))


def _liquidations() -> pl.DataFrame:
    ts = [T0.replace(minute=0, second=30), T0.replace(minute=1), T0.replace(minute=5, second=1)]
    return pl.DataFrame({"ts_local": pl.Series(ts).cast(UTC), "venue": "sim_usdm", "symbol": "BTCUSDT",
                         "side": "sell", "price": 60_000.0, "size": [1.0, 2.0, 3.0], "notional": [10.0, 20.0, 30.0]})


@pytest.fixture(scope="module")
def built() -> pl.DataFrame:
    return build_features(_bars(), _ticker(), _liquidations(), "1m")


def test_one_row_per_bar_with_every_registry_feature(built):
    assert built.columns == ["ts", "venue", "symbol", "bar", *NAMES]
    assert built.height == 3 * 400 and built["ts"].dtype == UTC
    assert built.select(pl.struct("venue", "symbol", "ts").is_unique().all()).item()


def test_ticker_joined_as_of_the_close(built):
    btc = built.filter(pl.col("venue") == "sim_usdm", pl.col("symbol") == "BTCUSDT")
    first = btc.row(0, named=True)  # bar closing 22:01, ticker row at 22:00
    # hand: 1e4 * 1e-4 = 1 bp; 1e4 * (60030/60000 - 1) = 5 bps; 23:59 before 00:00 is 119 minutes
    assert first["funding_bps"] == pytest.approx(1.0) and first["premium_bps"] == pytest.approx(5.0)
    assert first["time_to_funding_min"] == pytest.approx(119.0) and first["pre_funding"] == 0
    at = btc.filter(pl.col("ts") == datetime(2024, 4, 1, 0, 0, tzinfo=timezone.utc)).row(0, named=True)
    # funding_time 00:00 reached at the close: the next is 8 h later (480 minutes)
    assert at["time_to_funding_min"] == pytest.approx(480.0)
    before = btc.filter(pl.col("ts") == datetime(2024, 3, 31, 23, 45, tzinfo=timezone.utc)).row(0, named=True)
    assert before["pre_funding"] == 1  # 15 minutes to go
    # the spot series reads the usdm perpetual of its coin; ETH has no ticker row
    spot = built.filter(pl.col("venue") == "sim_spot").row(0, named=True)
    assert spot["funding_bps"] == pytest.approx(1.0)
    assert built.filter(pl.col("symbol") == "ETHUSDT")["funding_bps"].null_count() == 400


def test_liquidations_go_to_the_first_bar_closing_at_or_after_them(built):
    btc = built.filter(pl.col("venue") == "sim_usdm", pl.col("symbol") == "BTCUSDT").head(6)
    # hand: 22:00:30 and 22:01:00 -> bar closing 22:01 (10 + 20); 22:05:01 -> bar closing 22:06
    assert btc["liq_notional"].to_list() == [30.0, 0.0, 0.0, 0.0, 0.0, 30.0]


def test_basis_and_btc_cross_features(built):
    usdm = built.filter(pl.col("venue") == "sim_usdm", pl.col("symbol") == "BTCUSDT")
    spot = built.filter(pl.col("venue") == "sim_spot")
    bars = _bars()
    p = bars.filter(pl.col("venue") == "sim_usdm", pl.col("symbol") == "BTCUSDT")["mid_close"][10]
    s = bars.filter(pl.col("venue") == "sim_spot")["mid_close"][10]
    assert usdm["basis_bps"][10] == pytest.approx(1e4 * (p / s - 1), rel=1e-9)
    assert spot["basis_bps"][10] == pytest.approx(usdm["basis_bps"][10])
    eth = built.filter(pl.col("symbol") == "ETHUSDT")
    assert usdm["btc_lead_1"].null_count() == 400 and eth["btc_lead_1"].drop_nulls().len() > 300
    e = np.log(bars.filter(pl.col("symbol") == "ETHUSDT")["mid_close"].to_numpy())
    b = np.log(bars.filter(pl.col("venue") == "sim_usdm", pl.col("symbol") == "BTCUSDT")["mid_close"].to_numpy())
    re, rb = np.diff(e)[-60:], np.diff(b)[-61:-1]  # numpy oracle: ETH's returns against BTC's one bar earlier
    assert eth["btc_lead_1"][-1] == pytest.approx(np.corrcoef(re, rb)[0, 1], rel=1e-9)
    win = (e - b)[-60:]
    assert eth["btc_ratio_z_60"][-1] == pytest.approx((win[-1] - win.mean()) / win.std(ddof=1), rel=1e-9)


def test_calendar_uses_the_interval_the_bar_covers(built):
    row = built.filter(pl.col("ts") == datetime(2024, 4, 1, tzinfo=timezone.utc)).row(0, named=True)
    # the bar closing at 00:00 on 1 April covers 23:59 on Sunday 31 March, the last day of March
    assert (row["hour"], row["weekday"], row["is_month_end"]) == (23, 7, 1)
    nxt = built.filter(pl.col("ts") == datetime(2024, 4, 1, 0, 1, tzinfo=timezone.utc)).row(0, named=True)
    assert (nxt["hour"], nxt["weekday"], nxt["is_month_end"]) == (0, 1, 0)


def test_klines_only_source_lists_and_nulls_the_book_features():
    bars = synthetic_bars(120, 3, "BTCUSDT", "binance_spot", T0, 60, bar="1m")
    book = ["mid_open", "mid_high", "mid_low", "mid_close", "spread_bps", "ofi", "bid_price", "ask_price", "bid_size",
            "ask_size", *[f"{s}_depth_{n}" for n in (5, 10, 20) for s in ("bid", "ask")], "bbo_updates",
            "bid_depletions", "ask_depletions", "cancel_bid", "cancel_ask"]
    bars = bars.with_columns([pl.lit(None, pl.Float64).alias(c) for c in book])
    gone = missing_features(bars)
    assert {"depth_imb_5", "microprice", "ofi_z", "spread_z", "cancel_rate", "vpin_x_spread_z"} <= set(gone)
    assert {"funding_bps", "liq_notional", "btc_lead_1", "basis_bps"} <= set(gone)
    assert not {"rsi_14", "kyle_lambda", "trade_imb", "rv_60", "adx_14", "vwap_dev_bps"} & set(gone)
    f = build_features(bars, bar="1m")
    assert all(f[c].null_count() == f.height for c in gone)
    # the price falls back to the trade close: RSI and ADX exist
    assert f["rsi_14"].drop_nulls().len() > 100 and f["adx_14"].drop_nulls().len() > 90


def test_lookahead_check_passes_on_the_registry_and_catches_a_planted_leak():
    bars, tk, liq = _bars(360), _ticker(), _liquidations()
    clean = lookahead_check(bars, tk, liq, "1m", n_samples=2, seed=1)
    assert clean.passed and clean.n_compared == 6 and clean.violations.height == 0
    # a feature reading the next bar's price: what the check exists to catch
    leak = lookahead_check(bars, tk, liq, "1m", n_samples=2, seed=1,
                           extra_features={"next_price": lambda a: np.append(a["price"][1:], np.nan)})
    assert not leak.passed
    assert set(leak.violations["feature"]) == {"next_price"} and leak.violations.height == 6


def test_daily_rollup_days_end_at_the_cutoff(built):
    daily = daily_rollup(built)
    assert {"date", "asset", "micro_spread_bps", "micro_ofi_z_abs", "micro_vpin", "micro_kyle_lambda", "micro_rv",
            "micro_depth_imbalance_5", "micro_basis_bps"} <= set(daily.columns)
    btc = daily.filter(pl.col("asset") == "BTC").sort("date")
    # bars close 22:01 .. 04:40: 31 March holds closes 22:01..00:00 (120 bars a series, two venues)
    assert btc["date"].to_list()[0].isoformat() == "2024-03-31" and btc["micro_bars"][0] == 240
    usdm = built.filter(pl.col("venue") == "sim_usdm", pl.col("symbol") == "BTCUSDT").head(120)
    spot = built.filter(pl.col("venue") == "sim_spot").head(120)
    want = np.mean([usdm["spread_mean"].mean(), spot["spread_mean"].mean()])  # venue means, then their mean
    assert btc["micro_spread_bps"][0] == pytest.approx(want)
    r = usdm["ret_bps"].drop_nulls().to_numpy() / 100
    rv_usdm = np.sqrt(365 * np.sum(r**2))
    r = spot["ret_bps"].drop_nulls().to_numpy() / 100
    assert btc["micro_rv"][0] == pytest.approx(np.mean([rv_usdm, np.sqrt(365 * np.sum(r**2))]))


def test_the_docs_list_exactly_the_feature_registry():
    root = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
    page = (root / "docs" / "micro" / "features.md").read_text()
    listed = page.split("<!-- features:start -->\n", 1)[1].split("\n<!-- features:end -->", 1)[0]
    assert listed.strip() == features_markdown().strip(), "regenerate docs/micro/features.md from features_markdown()"


def test_deterministic():
    a = build_features(_bars(200), _ticker(), _liquidations(), "1m")
    b = build_features(_bars(200), _ticker(), _liquidations(), "1m")
    assert a.equals(b)
