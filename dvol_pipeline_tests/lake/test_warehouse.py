"""The analysts' DuckDB file: views over the lake, rebuilt without blocking readers."""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl
import pytest

from dvol_pipeline.contracts.tables import RAW_TABLES, spec
from dvol_pipeline.pipeline.ingest import ingest_table
from dvol_pipeline.lake.warehouse import query, warehouse_path
from dvol_pipeline.pipeline.warehouse import refresh_warehouse as build_warehouse
from dvol_pipeline_tests.toy_market import ToySource

START, END = date(2024, 1, 1), date(2024, 1, 5)


def _ingest_all(root, end=END, plant=None):
    for name in RAW_TABLES:
        ingest_table(spec(name), ToySource(plant=plant), root, START, end, ["BTC", "ETH"])


def test_every_lake_table_gets_a_documented_view(tmp_path):
    _ingest_all(tmp_path)
    views = {v.name: v for v in build_warehouse(tmp_path)}
    assert set(views) == set(RAW_TABLES)
    assert views["raw_dvol"].rows == 10 and views["raw_dvol"].partitions == 10
    got = query(tmp_path, "SELECT asset, count(*) n, min(close) lo FROM raw_dvol GROUP BY ALL ORDER BY ALL")
    assert got.to_dicts() == [{"asset": "BTC", "n": 5, "lo": 61.0}, {"asset": "ETH", "n": 5, "lo": 73.0}]
    comments = query(tmp_path, "SELECT comment FROM duckdb_views() WHERE view_name = 'raw_dvol'")
    assert "DVOL" in comments["comment"][0]
    onchain = query(tmp_path, "SELECT date, asset, hashrate FROM raw_onchain WHERE date = DATE '2024-01-02'")
    assert onchain.sort("asset")["hashrate"].to_list() == [400.0, None]


def test_quarantine_gets_its_own_view(tmp_path):
    def plant(table, frame):
        if table != "raw_option_chain":
            return frame
        return frame.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(1.0).otherwise(pl.col("bid")).alias("bid"))

    _ingest_all(tmp_path, plant=plant)
    build_warehouse(tmp_path)
    bad = query(tmp_path, "SELECT instrument_name, bid, ask, reason FROM quarantine_raw_option_chain")
    assert bad.height == 1 and bad["reason"][0] == "bid must be <= ask"


def test_a_reader_holding_the_file_open_never_blocks_a_rebuild(tmp_path):
    _ingest_all(tmp_path)
    build_warehouse(tmp_path)
    reader = duckdb.connect(str(warehouse_path(tmp_path)), read_only=True)
    try:
        assert reader.execute("SELECT count(*) FROM raw_dvol").fetchone() == (10,)
        _ingest_all(tmp_path, end=date(2024, 1, 9))
        build_warehouse(tmp_path)  # must not raise "could not set lock"
        # the open reader keeps working; a new connection sees the new lake
        reader.execute("SELECT count(*) FROM raw_dvol").fetchone()
        assert query(tmp_path, "SELECT count(*) n FROM raw_dvol")["n"][0] == 18
    finally:
        reader.close()


def test_query_without_a_warehouse_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="make demo"):
        query(tmp_path, "SELECT 1")


def test_query_is_read_only(tmp_path):
    _ingest_all(tmp_path)
    build_warehouse(tmp_path)
    with pytest.raises(duckdb.Error):
        query(tmp_path, "DROP VIEW raw_dvol")



def _bad_bid(table, frame):
    if table != "raw_option_chain":
        return frame
    return frame.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(1.0).otherwise(pl.col("bid")).alias("bid"))


def test_a_refresh_applies_the_runs_writes_without_walking_the_lake(tmp_path, monkeypatch):
    """The end of day's refresh: new days of existing tables need no new view, only their rows in
    lake_catalog; a table's first file (a quarantined row) creates its view, its last file's removal
    (the partition re-ingested clean) drops it. No refresh walks the lake or reads a footer (the full
    build's `_walk` is made to fail), and every count equals a full build's. Hand counts: the toy
    market writes one raw_dvol row per coin and day (2 coins x 7 days = 14); one planted bad bid."""
    from dvol_pipeline.lake import warehouse

    _ingest_all(tmp_path)
    build_warehouse(tmp_path)  # the first build walks the lake
    monkeypatch.setattr(warehouse, "_walk", lambda *a: (_ for _ in ()).throw(AssertionError("walked the lake")))
    _ingest_all(tmp_path, end=date(2024, 1, 7), plant=_bad_bid)  # two more days, one row rejected
    views = {v.name: v for v in build_warehouse(tmp_path)}
    assert views["raw_dvol"].rows == 14 and views["raw_dvol"].partitions == 14
    assert query(tmp_path, "SELECT count(*) n FROM raw_dvol")["n"][0] == 14
    assert views["quarantine_raw_option_chain"].rows == 1
    assert query(tmp_path, "SELECT count(*) n FROM quarantine_raw_option_chain")["n"][0] == 1
    monkeypatch.undo()
    assert {v.name: v for v in build_warehouse(tmp_path, full=True)} == views

    monkeypatch.setattr(warehouse, "_walk", lambda *a: (_ for _ in ()).throw(AssertionError("walked the lake")))
    _ingest_all(tmp_path, end=date(2024, 1, 7))  # the same days again, clean: the quarantine file goes
    views = {v.name: v for v in build_warehouse(tmp_path)}
    assert "quarantine_raw_option_chain" not in views
    assert query(tmp_path, "SELECT count(*) n FROM duckdb_views() WHERE view_name LIKE 'quarantine%'")["n"][0] == 0
    monkeypatch.undo()
    assert {v.name: v for v in build_warehouse(tmp_path, full=True)} == views


def test_a_failed_refresh_gives_the_journal_back(tmp_path, monkeypatch):
    """A refresh that fails leaves the old file and the journal's lines for the next refresh."""
    from dvol_pipeline.lake import warehouse

    _ingest_all(tmp_path)
    build_warehouse(tmp_path)
    _ingest_all(tmp_path, end=date(2024, 1, 7))
    monkeypatch.setattr(warehouse, "_sync_views", lambda *a: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError):
        build_warehouse(tmp_path)
    assert query(tmp_path, "SELECT row_count FROM lake_catalog WHERE view_name = 'raw_dvol'")["row_count"][0] == 10
    monkeypatch.undo()
    build_warehouse(tmp_path)
    assert query(tmp_path, "SELECT row_count FROM lake_catalog WHERE view_name = 'raw_dvol'")["row_count"][0] == 14
