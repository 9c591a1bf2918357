"""features_daily: content, groups, estimators, labels and determinism.

One simulated market (2021-03-24 .. 2022-06-30, both coins) is built per module.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal, assert_series_equal

from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.quant.dvol.features import FEATURES, GROUPS, LABELS, FeatureSet, build_features, features_markdown
from dvol_pipeline.quant.dvol.features import garch as garch_mod
from dvol_pipeline.quant.pricing.surface import build_surfaces
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

# Two different computation paths (other input tables, other bar kinds) that must agree on
# a value agree to rounding, not to the bit; re-runs of one path (test_deterministic) stay exact.
CLOSE = {"check_exact": False, "rel_tol": 1e-12, "abs_tol": 1e-12}

START, END = date(2021, 3, 24), date(2022, 6, 30)
TABLES = ("raw_dvol", "raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain")
GROUP_TABLE = {"funding": "raw_funding", "flow": "raw_options_summary", "onchain": "raw_onchain",
               "surface": "surface_features", "micro": "micro_daily"}


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket(SimConfig(), end=END)


@pytest.fixture(scope="module")
def tables(market) -> dict[str, pl.DataFrame]:
    out = {name: market.table(name, START, END) for name in TABLES}
    # the surface group reads the option_surface asset's table, built from the chains
    out["surface_features"] = build_surfaces(market.table("raw_option_chain", START, END)).features
    # the micro group: the micro lane's roll-up, on the last days only (tick data covers few days)
    days = [END - timedelta(days=k) for k in (2, 1, 0)]
    out["micro_daily"] = pl.DataFrame({"date": days * 2, "asset": ["BTC"] * 3 + ["ETH"] * 3, **{
        f.name: [0.1 * (k + 1) for k in range(6)] for f in FEATURES if f.group == "micro"}})
    return out


@pytest.fixture(scope="module")
def full(tables) -> FeatureSet:
    return build_features(tables)


def daily_bars(ohlcv: pl.DataFrame, kind: str = "spot") -> pl.DataFrame:
    """What a CryptoDataDownload daily file gives: one 1d bar per day, stamped at 00:00 UTC."""
    return (
        ohlcv.filter(pl.col("kind") == kind)
        .sort("asset", "ts")
        .group_by("asset", "venue", "instrument", "kind", pl.col("ts").dt.truncate("1d"), maintain_order=True)
        .agg(
            pl.col("open").first(), pl.col("high").max(), pl.col("low").min(), pl.col("close").last(),
            pl.col("volume").sum(), pl.col("volume_quote").sum(), pl.col("trade_count").sum(),
        )
        .with_columns(interval=pl.lit("1d"))
        .select(RAW_TABLES["raw_ohlcv"].names)
    )


def per_asset(frame: pl.DataFrame, asset: str) -> pl.DataFrame:
    return frame.filter(pl.col("asset") == asset).sort("date")


# --- registry -----------------------------------------------------------------------------
def test_registry_describes_every_column_of_a_full_build(full):
    names = [f.name for f in FEATURES]
    assert full.frame.columns == ["date", "asset", *names, *LABELS.values()]
    assert full.groups_used == GROUPS
    for f in FEATURES:
        assert f.name and f.definition and "\n" not in f.definition
        assert f.group in GROUPS and f.lag_days >= 0
        assert all(t in RAW_TABLES or t in ("surface_features", "micro_daily") for t in f.tables), f
    md = features_markdown()
    assert all(f"`{n}`" in md for n in names)
    assert len(md.strip().splitlines()) == 2 + len(FEATURES) + len(LABELS)


def test_one_row_per_day_and_asset(full, tables):
    f = full.frame
    assert f.schema["date"] == pl.Date
    assert f.select("date", "asset").is_duplicated().sum() == 0
    assert f.height == tables["raw_dvol"].height
    assert f.select("asset", "date").rows() == sorted(f.select("asset", "date").rows(), key=lambda r: (r[1], r[0]))


# --- stylised sanity on the simulated market ----------------------------------------------
@pytest.mark.parametrize("asset", ["BTC", "ETH"])
def test_realised_vol_matches_the_simulators_vol(full, market, asset):
    f = per_asset(full.frame, asset)
    model = 100 * math.sqrt(float(np.mean(market.paths[asset].vol_b[: 24 * market.n_days] ** 2)))
    rv22 = f["rv_22d"].drop_nulls()
    assert 0.85 * model < rv22.mean() < 1.15 * model
    assert 0.85 * model < math.sqrt((f["rv_1d"] ** 2).mean()) < 1.2 * model
    # range estimators from hourly bars: same order of magnitude (discretely sampled, biased low)
    ratio = (f["park_22d"] / f["rv_22d"]).mean()
    assert 0.6 < ratio < 1.1
    assert (f["dvol"].drop_nulls() > 0).all() and (rv22 > 0).all()


@pytest.mark.parametrize("asset", ["BTC", "ETH"])
def test_variance_risk_premium_is_positive_on_average(full, asset):
    f = per_asset(full.frame, asset)
    assert f["vrp_rv22"].mean() > 0
    assert f["vrp_garch"].mean() > 0
    np.testing.assert_allclose(f["vrp_rv22"].drop_nulls(), (f["dvol"] - f["rv_22d"]).drop_nulls())


@pytest.mark.parametrize("asset", ["BTC", "ETH"])
def test_jump_proxy_rises_with_absolute_returns(full, asset):
    f = per_asset(full.frame, asset).drop_nulls(["jump_1d", "ret_1d"])
    assert np.corrcoef(f["jump_1d"], f["ret_1d"].abs())[0, 1] > 0.05
    assert (f["jump_1d"] >= 0).all() and f["jump_share_1d"].is_between(0, 1).all()
    assert (f["jump_1d"] ** 2 <= f["rv_1d"] ** 2 + 1e-9).all()


def test_garch_refits_monthly_on_data_before_the_month(full, tables):
    fits = full.garch_fits
    rets = full.frame.filter(pl.col("ret_1d").is_not_null())
    for row in fits.iter_rows(named=True):
        assert row["period_start"].day == 1
        assert row["n_obs"] == rets.filter((pl.col("asset") == row["asset"]) & (pl.col("date") < row["period_start"])).height
        assert row["n_obs"] >= garch_mod.MIN_OBS
    assert fits.group_by("asset").len()["len"].to_list() == [fits.height // 2] * 2
    g = full.frame.drop_nulls("garch_vol30")
    first = g["date"].min()
    assert first == fits["period_start"].min()
    assert g["garch_vol30"].is_between(10, 300).all() and g["garch_vol1"].is_between(5, 500).all()
    for asset in ("BTC", "ETH"):
        x = per_asset(g, asset).drop_nulls("rv_22d")
        assert np.corrcoef(x["garch_vol30"], x["rv_22d"])[0, 1] > 0.2


def test_garch_schedule_options(tables):
    q = build_features(tables, garch_refit="quarterly")
    assert set(q.garch_fits["period_start"].dt.month().to_list()) <= {1, 4, 7, 10}
    none = build_features(tables, garch_refit="none")
    assert "garch" not in none.groups_used and "garch_vol30" not in none.frame.columns
    assert "vrp_rv22" in none.frame.columns
    with pytest.raises(ValueError, match="garch_refit"):
        build_features(tables, garch_refit="daily")


# --- availability: groups absent, daily bars, fallbacks -----------------------------------
def test_only_dvol_gives_iv_and_calendar(tables):
    fs = build_features({"raw_dvol": tables["raw_dvol"], "raw_ohlcv": None})
    assert fs.groups_used == ["iv", "calendar"]
    assert set(fs.frame.columns) == {"date", "asset", *LABELS.values()} | {
        f.name for f in FEATURES if f.group in ("iv", "calendar")
    }


@pytest.mark.parametrize("missing", ["raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain", "surface_features",
                                     "micro_daily"])
def test_a_missing_table_removes_its_groups_and_nothing_else(tables, full, missing):
    fs = build_features({k: v for k, v in tables.items() if k != missing})
    lost = {g for g, t in GROUP_TABLE.items() if t == missing}
    if missing == "raw_ohlcv":
        lost = {"rv", "jump", "vrp", "garch", "regime"}
    assert fs.groups_used == [g for g in GROUPS if g not in lost]
    gone = [f.name for f in FEATURES if f.group in lost]
    assert not set(gone) & set(fs.frame.columns)
    # the other columns are those of the full build (groups are independent), to rounding
    assert_frame_equal(fs.frame, full.frame.drop(gone), **CLOSE)


def test_daily_bars_only_like_a_cdd_user(tables):
    daily = daily_bars(tables["raw_ohlcv"])
    fs = build_features({"raw_dvol": tables["raw_dvol"], "raw_ohlcv": daily})
    assert fs.estimators["realized_vol"] == "daily-ohlc"
    assert fs.estimators["range"] == "daily OHLC"
    assert "absent" in fs.estimators["jump"]
    assert fs.groups_used == ["iv", "rv", "vrp", "garch", "regime", "calendar"]
    assert "bv_1d" not in fs.frame.columns and "jump_1d" not in fs.frame.columns
    bars = daily.filter(pl.col("asset") == "BTC").sort("ts")
    f = per_asset(fs.frame, "BTC")
    assert f["date"].to_list() == bars["ts"].dt.date().to_list()
    hl = np.log(bars["high"] / bars["low"]).to_numpy()
    co = np.log(bars["close"] / bars["open"]).to_numpy()
    np.testing.assert_allclose(f["park_1d"], 100 * np.sqrt(365 * hl**2 / (4 * math.log(2))), rtol=1e-12)
    gk = 0.5 * hl**2 - (2 * math.log(2) - 1) * co**2
    np.testing.assert_allclose(f["gk_1d"], 100 * np.sqrt(365 * np.clip(gk, 0, None)), rtol=1e-12)
    ret = np.diff(np.log(bars["close"].to_numpy()))
    np.testing.assert_allclose(f["ret_1d"][1:], 100 * ret, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(f["rv_1d"][1:], 100 * np.abs(ret) * math.sqrt(365), rtol=1e-9, atol=1e-9)
    assert f["garch_vol30"].drop_nulls().len() > 100


def test_spot_is_preferred_then_perpetual(tables, full):
    oh = tables["raw_ohlcv"]
    spot_only = build_features({"raw_dvol": tables["raw_dvol"], "raw_ohlcv": oh.filter(pl.col("kind") == "spot")})
    assert_frame_equal(spot_only.frame.select("rv_22d", "gk_1d"), full.frame.select("rv_22d", "gk_1d"), **CLOSE)
    perp = build_features({"raw_dvol": tables["raw_dvol"], "raw_ohlcv": oh.filter(pl.col("kind") == "perpetual")})
    assert "BTC-PERPETUAL" in perp.estimators["price_series"] and perp.estimators["realized_vol"] == "hourly"
    assert not np.allclose(perp.frame["rv_1d"].fill_null(0), full.frame["rv_1d"].fill_null(0), rtol=1e-6)
    # hourly perpetual beats daily spot; a day without any hourly bars falls back to daily spot
    cut = datetime(2022, 1, 1, tzinfo=timezone.utc)
    mixed = pl.concat([oh.filter((pl.col("kind") == "perpetual") & (pl.col("ts") >= cut)), daily_bars(oh)])
    fs = build_features({"raw_dvol": tables["raw_dvol"], "raw_ohlcv": mixed})
    assert fs.estimators["realized_vol"].startswith("mixed")
    late = fs.frame.filter(pl.col("date") >= cut.date())
    assert late["bv_1d"].null_count() == 0
    # the first hourly day (2022-01-01) follows daily bars here and hourly bars in `perp`: equal to rounding
    assert_series_equal(late["rv_1d"], perp.frame.filter(pl.col("date") >= cut.date())["rv_1d"], **CLOSE)
    assert fs.frame.filter(pl.col("date") < cut.date())["bv_1d"].null_count() > 0


def test_onchain_is_lagged_one_day(full, tables):
    oc = tables["raw_onchain"].filter(pl.col("asset") == "ETH").sort("date")
    f = per_asset(full.frame, "ETH")
    assert f["onchain_tx"][0] is None
    np.testing.assert_array_equal(f["onchain_tx"][1:].to_numpy(), oc["tx_count"][:-1].cast(pl.Float64).to_numpy())
    np.testing.assert_allclose(f["onchain_fees_chg5"][6:], np.log(oc["fees"][5:-1] / oc["fees"][:-6]), rtol=1e-12)


def test_flow_from_the_chain_when_the_summary_is_missing(market, tables):
    a, b = date(2022, 3, 1), date(2022, 3, 10)
    small = {k: v.filter(pl.col("ts").dt.date().is_between(a, b)) for k, v in tables.items() if k == "raw_dvol"}
    chain = market.table("raw_option_chain", a, b)
    from_chain = build_features({**small, "raw_option_chain": chain})
    from_summary = build_features({**small, "raw_options_summary": market.table("raw_options_summary", a, b)})
    assert "flow" in from_chain.groups_used and "raw_option_chain" in from_chain.estimators["flow"]
    for col in ("opt_net_vega", "opt_iv_minus_dvol", "opt_volume", "opt_open_interest"):
        np.testing.assert_allclose(from_chain.frame[col], from_summary.frame[col], rtol=1e-9)


def test_funding_features(full, tables):
    fu = tables["raw_funding"].filter(pl.col("asset") == "BTC")
    day = date(2022, 2, 14)
    rates = fu.filter(pl.col("ts").dt.date() == day)["rate"].to_numpy() * 1e4 * 8 / 8
    row = full.frame.filter((pl.col("asset") == "BTC") & (pl.col("date") == day))
    assert row["funding_mean"].item() == pytest.approx(rates.mean(), rel=1e-12)
    assert row["funding_std"].item() == pytest.approx(rates.std(ddof=1), rel=1e-9, abs=1e-12)


def test_missing_dvol_is_a_clear_error(tables):
    with pytest.raises(ValueError, match="raw_dvol is required"):
        build_features({"raw_ohlcv": tables["raw_ohlcv"]})
    naive = tables["raw_dvol"].with_columns(pl.col("ts").dt.replace_time_zone(None))
    with pytest.raises(ValueError, match="not a UTC datetime"):
        build_features({"raw_dvol": naive})


# --- determinism and labels ----------------------------------------------------------------
def test_deterministic(tables, full):
    garch_mod._CACHE.clear()
    again = build_features({k: v.sample(fraction=1.0, shuffle=True, seed=7) for k, v in tables.items()})
    assert again.frame.equals(full.frame)
    assert again.estimators == full.estimators and again.groups_used == full.groups_used


def _tiny_dvol(closes: dict[date, float], asset: str = "BTC") -> pl.DataFrame:
    days = sorted(closes)
    return pl.DataFrame(
        {
            "ts": [datetime.combine(d, datetime.min.time(), tzinfo=timezone.utc) for d in days],
            "asset": [asset] * len(days),
            "open": [closes[d] for d in days],
            "high": [closes[d] + 2.0 for d in days],
            "low": [closes[d] - 1.0 for d in days],
            "close": [closes[d] for d in days],
        },
        schema=RAW_TABLES["raw_dvol"].schema,
    )


def test_labels_exact_on_a_tiny_frame():
    d0 = date(2024, 1, 1)
    closes = {d0 + timedelta(days=i): 50.0 + i * i / 10 for i in range(30) if i != 10}  # day 10 missing
    fs = build_features({"raw_dvol": _tiny_dvol(closes)})
    f = fs.frame
    assert f.height == 29
    for row in f.iter_rows(named=True):
        for h, name in LABELS.items():
            ahead = closes.get(row["date"] + timedelta(days=h))
            want = None if ahead is None else ahead - closes[row["date"]]
            assert row[name] == (pytest.approx(want, abs=1e-12) if want is not None else None), (row["date"], h)
    # lags are by calendar day: D-1 of day 11 is the missing day 10
    r11 = f.filter(pl.col("date") == d0 + timedelta(days=11))
    assert r11["dvol_lag1"].item() is None and r11["dvol_lag2"].item() == closes[d0 + timedelta(days=9)]
    assert r11["dvol_range"].item() == pytest.approx(3.0)
    assert r11["weekday"].item() == (d0 + timedelta(days=11)).isoweekday()


def test_hourly_dvol_bars_are_aggregated_per_utc_day():
    t0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
    n = 72
    level = 60 + np.sin(np.arange(n) / 5.0) * 4
    hourly = pl.DataFrame(
        {
            "ts": [t0 + timedelta(hours=i) for i in range(n)], "asset": ["ETH"] * n,
            "open": level, "high": level + 0.5, "low": level - 0.5, "close": level + 0.1,
        },
        schema=RAW_TABLES["raw_dvol"].schema,
    )
    fs = build_features({"raw_dvol": hourly})
    assert fs.estimators["dvol"].startswith("intraday")
    f = fs.frame
    assert f["date"].to_list() == [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)]
    np.testing.assert_allclose(f["dvol"], level[[23, 47, 71]] + 0.1)
    day2 = level[24:48]
    assert f["dvol_range"][1] == pytest.approx(day2.max() - day2.min() + 1.0)
    assert f["y_1d"][0] == pytest.approx(level[47] - level[23])


def test_the_docs_list_exactly_the_feature_registry():
    from pathlib import Path

    from dvol_pipeline.quant.dvol.features import features_markdown

    root = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
    page = (root / "docs" / "dvol" / "features.md").read_text()
    listed = page.split("<!-- features:start -->\n", 1)[1].split("\n<!-- features:end -->", 1)[0]
    assert listed.strip() == features_markdown().strip(), "regenerate docs/dvol/features.md's table from features_markdown()"


def test_the_micro_lanes_daily_roll_up_joins_on_its_days_and_the_models_use_it_only_when_asked(tables):
    from dvol_pipeline.quant.dvol.forecast import feature_columns

    days = [END - timedelta(days=1), END]
    micro = pl.DataFrame({"date": days * 2, "asset": ["BTC", "BTC", "ETH", "ETH"],
                          "micro_spread_bps": [1.5, 2.0, 3.0, 4.0], "micro_vpin": [0.2, 0.3, 0.4, 0.5]})
    built = build_features({**{k: v for k, v in tables.items() if k != "micro_daily"}, "micro_daily": micro})
    assert "micro" in built.groups_used
    got = built.frame.filter(pl.col("date") >= days[0]).sort("asset", "date")
    assert got["micro_spread_bps"].to_list() == [1.5, 2.0, 3.0, 4.0]  # the values given, on their own (day, coin)
    assert built.frame.filter(pl.col("date") < days[0])["micro_vpin"].null_count() == built.frame.height - 4
    assert "micro_vpin" not in feature_columns(built.frame)  # opt-in: tick data covers too few training days
    assert "micro_vpin" in feature_columns(built.frame, include_groups=("micro",))
