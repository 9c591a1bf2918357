"""The Tardis CSV reader on small exports written here, gzip and plain, flat and in subfolders.

Expected values are the rows written below read by Tardis's documented rules
(https://docs.tardis.dev/downloadable-csv-files: µs clocks, amount is the new level size, 0
deletes, `is_snapshot` resets; trade side unknown has no aggressor) and, for COIN-M, Binance's
contract sizes (100 USD a BTC contract): each is worked out by hand in a comment.
"""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from dvol_pipeline.contracts.micro import MICRO_RAW_TABLES, validate_ticks
from dvol_pipeline.sources.micro.tardis import read_tardis, venue_of

T0 = 1_709_251_200_000_000  # 2024-03-01 00:00:00 UTC in µs

L2_HEAD = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"
TRADES_HEAD = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
TICKER_HEAD = ("exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,"
               "open_interest,last_price,index_price,mark_price")


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(text) if path.name.endswith(".gz") else text)
    return path


def _snapshot_head(levels: int) -> str:
    cols = [f"{s}[{i}].{f}" for s in ("asks", "bids") for i in range(levels) for f in ("price", "amount")]
    return "exchange,symbol,timestamp,local_timestamp," + ",".join(cols)


def _snapshot_row(ts: int, asks: list[tuple[float, float] | None], bids: list[tuple[float, float] | None],
                  exchange: str = "binance-futures", symbol: str = "BTCUSDT") -> str:
    cells = []
    for side in (asks, bids):
        for level in side:
            cells += ["", ""] if level is None else [str(level[0]), str(level[1])]
    return f"{exchange},{symbol},{ts - 5000},{ts}," + ",".join(cells)


def _assert_contract(batch) -> None:
    """Every frame of valid input passes the lane's contract with nothing rejected."""
    for name, frame in batch.tables.items():
        if name in MICRO_RAW_TABLES:
            report = validate_ticks(MICRO_RAW_TABLES[name], frame)
            assert report.passed, (name, report.reason_counts(), report.batch_errors)
            assert report.duplicates == 0


def test_incremental_book_gzip_flat(tmp_path):
    _write(tmp_path / "binance-futures_incremental_book_L2_2024-03-01_BTCUSDT.csv.gz", [
        L2_HEAD,
        # a buffered update before the first snapshot: Tardis says to skip it
        f"binance-futures,BTCUSDT,{T0 - 10},{T0 - 5},false,bid,99,1",
        f"binance-futures,BTCUSDT,{T0},{T0 + 100},true,ask,101.5,2",
        f"binance-futures,BTCUSDT,{T0},{T0 + 100},true,bid,101.0,3",
        f"binance-futures,BTCUSDT,{T0 + 900},{T0 + 1000},false,bid,101.0,0",
        f"binance-futures,BTCUSDT,{T0 + 900},{T0 + 1000},false,bid,100.9,1.25",
    ])
    batch = read_tardis(tmp_path)
    deltas = batch.tables["raw_book_deltas"]
    assert deltas.height == 4  # 5 rows written, the pre-snapshot one dropped
    assert deltas["venue"].unique().to_list() == ["binance_usdm"]
    assert deltas["side"].to_list() == ["ask", "bid", "bid", "bid"]
    assert deltas["size"].to_list() == [2.0, 3.0, 0.0, 1.25]  # amount is the new size, 0 deletes (Tardis docs)
    assert deltas["is_snapshot"].to_list() == [True, True, False, False]
    assert deltas["update_id"].null_count() == 4
    # local_timestamp T0+100 µs = 2024-03-01 00:00:00.000100 UTC; timestamp = T0 µs
    assert deltas["ts_local"][0] == datetime(2024, 3, 1, 0, 0, 0, 100, tzinfo=UTC)
    assert deltas["ts_exchange"][0] == datetime(2024, 3, 1, tzinfo=UTC)
    assert deltas.schema["ts_local"] == pl.Datetime("ns", "UTC")
    assert deltas["__file"][0] == "binance-futures_incremental_book_L2_2024-03-01_BTCUSDT.csv.gz"
    assert deltas["__line"].to_list() == [3, 4, 5, 6]  # header is line 1, the dropped row line 2
    assert any("before the file's first snapshot" in n for n in batch.notes)
    assert batch.tables["__rejected"].is_empty()
    _assert_contract(batch)


def test_trades_plain_in_subfolder_and_unknown_side_rejected(tmp_path):
    _write(tmp_path / "binance" / "2024" / "binance_trades_2024-03-01_BTCUSDT.csv", [
        TRADES_HEAD,
        f"binance,BTCUSDT,{T0},{T0 + 50},3445374963,sell,61130.98,0.00145",
        f"binance,BTCUSDT,{T0 + 10},{T0 + 60},3445374964,unknown,61131,0.5",
        f"binance,BTCUSDT,{T0 + 20},{T0 + 70},abc-guid,buy,61131.5,2",
        f"binance,BTCUSDT,{T0 + 30},{T0 + 80},3445374966,buy,not-a-price,2",
    ])
    batch = read_tardis(tmp_path)
    trades = batch.tables["raw_trades"]
    assert trades["venue"].unique().to_list() == ["binance_spot"]
    assert trades["side"].to_list() == ["sell", "buy"]
    assert trades["trade_id"].to_list() == [3445374963, None]  # a non-integer id becomes null
    assert trades["notional"].to_list() == pytest.approx([61130.98 * 0.00145, 61131.5 * 2])
    rejected = batch.tables["__rejected"]
    assert rejected["__line"].to_list() == [3, 5]
    assert rejected["__file"].unique().to_list() == ["binance/2024/binance_trades_2024-03-01_BTCUSDT.csv"]
    assert "side unknown" in rejected["reason"][0]
    assert "price is not a number" in rejected["reason"][1]
    assert rejected["raw"][1].startswith("binance,BTCUSDT,")
    _assert_contract(batch)


def test_coinm_contracts_become_coins(tmp_path):
    _write(tmp_path / "binance-delivery_trades_2024-03-01_BTCUSD_PERP.csv.gz", [
        TRADES_HEAD, f"binance-delivery,BTCUSD_PERP,{T0},{T0 + 50},1,buy,50000,10"])
    _write(tmp_path / "binance-delivery_liquidations_2024-03-01_ETHUSD_PERP.csv.gz", [
        TRADES_HEAD, f"binance-delivery,ETHUSD_PERP,{T0},{T0 + 50},,sell,2000,4"])
    batch = read_tardis(tmp_path)
    trade = batch.tables["raw_trades"].row(0, named=True)
    assert trade["venue"] == "binance_cm"
    # 10 contracts x 100 USD / 50 000 USD per BTC = 0.02 BTC; notional 1 000 USD
    assert trade["size"] == pytest.approx(0.02)
    assert trade["notional"] == pytest.approx(1000.0)
    liq = batch.tables["raw_liquidations"].row(0, named=True)
    # 4 contracts x 10 USD / 2 000 USD per ETH = 0.02 ETH
    assert liq["size"] == pytest.approx(0.02)
    assert liq["side"] == "sell"
    assert any("COIN-M contracts" in n for n in batch.notes)
    _assert_contract(batch)


def test_derivative_ticker(tmp_path):
    funding = T0 + 8 * 3600 * 1_000_000
    _write(tmp_path / "binance-futures_derivative_ticker_2024-03-01_BTCUSDT.csv.gz", [
        TICKER_HEAD,
        f"binance-futures,BTCUSDT,{T0},{T0 + 100},{funding},0.0001,0.00012,80000.5,61000,61010,61005",
        f"binance-futures,BTCUSDT,{T0 + 1000},{T0 + 1100},,,,80001,,,61006",
        f"binance-futures,BTCUSDT,{T0 + 2000},{T0 + 2100},{funding},oops,,80001,,,61006",
    ])
    batch = read_tardis(tmp_path)
    ticker = batch.tables["raw_derivative_ticker"]
    assert ticker.height == 2
    first = ticker.row(0, named=True)
    assert first["funding_time"] == datetime(2024, 3, 1, 8, tzinfo=UTC)
    assert first["funding_rate"] == 0.0001
    assert (first["mark_price"], first["index_price"], first["open_interest"]) == (61005.0, 61010.0, 80000.5)
    assert ticker["funding_rate"][1] is None  # an empty field is missing, not malformed
    assert batch.tables["__rejected"]["reason"].to_list() == ["funding_rate is not a number"]
    _assert_contract(batch)


def test_book_snapshot_top_of_book_and_deltas_where_no_incremental(tmp_path):
    head = _snapshot_head(2)
    _write(tmp_path / "snaps" / "binance-futures_book_snapshot_25_2024-03-01_BTCUSDT.csv.gz", [
        head.replace("asks[1]", "asks[1]"),  # a two-level file stands in for 25 levels (the reader reads the header)
        _snapshot_row(T0 + 100, asks=[(101, 1), (102, 2)], bids=[(100, 3), (99, 4)]),
        # ask 101 grows to 1.5, bid 100 leaves the top (99 moves up), bid 98 enters at level 1
        _snapshot_row(T0 + 200, asks=[(101, 1.5), (102, 2)], bids=[(99, 4), (98, 5)]),
        _snapshot_row(T0 + 300, asks=[(101, 1.5), (102, 2)], bids=[None, None]),  # bid side empty
    ])
    batch = read_tardis(tmp_path)
    top = batch.tables["raw_top_of_book"]
    assert top.select("bid_price", "bid_size", "ask_price", "ask_size").rows() == [(100.0, 3.0, 101.0, 1.0),
                                                                                    (99.0, 4.0, 101.0, 1.5)]
    assert any("empty side at level 0" in n for n in batch.notes)
    deltas = batch.tables["raw_book_deltas"]
    rows = deltas.select("is_snapshot", "side", "price", "size").rows()
    # snapshot 1 in full; then diff 1->2: ask 101 -> 1.5, bid 100 -> 0 (gone), bid 98 -> 5 (new), 99 unchanged;
    # then diff 2->3: bids 99 and 98 -> 0, asks unchanged
    assert rows == [(True, "ask", 101.0, 1.0), (True, "ask", 102.0, 2.0), (True, "bid", 99.0, 4.0),
                    (True, "bid", 100.0, 3.0),
                    (False, "ask", 101.0, 1.5), (False, "bid", 98.0, 5.0), (False, "bid", 100.0, 0.0),
                    (False, "bid", 98.0, 0.0), (False, "bid", 99.0, 0.0)]
    assert deltas["__line"].to_list() == [2, 2, 2, 2, 3, 3, 3, 4, 4]
    assert deltas["ts_local"].is_sorted()
    _assert_contract(batch)


def test_snapshot_not_used_as_deltas_where_incremental_exists(tmp_path):
    _write(tmp_path / "binance-futures_book_snapshot_25_2024-03-01_BTCUSDT.csv.gz", [
        _snapshot_head(1), _snapshot_row(T0 + 100, asks=[(101, 1)], bids=[(100, 3)])])
    _write(tmp_path / "binance-futures_incremental_book_L2_2024-03-01_BTCUSDT.csv.gz", [
        L2_HEAD, f"binance-futures,BTCUSDT,{T0},{T0 + 100},true,ask,101,1"])
    batch = read_tardis(tmp_path)
    assert batch.tables["raw_book_deltas"].height == 1
    assert batch.tables["raw_top_of_book"].height == 1
    _assert_contract(batch)


def test_arrival_order_across_files_and_day_filter(tmp_path):
    day1, day2 = T0, T0 + 86_400_000_000
    _write(tmp_path / "a" / "binance-futures_trades_2024-03-02_BTCUSDT.csv.gz", [
        TRADES_HEAD, f"binance-futures,BTCUSDT,{day2},{day2 + 5},3,buy,1,1"])
    _write(tmp_path / "b" / "binance-futures_trades_2024-03-01_BTCUSDT.csv", [
        TRADES_HEAD, f"binance-futures,BTCUSDT,{day1},{day1 + 5},1,buy,1,1",
        f"binance-futures,BTCUSDT,{day2 - 10},{day2 + 1},2,sell,1,1"])  # local clock already on the 2nd
    batch = read_tardis(tmp_path)
    assert batch.tables["raw_trades"]["trade_id"].to_list() == [1, 2, 3]
    only2 = read_tardis(tmp_path, start=date(2024, 3, 2), end=date(2024, 3, 2))
    assert only2.tables["raw_trades"]["trade_id"].to_list() == [2, 3]  # the local clock's day decides
    _assert_contract(batch)


def test_refusals_and_malformed_rows_never_crash(tmp_path):
    (tmp_path / "README.txt").write_text("not data")
    _write(tmp_path / "deribit_quotes_2024-03-01_BTC-PERPETUAL.csv.gz", ["exchange,symbol", "deribit,BTC-PERPETUAL"])
    _write(tmp_path / "deribit_trades_2024-03-01_BTC-PERPETUAL.csv.gz", ["exchange,symbol,price", "deribit,x,1"])
    (tmp_path / "deribit_trades_2024-03-02_BTC-PERPETUAL.csv.gz").write_bytes(b"\x1f\x8b garbage")
    _write(tmp_path / "okex-swap_incremental_book_L2_2024-03-01_BTC-USDT-SWAP.csv", [
        L2_HEAD,
        f"okex-swap,BTC-USDT-SWAP,{T0},{T0 + 1},true,bid,100,1",
        "garbage",
        f"okex-swap,BTC-USDT-SWAP,{T0},{T0 + 2},maybe,bid,100,1",
        f"okex-swap,BTC-USDT-SWAP,{T0},{T0 + 3},false,middle,100,1",
        f"okex-swap,BTC-USDT-SWAP,{T0},99999999999999999999999,false,bid,100,1",
        f"bitmex,BTC-USDT-SWAP,{T0},{T0 + 4},false,bid,100,1",
    ])
    batch = read_tardis(tmp_path)
    reasons = dict(batch.refused)
    assert "not a Tardis export name" in reasons[tmp_path / "README.txt"]
    assert "not read by this source" in reasons[tmp_path / "deribit_quotes_2024-03-01_BTC-PERPETUAL.csv.gz"]
    assert "without column" in reasons[tmp_path / "deribit_trades_2024-03-01_BTC-PERPETUAL.csv.gz"]
    assert "unreadable" in reasons[tmp_path / "deribit_trades_2024-03-02_BTC-PERPETUAL.csv.gz"]
    rejected = batch.tables["__rejected"]
    assert rejected["__line"].to_list() == [3, 4, 5, 6, 7]
    assert "local_timestamp" in rejected["reason"][0]
    assert "is_snapshot" in rejected["reason"][1]
    assert "side is not bid/ask" in rejected["reason"][2]
    assert "local_timestamp" in rejected["reason"][3]
    assert "exchange column differs" in rejected["reason"][4]
    deltas = batch.tables["raw_book_deltas"]
    assert deltas.height == 1
    assert deltas["venue"][0] == "okex_swap"
    _assert_contract(batch)


def test_venue_mapping():
    assert [venue_of(e) for e in ("binance", "binance-futures", "binance-delivery", "okex-swap", "deribit")] == [
        "binance_spot", "binance_usdm", "binance_cm", "okex_swap", "deribit"]
