"""`read_binance_ws` on small hand-written recordings, one per thing real files do.

Expected values are read off the message texts written here, with Binance's documented field
meanings (https://developers.binance.com/docs, WebSocket Market Streams of Spot, USDⓈ-M and COIN-M):
`m` "is the buyer the market maker?" (true: the aggressor sold), `U`/`u` first/final update id,
`pu` "final update id in last stream" (futures only), `lastUpdateId` of the REST snapshot,
forceOrder `o.ap` average price and `o.q` original quantity, markPrice `p` mark, `i` index,
`r` funding rate, `T` next funding time; COIN-M contracts are 100 USD (BTC) or 10 USD (others).
"""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from dvol_pipeline.contracts.micro import MICRO_RAW_TABLES, validate_ticks
from dvol_pipeline.sources.micro.binance_ws import REJECTED, read_binance_ws

T0 = 1_704_067_199_900  # 2023-12-31 23:59:59.900 UTC, in ms


def _write(path: Path, lines: list[str], gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(text) if gz else text)
    return path


def _ns(ms: int) -> str:
    return str(ms * 1_000_000)


def _us(ms: int) -> str:
    return str(ms * 1_000)


USDM = [
    _ns(T0) + ' {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1704067199890,"T":1704067199880,'
    '"s":"BTCUSDT","U":100,"u":105,"pu":99,"b":[["42000.10","1.500"],["41999.00","0.000"]],'
    '"a":[["42000.20","2.000"]]}}',
    _ns(T0 + 50) + ' {"stream":"btcusdt@trade","data":{"e":"trade","E":1704067199940,"T":1704067199935,"s":"BTCUSDT",'
    '"t":7,"p":"42000.20","q":"0.010","X":"MARKET","m":false}}',
    _ns(T0 + 60) + ' {"lastUpdateId":103,"E":1704067199950,"T":1704067199945,"bids":[["42000.10","1.500"]],'
    '"asks":[["42000.20","2.000"]]}',
    _ns(T0 + 110) + ' {"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":106,"s":"BTCUSDT","b":"42000.10",'
    '"B":"1.5","a":"42000.20","A":"2.0","T":1704067200000,"E":1704067200001}}',
    _ns(T0 + 120) + ' {"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1704067200000,"s":"BTCUSDT",'
    '"p":"42001.0","P":"42000","i":"41999.5","r":"0.00010000","T":1704096000000}}',
    _ns(T0 + 130) + ' {"stream":"btcusdt@forceOrder","data":{"e":"forceOrder","E":1704067200025,"o":{"s":"BTCUSDT",'
    '"S":"SELL","o":"LIMIT","f":"IOC","q":"0.5","p":"41990","ap":"41995","X":"FILLED","l":"0.5","z":"0.5",'
    '"T":1704067200024}}}',
    _ns(T0 + 140) + ' {"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1704067200040,"s":"BTCUSDT","a":55,'
    '"p":"42000.10","q":"0.2","f":1,"l":2,"T":1704067200039,"m":true}}',
    _ns(T0 + 150) + ' {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1704067200050,"T":1704067200045,'
    '"s":"BTCUSDT","U":106,"u":107,"pu":105,"b":[],"a":[["42000.20","0.000"]]}}',
]

SPOT = [
    _us(T0) + ' {"stream":"ethusdt@depth@100ms","data":{"e":"depthUpdate","E":1704067199899,"s":"ETHUSDT",'
    '"U":500,"u":502,"b":[["2300.01","4.0000"]],"a":[]}}',
    _us(T0 + 5) + ' {"stream":"ethusdt@bookTicker","data":{"u":502,"s":"ETHUSDT","b":"2300.01","B":"4.0000",'
    '"a":"2300.02","A":"1.5000"}}',
    _us(T0 + 7) + ' {"lastUpdateId":501,"bids":[["2300.01","3.0000"]],"asks":[["2300.02","1.5000"]]}',
    _us(T0 + 9) + ' {"stream":"ethusdt@depth@100ms","data":{"e":"depthUpdate","E":1704067199905,"s":"ETHUSDT",'
    '"U":503,"u":503,"b":[],"a":[["2300.02","1.0000"]]}}',
    _us(T0 + 12) + ' {"stream":"ethusdt@aggTrade","data":{"e":"aggTrade","E":1704067199911,"s":"ETHUSDT","a":9,'
    '"p":"2300.02","q":"0.5000","f":100,"l":101,"T":1704067199910,"m":false,"M":true}}',
]


def test_usdm_rows_follow_the_messages(tmp_path):
    _write(tmp_path / "usdm" / "btcusdt_20231231.txt", USDM)
    batch = read_binance_ws(tmp_path)
    assert batch.refused == [] and batch.source == "binance_ws"
    deltas = batch.table("raw_book_deltas")
    # Arrival order: the first diff's 3 levels, then the snapshot (line 3, after the first diff), then line 8.
    assert deltas["__line"].to_list() == [1, 1, 1, 3, 3, 8]
    assert deltas["side"].to_list() == ["bid", "bid", "ask", "bid", "ask", "ask"]
    assert deltas["size"].to_list() == [1.5, 0.0, 2.0, 1.5, 2.0, 0.0]
    assert deltas["is_snapshot"].to_list() == [False, False, False, True, True, False]
    assert deltas["first_update_id"].to_list()[:3] == [100] * 3 and deltas["first_update_id"][3] is None
    assert deltas["update_id"].to_list() == [105, 105, 105, 103, 103, 107]  # snapshot: lastUpdateId
    assert deltas["prev_update_id"].to_list() == [99, 99, 99, None, None, 105]
    assert set(deltas["symbol"]) == {"BTCUSDT"} and set(deltas["venue"]) == {"binance_usdm"}
    # Futures diffs: ts_exchange is the transaction time T; the local clock is the line's prefix (ns).
    assert deltas["ts_exchange"][0] == datetime(2023, 12, 31, 23, 59, 59, 880_000, tzinfo=UTC)
    assert deltas["ts_local"][0] == datetime(2023, 12, 31, 23, 59, 59, 900_000, tzinfo=UTC)
    trades = batch.table("raw_trades")
    assert trades["side"].to_list() == ["buy", "sell"]  # m=false: buyer is taker; m=true: seller is taker
    assert trades["trade_id"].to_list() == [7, 55]
    assert trades["notional"].to_list() == pytest.approx([42000.20 * 0.010, 42000.10 * 0.2])
    top = batch.table("raw_top_of_book").row(0, named=True)
    assert (top["bid_price"], top["bid_size"], top["ask_price"], top["ask_size"], top["update_id"]) == (
        42000.10, 1.5, 42000.20, 2.0, 106)
    liq = batch.table("raw_liquidations").row(0, named=True)
    assert (liq["side"], liq["price"], liq["size"]) == ("sell", 41995.0, 0.5)  # price: average price ap
    tick = batch.table("raw_derivative_ticker").row(0, named=True)
    assert (tick["mark_price"], tick["index_price"], tick["funding_rate"]) == (42001.0, 41999.5, 0.0001)
    assert tick["funding_time"] == datetime(2024, 1, 1, 8, tzinfo=UTC)
    assert any("local clock in ns" in n for n in batch.notes)
    assert any("assigned to BTCUSDT" in n for n in batch.notes)
    for name in MICRO_RAW_TABLES:
        report = validate_ticks(MICRO_RAW_TABLES[name], batch.table(name))
        assert report.passed, (name, report.batch_errors, report.reason_counts())


def test_spot_gzip_microseconds_in_a_subfolder(tmp_path):
    _write(tmp_path / "spot" / "ethusdt_20231231.log.gz", SPOT, gz=True)
    batch = read_binance_ws(tmp_path)
    assert batch.refused == []
    deltas = batch.table("raw_book_deltas")
    assert set(deltas["venue"]) == {"binance_spot"} and set(deltas["symbol"]) == {"ETHUSDT"}
    assert deltas["prev_update_id"].null_count() == deltas.height  # spot diffs carry no pu
    assert deltas["ts_exchange"][0] == datetime(2023, 12, 31, 23, 59, 59, 899_000, tzinfo=UTC)  # spot: E
    assert deltas["ts_local"][0] == datetime(2023, 12, 31, 23, 59, 59, 900_000, tzinfo=UTC)  # µs prefix
    snap = deltas.filter(pl.col("is_snapshot"))
    assert snap["update_id"].to_list() == [501, 501] and snap["ts_exchange"].null_count() == 2
    top = batch.table("raw_top_of_book")
    assert top["ts_exchange"].to_list() == [None]  # spot bookTicker has no exchange time
    assert top["ts_local"][0] == datetime(2023, 12, 31, 23, 59, 59, 905_000, tzinfo=UTC)
    assert batch.table("raw_trades")["side"].to_list() == ["buy"]
    assert any("local clock in us" in n for n in batch.notes)
    assert any("spot bookTicker carries no exchange time" in n for n in batch.notes)


def test_ns_and_us_clocks_give_the_same_instant(tmp_path):
    msg = (' {"stream":"btcusdt@trade","data":{"e":"trade","E":1704067199940,"T":1704067199935,"s":"BTCUSDT",'
           '"t":7,"p":"42000.20","q":"0.010","X":"MARKET","m":false}}')
    _write(tmp_path / "usdm" / "ns.txt", [_ns(T0) + msg])
    _write(tmp_path / "usdm" / "us.txt", [str(T0 * 1000 + 1) + msg])  # 1 µs later
    trades = read_binance_ws(tmp_path).table("raw_trades")
    assert (trades["ts_local"].max() - trades["ts_local"].min()).total_seconds() == pytest.approx(1e-6)


def test_coin_m_contracts_become_coins(tmp_path):
    lines = [
        _ns(T0) + ' {"stream":"btcusd_perp@depth@100ms","data":{"e":"depthUpdate","E":1704067199890,"T":1704067199880,'
        '"s":"BTCUSD_PERP","ps":"BTCUSD","U":1,"u":2,"pu":0,"b":[["50000.0","10"]],"a":[["50001.0","0"]]}}',
        _ns(T0 + 1) + ' {"stream":"ethusd_perp@trade","data":{"e":"trade","E":1704067199891,"T":1704067199890,'
        '"s":"ETHUSD_PERP","t":3,"p":"2500.00","q":"10","X":"MARKET","m":true}}',
        _ns(T0 + 2) + ' {"stream":"btcusd_perp@forceOrder","data":{"e":"forceOrder","E":1704067199892,"o":'
        '{"s":"BTCUSD_PERP","ps":"BTCUSD","S":"BUY","o":"LIMIT","f":"IOC","q":"4","p":"40000","ap":"40000",'
        '"X":"FILLED","l":"4","z":"4","T":1704067199891}}}',
        _ns(T0 + 3) + ' {"lastUpdateId":2,"symbol":"BTCUSD_PERP","pair":"BTCUSD","E":1704067199893,"T":1704067199892,'
        '"bids":[["50000.0","20"]],"asks":[["50001.0","5"]]}',
    ]
    _write(tmp_path / "cm" / "perps.txt", lines)
    batch = read_binance_ws(tmp_path)
    assert batch.refused == []
    deltas = batch.table("raw_book_deltas")
    # size_coins = contracts x contract_usd / price: 10 x 100 / 50000 = 0.02; a 0 stays 0.
    assert deltas["size"].to_list() == pytest.approx([0.02, 0.0, 20 * 100 / 50000, 5 * 100 / 50001])
    assert set(deltas["symbol"]) == {"BTCUSD_PERP"}  # the COIN-M snapshot names its symbol
    trade = batch.table("raw_trades").row(0, named=True)
    assert trade["size"] == pytest.approx(10 * 10 / 2500)  # ETH: 10 USD a contract
    assert trade["notional"] == pytest.approx(100.0)  # 10 contracts x 10 USD
    assert batch.table("raw_liquidations")["size"].to_list() == pytest.approx([4 * 100 / 40000])
    assert any("COIN-M sizes converted" in n for n in batch.notes)


def test_folder_and_content_disagree_is_refused(tmp_path):
    path = _write(tmp_path / "spot" / "btcusdt.txt", USDM[:2])  # futures diffs (pu) filed under spot/
    batch = read_binance_ws(tmp_path)
    assert [p for p, _ in batch.refused] == [path]
    reason = batch.refused[0][1]
    assert "spot" in reason and "binance_usdm" in reason and "pu" in reason
    assert batch.tables.get("raw_book_deltas") is None


def test_flat_file_decides_from_content(tmp_path):
    _write(tmp_path / "eth.txt", SPOT)  # spot: diffs without pu, bookTicker without time
    _write(tmp_path / "btc.txt", USDM)  # futures: pu
    deltas = read_binance_ws(tmp_path).table("raw_book_deltas")
    assert dict(deltas.group_by("symbol").agg(pl.col("venue").first()).iter_rows()) == {
        "ETHUSDT": "binance_spot", "BTCUSDT": "binance_usdm"}


def test_flat_file_without_evidence_is_refused(tmp_path):
    # A trade with neither X (futures) nor M (spot) says nothing about its market.
    _write(tmp_path / "x.txt", [_ns(T0) + ' {"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T":1704067199935,'
                                '"s":"BTCUSDT","t":7,"p":"1","q":"1","m":false}}'])
    batch = read_binance_ws(tmp_path)
    assert len(batch.refused) == 1 and "no venue evidence" in batch.refused[0][1]


def test_snapshot_symbol_ambiguous_is_refused(tmp_path):
    eth = USDM[0].replace("btcusdt", "ethusdt").replace("BTCUSDT", "ETHUSDT")
    _write(tmp_path / "usdm" / "both.txt", [USDM[0], eth, USDM[2]])
    batch = read_binance_ws(tmp_path)
    assert len(batch.refused) == 1 and "ambiguous" in batch.refused[0][1]
    (tmp_path / "usdm" / "both.txt").unlink()
    _write(tmp_path / "usdm" / "ETHUSDT-2023-12-31.txt", [USDM[0], eth, USDM[2]])  # the name decides
    deltas = read_binance_ws(tmp_path).table("raw_book_deltas")
    assert deltas.filter(pl.col("is_snapshot"))["symbol"].unique().to_list() == ["ETHUSDT"]


def test_malformed_lines_are_rejected_not_fatal(tmp_path):
    lines = [
        USDM[1],
        "garbage without a timestamp",
        _ns(T0 + 1) + ' {"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T":1704067199935,,"s":"BTCUSDT"}}',
        "",
        _ns(T0 + 2) + ' {"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T":1704067199936,"s":"BTCUSDT",'
        '"t":8,"p":"abc","q":"1","X":"MARKET","m":true}}',
        _ns(T0 + 3) + ' {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpd',
        USDM[6],
    ]
    path = _write(tmp_path / "usdm" / "btcusdt.txt", lines)
    batch = read_binance_ws(tmp_path)
    assert batch.files == [path]
    assert batch.table("raw_trades")["__line"].to_list() == [1, 7]
    rej = batch.tables[REJECTED]
    assert rej["__line"].to_list() == [2, 3, 4, 5, 6]
    assert rej["raw"][0] == "garbage without a timestamp" and set(rej["__file"]) == {"usdm/btcusdt.txt"}
    reasons = dict(zip(rej["__line"], rej["reason"], strict=True))
    assert "malformed JSON" in reasons[3] and "numeric price" in reasons[5] and "truncated" in reasons[6]
    assert any("5 line(s) rejected" in n for n in batch.notes)


def test_session_without_snapshot_is_noted(tmp_path):
    _write(tmp_path / "usdm" / "btcusdt.txt", [USDM[0], USDM[7]])
    batch = read_binance_ws(tmp_path)
    assert any(n.startswith("binance_usdm BTCUSDT: no snapshot: no book can be rebuilt") for n in batch.notes)


def test_session_over_two_files_in_time_order_and_day_filter(tmp_path):
    # Names sort the wrong way round on purpose: the second day's file is `a_...`.
    _write(tmp_path / "usdm" / "b_20231231.txt", USDM[:3])
    _write(tmp_path / "usdm" / "a_20240101.txt", USDM[3:])
    batch = read_binance_ws(tmp_path)
    deltas = batch.table("raw_book_deltas")
    assert deltas["__file"].unique(maintain_order=True).to_list() == ["usdm/b_20231231.txt", "usdm/a_20240101.txt"]
    assert deltas["update_id"].to_list() == [105, 105, 105, 103, 103, 107]
    assert any("2 files concatenated" in n for n in batch.notes)
    day2 = read_binance_ws(tmp_path, start=date(2024, 1, 1), end=date(2024, 1, 1))
    assert day2.table("raw_book_deltas")["update_id"].to_list() == [107]
    assert day2.table("raw_trades")["trade_id"].to_list() == [55]
