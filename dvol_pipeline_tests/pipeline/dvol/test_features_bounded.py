"""An end-of-day build reads a year, not all history, and writes exactly the rows of a build
from the first day (the full build is the oracle: `build_features` on every raw row since the
first day, as `build_range` read them before the bounded read existed)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.lake.parquet import read_single, read_table
from dvol_pipeline.pipeline.dvol import features, regimes
from dvol_pipeline.pipeline.ingest import ingest_table
from dvol_pipeline.quant.dvol.features import build_features
from dvol_pipeline.sources import open_source

FIRST = date(2021, 3, 24)
# > READ_BACK_DAYS + 14 days before the first end-of-day day (a bounded read), > 250 returns
# (the GARCH fits), and the end-of-day days cross a month: 2022-06-01 refits the GARCH
EOD_DAYS = [date(2022, 5, 30), date(2022, 5, 31), date(2022, 6, 1), date(2022, 6, 2)]
LAST = EOD_DAYS[-1] + timedelta(days=20)
COINS = ["BTC"]
RAW = ("raw_dvol", "raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain")


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    source = open_source("simulated")
    for name in RAW:
        ingest_table(RAW_TABLES[name], source, root, FIRST, LAST, COINS)
    return root


def _full_rows(root, day: date) -> pl.DataFrame:
    """The oracle: every raw row from the first day through the labels' reach, one build."""
    tables = features.read_inputs(root, FIRST, day + timedelta(days=features.LABEL_REACH_DAYS), COINS)
    return build_features(tables).frame


@pytest.mark.slow
def test_end_of_day_builds_read_a_year_and_equal_the_build_from_the_first_day(lake):
    first = features.build_range(lake, FIRST, FIRST, EOD_DAYS[0] - timedelta(days=1), COINS)
    assert first.read_from == FIRST  # a lake without garch_returns reads all history
    saved = read_single(lake, "garch_returns")
    assert saved["date"].min() == FIRST and saved.filter(pl.col("date") == FIRST)["ret"].is_null().all()
    for day in EOD_DAYS:
        build = features.build_range(lake, FIRST, day, day, COINS)
        assert build.read_from == day - timedelta(days=features.LABEL_REACH_DAYS + features.READ_BACK_DAYS)
        assert build.leakage.passed and build.leakage.days_checked == [day]
        full = _full_rows(lake, day)
        assert build.rows.equals(full.filter(pl.col("date") == day))  # bit for bit, labels included
        # the partitions it rewrote (the day, and the 14 days before whose labels it completes)
        written = read_table(lake, "features_daily", day - timedelta(days=14), day, COINS).sort("asset", "date")
        want = full.filter(pl.col("date").is_between(day - timedelta(days=14), day)).sort("asset", "date")
        assert written.select(want.columns).equals(want)
        assert build.features.frame["garch_vol1"].drop_nulls().len() > 0
    # what the table holds for the days the bounded builds read equals the full build's returns
    oracle = build_features(features.read_inputs(lake, FIRST, LAST, COINS)).returns
    kept = read_single(lake, "garch_returns")
    assert kept.equals(oracle.filter(pl.col("date") <= kept["date"].max()).select(kept.columns))


@pytest.mark.slow
def test_a_gap_in_garch_returns_falls_back_to_all_history(lake):
    day = EOD_DAYS[-1]
    features.build_range(lake, FIRST, FIRST, day - timedelta(days=1), COINS)
    saved = read_single(lake, "garch_returns")
    from dvol_pipeline.lake.parquet import write_single

    write_single(lake, "garch_returns", saved.filter(pl.col("date") != date(2021, 4, 15)))
    build = features.build_range(lake, FIRST, day, day, COINS)
    assert build.read_from == FIRST
    assert build.rows.equals(_full_rows(lake, day).filter(pl.col("date") == day))


def test_vol_regimes_read_a_year_and_equal_the_labels_from_the_first_day(lake):
    for day in EOD_DAYS:
        got = regimes.build_range(lake, FIRST, day, day, COINS).rows
        tables = {"raw_dvol": read_table(lake, "raw_dvol", FIRST, day, COINS),
                  "raw_ohlcv": read_table(lake, "raw_ohlcv", FIRST, day, COINS), "surface_features": None}
        want = regimes.regimes_from_tables(tables).filter(pl.col("date") == day)
        assert got.equals(want)
        assert got["dvol_rank"].is_not_null().all()


@pytest.mark.slow
def test_a_table_silent_for_over_a_year_keeps_its_group_as_the_full_build_has_it(tmp_path):
    """A source that stopped delivering on-chain data 13 months before the day: the bounded read
    finds no rows in its year, yet the day's row must be the full build's (the on-chain columns
    there, with what the full build makes of stale data), not a row without them."""
    root = tmp_path / "lake"
    source = open_source("simulated")
    stop = date(2021, 5, 1)  # before the year a bounded build of 2022-06-02 reads (from 2021-05-22)
    for name in RAW:
        ingest_table(RAW_TABLES[name], source, root, FIRST, stop if name == "raw_onchain" else LAST, COINS)
    day = EOD_DAYS[-1]
    features.build_range(root, FIRST, FIRST, day - timedelta(days=1), COINS)
    build = features.build_range(root, FIRST, day, day, COINS)
    assert build.read_from > stop  # a bounded read, whose year holds no on-chain row
    full = _full_rows(root, day).filter(pl.col("date") == day)
    onchain = [c for c in full.columns if c.startswith("onchain_")]
    assert onchain, full.columns  # the full build has the on-chain group's columns
    assert build.rows.equals(full)
