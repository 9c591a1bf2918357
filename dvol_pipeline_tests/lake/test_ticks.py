"""Tick storage: nanosecond timestamps, (venue, symbol, day) partitions, reads bounded to their partitions.

The tick table here is the test's own (the micro lane declares the real ones): a spec with two
ns clocks, laid out `venue=<V>/symbol=<S>/date=<D>/part-0.parquet`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest

from dvol_pipeline.contracts.tables import UTC_TS, UTC_TS_NS, Col, TableSpec
from dvol_pipeline.contracts.validate import validate
from dvol_pipeline.lake import parquet
from dvol_pipeline.lake.catalog import VENUE_SYMBOL_DATE
from dvol_pipeline.lake.parquet import read_table, scan_table, write_partitions
from dvol_pipeline.lake.tables.spec import raw_table
from dvol_pipeline_tests.lake_paths import partition_file
from dvol_pipeline_tests.toy_market import toy_table

DAY = date(2024, 3, 1)
T0 = int(datetime(2024, 3, 1, 12).timestamp()) * 1_000_000_000  # ns since the epoch (UTC)


def _tick_spec(unit_ts=UTC_TS_NS, unit: str = "ns") -> TableSpec:
    return TableSpec(
        name="raw_test_trades",
        doc="Trades of one venue and symbol, both clocks in ns (a test table).",
        columns=(
            Col("ts_local", unit_ts, "receive time on our host (orders events)"),
            Col("ts_exchange", unit_ts, "the venue's event time (latency, skew)"),
            Col("venue", pl.Utf8, "venue"),
            Col("symbol", pl.Utf8, "venue symbol"),
            Col("price", pl.Float64, "trade price"),
            Col("size", pl.Float64, "trade size"),
        ),
        key=("venue", "symbol", "ts_local"),
        time_col="ts_local",
        series=("venue", "symbol"),
        time_unit=unit,
    )


TICKS = raw_table(_tick_spec(), lane="micro", layout_name=VENUE_SYMBOL_DATE)


def _ticks(day: date = DAY, n: int = 4, venue: str = "binance", symbol: str = "BTCUSDT", price: float = 100.0):
    """`n` trades 1 ns apart (local clock), the exchange's clock 250 ns earlier."""
    t0 = T0 + (day - DAY).days * 86_400 * 1_000_000_000
    local = pl.Series([t0 + i for i in range(n)], dtype=pl.Int64).cast(UTC_TS_NS)
    return pl.DataFrame({
        "ts_local": local, "ts_exchange": (local.cast(pl.Int64) - 250).cast(UTC_TS_NS), "venue": venue, "symbol": symbol,
        "price": [price + i for i in range(n)], "size": [0.5] * n,
    })


def test_a_table_says_its_time_unit_and_a_timestamp_column_must_agree():
    assert TICKS.time_unit == "ns" and TICKS.lane == "micro" and TICKS.raw.time_unit == "ns"
    with pytest.raises(ValueError, match="column ts_local is Datetime.*'us'.*timestamps are Datetime.*'ns'"):
        _tick_spec(unit_ts=UTC_TS, unit="ns")
    with pytest.raises(ValueError, match="ts_local"):
        _tick_spec(unit_ts=UTC_TS_NS, unit="us")


def test_the_contract_keeps_nanoseconds_of_an_ns_table_and_refuses_them_in_a_us_table():
    ticks = _ticks()
    report = validate(_tick_spec(), ticks)
    assert report.passed and report.valid.schema["ts_local"] == UTC_TS_NS
    assert report.valid["ts_local"].dt.nanosecond().to_list() == [0, 1, 2, 3]  # 1 ns apart, all four kept
    # ISO text with nine fractional digits is read at the table's precision, not truncated to us
    as_text = ticks.with_columns(pl.col("ts_local", "ts_exchange").dt.strftime("%Y-%m-%dT%H:%M:%S%.9f%:z"))
    assert validate(_tick_spec(), as_text).valid.equals(report.valid)
    # an ns frame into a us table would merge the four trades into one instant: refused whole, not truncated
    coarse = TableSpec(**{**_tick_spec().__dict__, "columns": tuple(
        Col(c.name, UTC_TS if c.dtype == UTC_TS_NS else c.dtype, c.doc) for c in _tick_spec().columns),
        "time_unit": "us"})
    refused = validate(coarse, ticks)
    assert refused.valid.is_empty() and "finer than the table's us" in refused.batch_errors[0]
    # us-aligned values lose nothing: an ns frame of whole microseconds is accepted by a us table
    whole = ticks.with_columns(pl.col("ts_local", "ts_exchange").dt.truncate("1us"))
    assert validate(coarse, whole.unique("ts_local", maintain_order=True)).passed


def test_an_ns_table_is_written_and_read_back_exactly(tmp_path):
    ticks = _ticks(n=5)
    written = write_partitions(tmp_path, TICKS, ticks.reverse())  # the writer orders by the table's key
    assert [(w.asset, w.day, w.rows) for w in written] == [("BTCUSDT", DAY, 5)]
    assert dict(written[0].key) == {"venue": "binance", "symbol": "BTCUSDT", "date": DAY}
    back = read_table(tmp_path, TICKS, DAY, DAY)
    assert back.schema["ts_local"] == UTC_TS_NS and back.schema["ts_exchange"] == UTC_TS_NS
    assert back.equals(ticks)
    assert back["ts_local"].diff().drop_nulls().cast(pl.Int64).to_list() == [1, 1, 1, 1]


def test_a_venue_symbol_day_partition_has_its_own_file_and_a_rewrite_replaces_it_whole(tmp_path, monkeypatch):
    path = TICKS.path(tmp_path, venue="binance", symbol="BTCUSDT", date=DAY)
    assert path == (tmp_path / "raw" / "raw_test_trades" / "venue=binance" / "symbol=BTCUSDT" / "date=2024-03-01"
                    / "part-0.parquet")
    write_partitions(tmp_path, TICKS, pl.concat([
        _ticks(n=4), _ticks(n=2, symbol="ETHUSDT"), _ticks(n=3, venue="okx"), _ticks(DAY + timedelta(days=1), n=2)]))
    assert [v for v, _ in TICKS.partitions(tmp_path, with_file=True)] == [
        {"venue": "binance", "symbol": "BTCUSDT", "date": "2024-03-01"},
        {"venue": "binance", "symbol": "BTCUSDT", "date": "2024-03-02"},
        {"venue": "binance", "symbol": "ETHUSDT", "date": "2024-03-01"},
        {"venue": "okx", "symbol": "BTCUSDT", "date": "2024-03-01"},
    ]
    others = {p: p.read_bytes() for p in TICKS.files(tmp_path) if p != path}

    # a rewrite of one (venue, symbol, day) with fewer rows replaces it whole and touches no other file
    write_partitions(tmp_path, TICKS, _ticks(n=2, price=7.0))
    one = read_table(tmp_path, TICKS, DAY, DAY, ["BTCUSDT"], where={"venue": ["binance"]})
    assert one["price"].to_list() == [7.0, 8.0]
    assert {p: p.read_bytes() for p in TICKS.files(tmp_path) if p != path} == others

    # a write killed before the rename leaves the old partition and no temp file
    before = path.read_bytes()
    monkeypatch.setattr(parquet.os, "replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt("killed")))
    with pytest.raises(KeyboardInterrupt):
        write_partitions(tmp_path, TICKS, _ticks(n=9, price=1.0))
    assert path.read_bytes() == before and [p.name for p in path.parent.iterdir()] == [path.name]


def test_reads_filter_by_venue_symbol_and_day(tmp_path):
    write_partitions(tmp_path, TICKS, pl.concat([_ticks(n=4), _ticks(n=2, symbol="ETHUSDT"), _ticks(n=3, venue="okx"),
                                                _ticks(DAY + timedelta(days=1), n=2)]))
    assert read_table(tmp_path, TICKS).height == 11
    assert read_table(tmp_path, TICKS, coins=["BTCUSDT"]).height == 9
    assert read_table(tmp_path, TICKS, DAY, DAY, where={"venue": ["okx"]})["venue"].unique().to_list() == ["okx"]
    assert scan_table(tmp_path, TICKS, DAY + timedelta(days=1)).collect().height == 2
    assert TICKS.coins(tmp_path) == ["BTCUSDT", "ETHUSDT"]
    assert TICKS.latest_files(tmp_path, "BTCUSDT") == [TICKS.path(tmp_path, venue="binance", symbol="BTCUSDT",
                                                                  date=DAY + timedelta(days=1))]
    with pytest.raises(FileNotFoundError, match="no partitions of raw/raw_test_trades"):
        read_table(tmp_path, TICKS, DAY, DAY, where={"venue": ["kraken"]})
    with pytest.raises(ValueError, match=r"keyed by \['venue', 'symbol', 'date'\], not \['asset'\]"):
        read_table(tmp_path, TICKS, where={"asset": ["BTC"]})


def test_a_read_of_one_day_never_opens_another_days_file(tmp_path):
    write_partitions(tmp_path, TICKS, pl.concat([_ticks(DAY + timedelta(days=d), n=3) for d in range(3)]))
    corrupt = TICKS.path(tmp_path, venue="binance", symbol="BTCUSDT", date=DAY + timedelta(days=2))
    corrupt.write_bytes(b"not parquet: a half-copied file from another day")
    assert read_table(tmp_path, TICKS, DAY, DAY + timedelta(days=1)).height == 6
    assert scan_table(tmp_path, TICKS, DAY, DAY).collect().height == 3
    assert TICKS.partition_files(tmp_path, DAY, DAY) == [TICKS.path(tmp_path, venue="binance", symbol="BTCUSDT",
                                                                    date=DAY)]
    with pytest.raises(Exception, match="parquet|magic|footer"):  # the file is bad: only a read of its day meets it
        read_table(tmp_path, TICKS, DAY, DAY + timedelta(days=2))


def test_a_read_of_a_daily_table_is_bounded_to_its_days_too(tmp_path):
    write_partitions(tmp_path, "raw_dvol", toy_table("raw_dvol", DAY, DAY + timedelta(days=3), ["BTC", "ETH"]))
    partition_file(tmp_path, "raw", "raw_dvol", "ETH", DAY + timedelta(days=3)).write_bytes(b"garbage")
    partition_file(tmp_path, "raw", "raw_dvol", "BTC", DAY).write_bytes(b"garbage")
    assert read_table(tmp_path, "raw_dvol", DAY + timedelta(days=1), DAY + timedelta(days=2)).height == 4
    assert read_table(tmp_path, "raw_dvol", DAY, DAY + timedelta(days=2), ["ETH"]).height == 3  # BTC's bad day: not read
    assert read_table(tmp_path, "raw_dvol", DAY + timedelta(days=1), coins=["BTC"]).height == 3
