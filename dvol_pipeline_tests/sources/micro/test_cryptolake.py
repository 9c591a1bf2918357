"""The Crypto Lake parquet reader on small files written here, in Crypto Lake's own layout and flat.

Expected values are the rows written below read by the rules the reader's docstring cites:
Crypto Lake's S3 layout (`<table>/exchange=/symbol=/dt=/`), the files' cryptofeed column names
(`timestamp`, `receipt_timestamp` in ns, `amount`, `id`) and lakeapi's renamed ones
(`origin_time`, `received_time`, `quantity`, `trade_id`), book_delta_v2's size as the new level
size, origin_time 0 marking snapshot rows (Crypto Lake's lake_to_hftbacktest.py), and Binance
COIN-M contract sizes (100 USD a BTC contract); each value is worked out by hand in a comment.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from dvol_pipeline.contracts.micro import MICRO_RAW_TABLES, validate_ticks
from dvol_pipeline.sources.micro.cryptolake import read_cryptolake

NS0 = 1_709_251_200_000_000_000  # 2024-03-01 00:00:00 UTC in ns
MS = 1_000_000


def _write(path: Path, frame: pl.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    return path


def _lake(root: Path, table: str, exchange: str, symbol: str, day: str, frame: pl.DataFrame) -> Path:
    return _write(root / table / f"exchange={exchange}" / f"symbol={symbol}" / f"dt={day}" / "part-0.parquet", frame)


def _assert_contract(batch) -> None:
    for name, frame in batch.tables.items():
        if name in MICRO_RAW_TABLES:
            report = validate_ticks(MICRO_RAW_TABLES[name], frame)
            assert report.passed, (name, report.reason_counts(), report.batch_errors)


def test_book_delta_v2_in_lake_layout(tmp_path):
    _lake(tmp_path, "book_delta_v2", "BINANCE_FUTURES", "BTC-USDT-PERP", "2024-03-01", pl.DataFrame({
        # two snapshot rows (origin time 0), then one update of two rows sharing the receive time
        "timestamp": [0, 0, NS0 + 5 * MS, NS0 + 5 * MS],
        "receipt_timestamp": [NS0 + 1 * MS, NS0 + 1 * MS, NS0 + 7 * MS, NS0 + 7 * MS],
        "sequence_number": [10, 10, 11, 11],
        "side_is_bid": [True, False, True, True],
        "price": [100.0, 101.0, 100.0, 99.5],
        "size": [3.0, 2.0, 0.0, 1.5],
    }))
    batch = read_cryptolake(tmp_path)
    deltas = batch.tables["raw_book_deltas"]
    assert deltas["venue"].unique().to_list() == ["binance_usdm"]
    assert deltas["symbol"].unique().to_list() == ["BTCUSDT"]  # BTC-USDT-PERP on USDⓈ-M is Binance's BTCUSDT
    assert deltas["side"].to_list() == ["bid", "ask", "bid", "bid"]
    assert deltas["size"].to_list() == [3.0, 2.0, 0.0, 1.5]  # the new level size; 0 deletes
    assert deltas["is_snapshot"].to_list() == [True, True, False, False]
    assert deltas["ts_exchange"].to_list()[:2] == [None, None]
    # receipt 7 ms after midnight, exchange 5 ms after
    assert deltas["ts_local"][2] == datetime(2024, 3, 1, 0, 0, 0, 7000, tzinfo=UTC)
    assert deltas["ts_exchange"][2] == datetime(2024, 3, 1, 0, 0, 0, 5000, tzinfo=UTC)
    assert deltas["update_id"].null_count() == 4
    assert deltas["__line"].to_list() == [1, 2, 3, 4]
    assert deltas["__file"][0] == ("book_delta_v2/exchange=BINANCE_FUTURES/symbol=BTC-USDT-PERP/dt=2024-03-01/"
                                   "part-0.parquet")
    assert batch.tables["__rejected"].is_empty()
    _assert_contract(batch)


def test_lakeapi_frame_flat_with_datetimes_and_many_symbols(tmp_path):
    base = datetime(2024, 3, 1, tzinfo=UTC)
    _write(tmp_path / "my_trades.parquet", pl.DataFrame({
        "side": ["buy", "sell", "buy"],
        "quantity": [0.5, 10.0, 1.0],
        "price": [61000.0, 50000.0, 3000.0],
        "trade_id": [1, 7, 2],
        "origin_time": [base, base, base],
        "received_time": [datetime(2024, 3, 1, 0, 0, 1, tzinfo=UTC)] * 3,
        "exchange": ["BINANCE", "BINANCE_FUTURES", "BINANCE"],
        "symbol": ["BTC-USDT", "BTC-USD-PERP", "ETH-USDT"],
    }).with_columns(pl.col("origin_time", "received_time").dt.replace_time_zone(None)))
    batch = read_cryptolake(tmp_path)
    trades = batch.tables["raw_trades"].sort("trade_id")
    assert trades.select("venue", "symbol").rows() == [("binance_spot", "BTCUSDT"), ("binance_spot", "ETHUSDT"),
                                                       ("binance_cm", "BTCUSD_PERP")]
    # COIN-M: 10 contracts x 100 USD / 50 000 USD per BTC = 0.02 BTC, notional 1 000 USD
    assert trades["size"].to_list() == pytest.approx([0.5, 1.0, 0.02])
    assert trades["notional"].to_list() == pytest.approx([30500.0, 3000.0, 1000.0])
    assert trades["ts_local"][0] == datetime(2024, 3, 1, 0, 0, 1, tzinfo=UTC)  # naive datetimes read as UTC
    _assert_contract(batch)


def test_trades_funding_liquidations_cryptofeed_names(tmp_path):
    _lake(tmp_path, "trades", "BINANCE", "BTC-USDT", "2024-03-01", pl.DataFrame({
        "side": ["BUY", "sell", "sideways", "buy"], "amount": [1.0, 2.0, 3.0, None], "price": [10.0, 11.0, 12.0, 13.0],
        "id": [1, 2, 3, 4], "timestamp": [NS0, NS0 + MS, NS0 + 2 * MS, NS0 + 3 * MS],
        "receipt_timestamp": [NS0 + 10, NS0 + MS + 10, NS0 + 2 * MS + 10, NS0 + 3 * MS + 10]}))
    _lake(tmp_path, "funding", "BINANCE_FUTURES", "ETH-USDT-PERP", "2024-03-01", pl.DataFrame({
        "mark_price": [3000.5], "rate": [0.0001], "predicted_rate": [0.0002],
        "next_funding_time": [NS0 + 8 * 3600 * 10**9], "timestamp": [NS0], "receipt_timestamp": [NS0 + MS]}))
    _lake(tmp_path, "liquidations", "BINANCE_FUTURES", "SOL-USDT-PERP", "2024-03-01", pl.DataFrame({
        "side": ["sell"], "quantity": [5.0], "price": [120.0], "id": ["x"], "status": ["filled"],
        "timestamp": [NS0], "receipt_timestamp": [NS0 + MS]}))
    batch = read_cryptolake(tmp_path)
    trades = batch.tables["raw_trades"]
    assert trades.select("side", "size", "trade_id").rows() == [("buy", 1.0, 1), ("sell", 2.0, 2)]
    rejected = batch.tables["__rejected"]
    assert rejected["__line"].to_list() == [3, 4]
    assert rejected["reason"].to_list() == ["side is not buy/sell", "quantity is not a number"]
    assert rejected["raw"][0] == "sideways,3.0,12.0,3,1709251200002000000,1709251200002000010"
    funding = batch.tables["raw_derivative_ticker"].row(0, named=True)
    assert (funding["venue"], funding["symbol"], funding["funding_rate"], funding["mark_price"]) == (
        "binance_usdm", "ETHUSDT", 0.0001, 3000.5)
    assert funding["funding_time"] == datetime(2024, 3, 1, 8, tzinfo=UTC)
    liq = batch.tables["raw_liquidations"].row(0, named=True)
    assert (liq["symbol"], liq["side"], liq["size"], liq["notional"]) == ("SOLUSDT", "sell", 5.0, 600.0)
    _assert_contract(batch)


def test_day_filter_refusals_and_malformed_files(tmp_path):
    frame = pl.DataFrame({"side": ["buy"], "amount": [1.0], "price": [10.0], "id": [1],
                          "timestamp": [NS0], "receipt_timestamp": [NS0 + MS]})
    _lake(tmp_path, "trades", "BINANCE", "BTC-USDT", "2024-03-01", frame)
    _lake(tmp_path, "trades", "BINANCE", "BTC-USDT", "2024-03-05", frame.with_columns(
        pl.col("timestamp") + 4 * 86_400 * 10**9, pl.col("receipt_timestamp") + 4 * 86_400 * 10**9))
    _lake(tmp_path, "book", "BINANCE", "BTC-USDT", "2024-03-01", pl.DataFrame({"bid_0_price": [1.0]}))
    _write(tmp_path / "odd.parquet", pl.DataFrame({"foo": [1]}))
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "notes.csv").write_text("a,b\n")
    _lake(tmp_path, "book_delta_v2", "BINANCE", "BTC-USDT", "2024-03-01", pl.DataFrame({
        "timestamp": [NS0, NS0], "receipt_timestamp": [NS0 + MS, None], "sequence_number": [1, 2],
        "side_is_bid": [True, False], "price": ["100.5", "x"], "size": [1.0, 1.0]}))
    batch = read_cryptolake(tmp_path, start=date(2024, 3, 1), end=date(2024, 3, 1))
    assert batch.tables["raw_trades"].height == 1  # the 03-05 folder is not read at all
    reasons = {p.name if p.parent == tmp_path else p.parts[-5]: why for p, why in batch.refused}
    assert "not read by this source" in reasons["book"]
    assert "columns unknown" in reasons["odd.parquet"]
    assert "unreadable parquet" in reasons["broken.parquet"]
    assert "not a parquet file" in reasons["notes.csv"]
    deltas = batch.tables["raw_book_deltas"]
    assert deltas["price"].to_list() == [100.5]  # a price stored as text still parses
    rejected = batch.tables["__rejected"]
    assert rejected["__line"].to_list() == [2]
    assert rejected["reason"][0] == "received_time missing or not a time; price is not a number"
    _assert_contract(batch)
