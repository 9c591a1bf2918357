"""Leakage as a checked contract: every feature row (D, asset) is prefix-invariant.

One simulated market (2021-03-24 .. 2022-03-31) per module; GARCH needs only 120 returns
here so that several monthly refits (and month boundaries) fall inside the checked days.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dvol_pipeline.quant.dvol.regimes import RegimeThresholds
from dvol_pipeline.quant.dvol.features import (
    build_features,
    check_no_lookahead,
    default_check_days,
    lookback_days,
    truncate_tables,
)
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

START, END = date(2021, 3, 24), date(2022, 3, 31)
TABLES = ("raw_dvol", "raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain")
KW = {"garch_min_obs": 120}
DAYS = [date(2021, 3, 24), date(2021, 3, 30), date(2021, 8, 31), date(2021, 9, 1), date(2021, 11, 17),
        date(2022, 1, 1), date(2022, 2, 28), END]


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    market = SimulatedMarket(SimConfig(), end=END)
    return {name: market.table(name, START, END) for name in TABLES}


def peek_tomorrow(frame: pl.DataFrame) -> pl.DataFrame:
    """A planted leak: tomorrow's DVOL close as a feature of today."""
    return frame.with_columns(dvol_peek=pl.col("dvol").shift(-1).over("asset"))


def test_the_full_feature_set_has_no_lookahead(tables):
    full = build_features(tables, **KW)
    assert full.garch_fits.height >= 10  # refits do fall inside the checked range
    report = check_no_lookahead(tables, DAYS, **KW)
    assert report.passed, report.violations
    assert report.days_checked == DAYS
    n_features = len(full.frame.columns) - 2 - 3
    assert report.n_compared == len(DAYS) * 2 * n_features
    assert "no look-ahead" in report.summary()


def test_a_feature_that_peeks_one_day_ahead_fails_the_check(tables):
    report = check_no_lookahead(tables, DAYS, extra_features=peek_tomorrow, **KW)
    assert not report.passed
    v = report.violations
    assert v["feature"].unique().to_list() == ["dvol_peek"]
    # every checked day but the last (where tomorrow does not exist in either build), both coins
    assert sorted(set(v["date"].to_list())) == DAYS[:-1]
    assert set(v["asset"].to_list()) == {"BTC", "ETH"}
    row = v.filter((pl.col("date") == DAYS[3]) & (pl.col("asset") == "BTC"))
    dvol = tables["raw_dvol"].filter((pl.col("asset") == "BTC") & (pl.col("ts").dt.date() == DAYS[3] + timedelta(days=1)))
    assert row["full_value"].item() == dvol["close"].item() and row["truncated_value"].item() is None
    assert "dvol_peek" in report.summary()


def test_a_full_sample_scaler_is_caught_too(tables):
    """Scaling with statistics of the whole sample leaks the future into every row."""

    def zscore_all(frame: pl.DataFrame) -> pl.DataFrame:
        x = pl.col("rv_22d")
        return frame.with_columns(rv_22d_z=((x - x.mean()) / x.std()).over("asset"))

    report = check_no_lookahead(tables, DAYS[2:5], extra_features=zscore_all, **KW)
    assert not report.passed and report.violations["feature"].unique().to_list() == ["rv_22d_z"]


def test_an_onchain_figure_used_on_its_own_date_is_caught(tables, monkeypatch):
    """On-chain figures are published the next day: a builder that forgets the lag leaks."""
    from dvol_pipeline.quant.dvol.features import flows
    honest = flows.onchain_features

    def no_lag(raw_onchain: pl.DataFrame) -> pl.DataFrame:
        shifted = raw_onchain.with_columns(pl.col("date") - pl.duration(days=1))  # D's figure lands on row D
        return honest(shifted)

    monkeypatch.setattr(flows, "onchain_features", no_lag)
    report = check_no_lookahead(tables, DAYS[2:4], **KW)
    assert not report.passed
    assert set(report.violations["feature"].to_list()) == {"onchain_tx", "onchain_fees", "onchain_tx_chg5",
                                                           "onchain_fees_chg5"}


def test_truncation_keeps_only_what_was_stamped_before_the_cutoff(tables):
    day = date(2021, 9, 1)
    cut = truncate_tables(tables, day)
    cutoff = datetime(2021, 9, 2, tzinfo=timezone.utc)
    for name in ("raw_dvol", "raw_ohlcv", "raw_funding"):
        assert cut[name]["ts"].max() < cutoff and cut[name]["ts"].max() >= cutoff - timedelta(hours=1 if name == "raw_ohlcv" else 24)
    assert cut["raw_options_summary"]["date"].max() == day
    assert cut["raw_onchain"]["date"].max() == day - timedelta(days=1)  # published the next day
    assert truncate_tables({"raw_dvol": None}, day) == {"raw_dvol": None}


def test_no_lookahead_with_daily_bars_and_missing_tables(tables):
    oh = tables["raw_ohlcv"].filter(pl.col("kind") == "spot").sort("asset", "ts")
    daily = (
        oh.group_by("asset", "venue", "instrument", "kind", pl.col("ts").dt.truncate("1d"), maintain_order=True)
        .agg(pl.col("open").first(), pl.col("high").max(), pl.col("low").min(), pl.col("close").last(),
             pl.col("volume").sum(), pl.col("volume_quote").sum(), pl.col("trade_count").sum())
        .with_columns(interval=pl.lit("1d"))
        .select(tables["raw_ohlcv"].columns)
    )
    subset = {"raw_dvol": tables["raw_dvol"], "raw_ohlcv": daily, "raw_onchain": tables["raw_onchain"]}
    report = check_no_lookahead(subset, DAYS, **KW)
    assert report.passed, report.violations


def test_default_check_days_cover_edges_and_month_boundaries():
    ds = [date(2022, 1, 1) + timedelta(days=i) for i in range(120)]
    picks = default_check_days(ds, 8)
    assert picks[0] == ds[0] and picks[-1] == ds[-1] and len(picks) >= 6
    assert any(d.day == 1 for d in picks[1:]) and any((d + timedelta(days=1)).day == 1 for d in picks)
    assert picks == sorted(set(picks)) and default_check_days([]) == []


def _from(tables: dict[str, pl.DataFrame], first: date) -> dict[str, pl.DataFrame]:
    """Tables with the history before `first` dropped (a partition run reading a lookback)."""
    t0 = datetime.combine(first, datetime.min.time(), tzinfo=timezone.utc)
    return {k: v.filter(pl.col("ts") >= t0) if "ts" in v.columns else v.filter(pl.col("date") >= first)
            for k, v in tables.items()}


def test_a_row_needs_only_its_documented_lookback(tables):
    kw = {"garch_min_obs": 120, "garch_window_days": 150}
    days_back = lookback_days("monthly", 150)
    # the regime group's year of DVOL closes is the longest window (dvol_ma66 the longest without it)
    assert days_back == 364 and lookback_days() is None and lookback_days("none") == 364
    assert lookback_days("none", regime_thresholds=RegimeThresholds(window_days=60, min_history_days=30)) == 65
    full = build_features(tables, **kw).frame
    for day in (date(2022, 1, 31), date(2022, 3, 1), date(2022, 3, 17)):
        row = full.filter(pl.col("date") == day)
        short = build_features(_from(tables, day - timedelta(days=days_back)), **kw).frame
        # equal up to the rounding of polars' sliding-window sums, which carry their history
        assert_frame_equal(short.filter(pl.col("date") == day), row, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
        assert row["garch_vol30"].null_count() == 0
    # on a month's last day the GARCH bound (window + longest period) is tight: less history changes the fit
    shorter = build_features(_from(tables, date(2022, 1, 31) - timedelta(days=150 + 31 - 1)), **kw).frame
    got = shorter.filter(pl.col("date") == date(2022, 1, 31))["garch_vol30"]
    assert (got - full.filter(pl.col("date") == date(2022, 1, 31))["garch_vol30"]).abs().max() > 1e-6
    assert check_no_lookahead(tables, DAYS[2:6], **kw).passed
    # dvol_ma66 alone: 65 days suffice and 64 do not (it spans D-65..D)
    day = date(2022, 2, 28)
    plain = build_features(tables, garch_refit="none").frame.filter(pl.col("date") == day)
    for back, same in ((65, True), (64, False)):
        got = build_features(_from(tables, day - timedelta(days=back)), garch_refit="none").frame
        got = got.filter(pl.col("date") == day)
        diff = (got["dvol_ma66"] - plain["dvol_ma66"]).abs().max()
        assert (diff < 1e-9) is same
