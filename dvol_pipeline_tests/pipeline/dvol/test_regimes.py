"""vol_regimes in the lake: written per (coin, day) for the range, equal to features_daily's
`regime` group, and refused whole when a label is not one of the five."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from dvol_pipeline.contracts.derived import DerivedContractError
from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.lake.catalog import table
from dvol_pipeline.lake.parquet import read_table, write_partitions
from dvol_pipeline.pipeline.ingest import ingest_table
from dvol_pipeline.pipeline.dvol.regimes import build_range
from dvol_pipeline.quant.dvol.features import build_features
from dvol_pipeline.sources import open_source

FIRST, LAST = date(2021, 3, 24), date(2022, 1, 31)
COINS = ["BTC"]


def test_vol_regimes_partitions_match_the_feature_group(tmp_path):
    source = open_source("simulated")
    for name in ("raw_dvol", "raw_ohlcv"):
        ingest_table(RAW_TABLES[name], source, tmp_path, FIRST, LAST, COINS)
    start = date(2022, 1, 1)
    build = build_range(tmp_path, FIRST, start, LAST, COINS)
    assert build.partitions == 31 and build.rows["date"].min() == start
    assert table("vol_regimes").partition_file(tmp_path, "BTC", LAST).exists()
    assert not table("vol_regimes").partition_file(tmp_path, "BTC", date(2021, 12, 31)).exists()
    assert sum(build.counts.values()) == 31 and "unknown" not in build.counts  # > 180 days of history
    stored = read_table(tmp_path, "vol_regimes").sort("date")
    assert stored["iv30_pct"].null_count() == 31  # no surface_features in this lake
    feats = build_features({n: read_table(tmp_path, n, FIRST, LAST, COINS) for n in ("raw_dvol", "raw_ohlcv")},
                           garch_refit="none").frame.filter(pl.col("date") >= start)
    assert feats["regime_code"].to_list() == stored["regime_code"].to_list()
    assert feats["regime_dvol_rank"].to_list() == stored["dvol_rank"].to_list()
    assert feats["regime_rv_iv_ratio"].to_list() == stored["rv_iv_ratio"].to_list()
    bad = stored.head(1).with_columns(regime=pl.lit("calm"))
    with pytest.raises(DerivedContractError, match="vol_regimes.*regime"):
        write_partitions(tmp_path, "vol_regimes", bad)
