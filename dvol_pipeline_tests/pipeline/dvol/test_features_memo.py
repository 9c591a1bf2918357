"""An end-of-day features build reuses the GARCH fits the lake remembers, and changes no number."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.lake.parquet import read_single, read_table
from dvol_pipeline.pipeline.dvol.features import build_range
from dvol_pipeline.pipeline.ingest import ingest_table
from dvol_pipeline.quant.dvol.features import garch
from dvol_pipeline.sources import open_source

FIRST, LAST = date(2021, 3, 24), date(2022, 2, 10)  # > 250 daily returns: a few monthly GARCH refits
COINS = ["BTC"]


@pytest.mark.slow
def test_a_rebuild_refits_nothing_the_lake_remembers_and_gives_the_same_rows(tmp_path, monkeypatch):
    source = open_source("simulated")
    for name in ("raw_dvol", "raw_ohlcv"):
        ingest_table(RAW_TABLES[name], source, tmp_path, FIRST, LAST, COINS)
    first = build_range(tmp_path, FIRST, FIRST, LAST, COINS)
    assert first.features.garch_fits.height >= 2
    memo = read_single(tmp_path, "garch_fit_memo")
    assert set(first.features.garch_fits["fit_key"]) <= set(memo["key"])
    before = read_table(tmp_path, "features_daily").sort("asset", "date")

    # a new process: nothing in memory, and arch must not be called again
    monkeypatch.setattr(garch, "_CACHE", type(garch._CACHE)())

    def no_refit(*args, **kwargs):
        raise AssertionError("refitted a GARCH the lake remembers")

    import arch

    monkeypatch.setattr(arch, "arch_model", no_refit)
    again = build_range(tmp_path, FIRST, LAST, LAST, COINS)
    assert again.leakage.passed
    after = read_table(tmp_path, "features_daily").sort("asset", "date")
    assert after.equals(before)  # the same path, remembered fits: exactly the same values
    assert read_single(tmp_path, "garch_fit_memo").equals(memo)  # no new fit, file untouched
    assert pl.Series(again.features.garch_fits["fit_key"]).is_in(memo["key"]).all()
