"""The `binance_archive` source on small files written here, in the archive's layouts and flat.

Expected values come from the rows each test writes and the column meanings of Binance's public-data
README (github.com/binance/binance-public-data): aggTrades = agg id, price, quantity, first id, last
id, timestamp, buyer-is-maker[, best match]; COIN-M quantities in contracts of 100 USD (BTC) / 10 USD;
klines = open time, OHLC, volume, close time, quote volume, count, taker buy base, taker buy quote.
Arithmetic is done by hand in the comments.
"""

from __future__ import annotations

import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from dvol_pipeline.contracts.micro import MICRO_RAW_TABLES, validate_ticks
from dvol_pipeline.sources.micro.batch import TickBatch
from dvol_pipeline.sources.micro.binance_archive import REJECTED, read_binance_archive

AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
KLINE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
                "taker_buy_quote_volume,ignore")
T0 = 1709251200000  # 2024-03-01 00:00:00 UTC in ms
DAY_MS = 86_400_000


def _zip(path: Path, text: str, member: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member or path.with_suffix(".csv").name, text)
    return path


def _csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _ns(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _assert_contract(batch: TickBatch) -> None:
    """Every raw frame passes the raw tick contract whole, and nothing was quarantined."""
    assert batch.tables[REJECTED].is_empty(), batch.tables[REJECTED]
    for name, frame in batch.tables.items():
        if name in MICRO_RAW_TABLES:
            report = validate_ticks(MICRO_RAW_TABLES[name], frame)
            assert report.passed, (name, report.batch_errors, report.rejected)
            assert report.valid.height == frame.height and report.duplicates == 0


def test_archive_layout_zip_with_header_and_spot_csv_without(tmp_path: Path) -> None:
    _zip(tmp_path / "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03-01.zip",
         f"{AGG_HEADER}\n1,62000.5,0.010,10,11,{T0 + 123},true\n2,62001,0.5,12,12,{T0 + 456},false\n")
    _csv(tmp_path / "spot/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-03-01.csv",
         f"7,3400.10,2.00000000,20,21,{T0 + 5},False,True\n")
    batch = read_binance_archive(tmp_path)
    _assert_contract(batch)
    t = batch.tables["raw_trades"]
    um = t.filter(pl.col("venue") == "binance_usdm")
    assert um["price"].to_list() == [62000.5, 62001.0]  # the bare integer 62001 read as a float
    assert um["size"].to_list() == [0.01, 0.5]
    assert um["side"].to_list() == ["sell", "buy"]  # buyer is maker -> the seller was the aggressor
    assert um["notional"].to_list() == pytest.approx([620.005, 31000.5])
    assert um["trade_id"].to_list() == [1, 2]
    assert um["ts_exchange"].to_list() == [_ns(T0 + 123), _ns(T0 + 456)]
    assert (um["ts_local"] == um["ts_exchange"]).all()
    assert um["__file"][0] == ("data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03-01.zip"
                               "!BTCUSDT-aggTrades-2024-03-01.csv")
    assert um["__line"].to_list() == [2, 3]  # line 1 is the header
    spot = t.filter(pl.col("venue") == "binance_spot")
    assert spot.select("symbol", "price", "size", "side", "trade_id", "__line").row(0) == (
        "ETHUSDT", 3400.1, 2.0, "buy", 7, 1)
    assert any("1 with a header line, 1 without" in n for n in batch.notes)


def test_header_or_not_and_bare_integers_read_the_same(tmp_path: Path) -> None:
    rows = [f"1,42150,3,1,1,{T0},true", f"2,26809.90,1,2,2,{T0 + 1},false"]
    _csv(tmp_path / "a/um/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03-01.csv", "\n".join([AGG_HEADER, *rows]) + "\n")
    _csv(tmp_path / "b/um/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-03-01.csv", "\n".join(rows) + "\n")
    batch = read_binance_archive(tmp_path)
    _assert_contract(batch)
    t = batch.tables["raw_trades"]
    for symbol in ("BTCUSDT", "ETHUSDT"):
        one = t.filter(pl.col("symbol") == symbol)
        assert one["price"].to_list() == [42150.0, 26809.9]
        assert one["price"].dtype == pl.Float64


def test_ms_and_microsecond_timestamps_per_value(tmp_path: Path) -> None:
    # spot trades (README: id, price, qty, quoteQty, time, isBuyerMaker, isBestMatch); 2024-12-31 in ms,
    # 2025-01-01 in µs as the archive writes from 2025 on
    ms = 1735689599999  # 2024-12-31 23:59:59.999
    us = 1735689600000123  # 2025-01-01 00:00:00.000123
    _csv(tmp_path / "flat/BTCUSDT-trades-2024-12.csv", f"1,93000,0.1,9300,{ms},true,true\n")
    _csv(tmp_path / "flat/BTCUSDT-trades-2025-01.csv", f"2,93001,0.2,18600.2,{us},false,true\n")
    batch = read_binance_archive(tmp_path)
    _assert_contract(batch)
    t = batch.tables["raw_trades"]
    assert t["venue"].unique().to_list() == ["binance_spot"]  # 7 fields: spot by content
    ns = t["ts_exchange"].dt.epoch("ns").to_list()
    assert ns == [ms * 1_000_000, us * 1_000]
    assert any("1 row(s) had microsecond" in n for n in batch.notes)


def test_coin_m_contracts_become_coins(tmp_path: Path) -> None:
    # aggTrades: 5 BTC contracts x 100 USD / 50000 = 0.01 BTC; 20 ETH contracts x 10 USD / 2500 = 0.08 ETH
    _csv(tmp_path / "cm/aggTrades/BTCUSD_PERP/BTCUSD_PERP-aggTrades-2024-03-01.csv", f"1,50000,5,1,1,{T0},false\n")
    _csv(tmp_path / "ETHUSD_PERP-aggTrades-2024-03-01.csv", f"1,2500.0,20,1,1,{T0},true\n")  # flat: _PERP -> cm
    # trades (COIN-M: id, price, qty in contracts, baseQty, time, isBuyerMaker): base_qty used as is
    _csv(tmp_path / "futures/cm/daily/trades/BTCUSD_PERP/BTCUSD_PERP-trades-2024-03-02.csv",
         f"id,price,qty,base_qty,time,is_buyer_maker\n9,40000,1,0.0025,{T0 + DAY_MS},true\n")
    # bookTicker: 52 contracts at 52000 bid -> 52 x 100 / 52000 = 0.1 BTC; 26 at 52000 ask -> 0.05
    _csv(tmp_path / "futures/cm/daily/bookTicker/BTCUSD_PERP/BTCUSD_PERP-bookTicker-2024-03-01.csv",
         "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time\n"
         f"17,52000,52,52000,26,{T0},{T0 + 4}\n")
    batch = read_binance_archive(tmp_path)
    _assert_contract(batch)
    t = batch.tables["raw_trades"].sort("symbol", "ts_local")
    assert t["venue"].unique().to_list() == ["binance_cm"]
    assert t["size"].to_list() == pytest.approx([0.01, 0.0025, 0.08])
    assert t["notional"].to_list() == pytest.approx([500.0, 100.0, 200.0])  # = contracts x contract value
    top = batch.tables["raw_top_of_book"]
    assert top.select("bid_size", "ask_size", "update_id").row(0) == pytest.approx((0.1, 0.05, 17))
    assert top["ts_exchange"][0] == _ns(T0) and top["ts_local"][0] == _ns(T0 + 4)


def test_book_ticker_usdm_clocks_and_ids(tmp_path: Path) -> None:
    _zip(tmp_path / "BTCUSDT-bookTicker-2024-03-01.zip",
         "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time\n"
         f"100,62000.0,1.5,62000.1,2.0,{T0 + 10},{T0 + 12}\n"
         f"101,62000.0,1.2,62000.1,2.0,{T0 + 20},{T0 + 21}\n")
    batch = read_binance_archive(tmp_path)
    _assert_contract(batch)
    top = batch.tables["raw_top_of_book"]
    assert top["venue"].to_list() == ["binance_usdm"] * 2  # flat bookTicker: the archive has it for futures only
    assert top["update_id"].to_list() == [100, 101]
    assert top["bid_size"].to_list() == [1.5, 1.2]
    assert top["ts_local"].to_list() == [_ns(T0 + 12), _ns(T0 + 21)]
    assert "ofi" not in batch.missing_features  # a bookTicker stream for every stream read


def test_funding_offsets_scientific_rates_intervals_and_caps(tmp_path: Path) -> None:
    h = 3_600_000
    rows = [(T0 + 7, 8, "1.0E-4"), (T0 + 8 * h + 3, 8, "0.0075"), (T0 + 16 * h + 5, 4, "-0.0075"),
            (T0 + 20 * h + 2, 2, "3.0E-2"), (T0 + 22 * h + 9, 2, "0.00005")]
    _zip(tmp_path / "futures/um/monthly/fundingRate/SOLUSDT/SOLUSDT-fundingRate-2024-03.zip",
         "calc_time,funding_interval_hours,last_funding_rate\n" + "".join(f"{t},{i},{r}\n" for t, i, r in rows))
    batch = read_binance_archive(tmp_path)
    _assert_contract(batch)
    f = batch.tables["raw_derivative_ticker"]
    assert f["funding_rate"].to_list() == pytest.approx([1e-4, 0.0075, -0.0075, 0.03, 5e-5])
    assert f["funding_interval_hours"].to_list() == [8, 8, 4, 2, 2]
    assert f["funding_time"].to_list() == [_ns(t) for t, _, _ in rows]  # kept ms after the hour
    assert (f["funding_time"] == f["ts_exchange"]).all()  # settled rows
    assert f["open_interest"].null_count() == 5
    notes = "\n".join(batch.notes)
    assert "3 settlement(s) at a venue cap" in notes  # 0.0075, -0.0075, 0.03
    assert "median 5 ms, max 9 ms" in notes
    assert "interval changes to 4 h" in notes and "interval changes to 2 h" in notes


def test_funding_interval_inferred_from_spacing_when_absent(tmp_path: Path) -> None:
    h = 3_600_000
    times = [T0 + 1, T0 + 8 * h + 2, T0 + 12 * h + 1, T0 + 14 * h + 3]  # gaps 8 h, 4 h, 2 h
    _csv(tmp_path / "um/fundingRate/ETHUSDT/ETHUSDT-fundingRate-2024-03.csv",
         "calc_time,last_funding_rate\n" + "".join(f"{t},0.0001\n" for t in times))
    batch = read_binance_archive(tmp_path)
    _assert_contract(batch)
    # the first takes the spacing to the next (8 h); the others the spacing to the previous one
    assert batch.tables["raw_derivative_ticker"]["funding_interval_hours"].to_list() == [8, 8, 4, 2]
    assert any("4 settlement(s) without funding_interval_hours" in n for n in batch.notes)


def test_metrics_open_interest(tmp_path: Path) -> None:
    _zip(tmp_path / "futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-03-01.zip",
         "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
         "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio\n"
         "2024-03-01 00:05:00,BTCUSDT,77082.018,4779086.9,1.1,1.2,1.3,0.9\n"
         "2024-03-01 00:10:00,BTCUSDT,77234,4788000.0,1.1,1.2,1.3,0.9\n")
    batch = read_binance_archive(tmp_path)
    _assert_contract(batch)
    m = batch.tables["raw_derivative_ticker"]
    assert m["open_interest"].to_list() == [77082.018, 77234.0]
    assert m["ts_local"].to_list() == [datetime(2024, 3, 1, 0, 5, tzinfo=UTC), datetime(2024, 3, 1, 0, 10, tzinfo=UTC)]
    assert m["funding_rate"].null_count() == 2


def test_klines_make_bars_only_where_no_trades(tmp_path: Path) -> None:
    # day 1 has klines only; day 2 has klines and trades -> its kline bar is skipped
    d2 = T0 + DAY_MS
    kl = f"{T0},62000,62100,61900,62050,10,{T0 + 59999},620500,42,6,372300,0\n"
    _csv(tmp_path / "futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-03-01.csv", KLINE_HEADER + "\n" + kl)
    _csv(tmp_path / "futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-03-02.csv",
         KLINE_HEADER + f"\n{d2},1,1,1,1,1,{d2 + 59999},1,1,1,1,0\n")
    _csv(tmp_path / "futures/um/daily/trades/BTCUSDT/BTCUSDT-trades-2024-03-02.csv",
         f"id,price,qty,quote_qty,time,is_buyer_maker\n1,62000,0.1,6200,{d2 + 5},false\n")
    batch = read_binance_archive(tmp_path)
    _assert_contract(batch)
    bars = batch.bars
    assert bars.height == 1
    row = bars.row(0, named=True)
    assert row["ts"] == _ns(T0 + 60_000)  # the bar's close
    assert (row["venue"], row["symbol"], row["bar"]) == ("binance_usdm", "BTCUSDT", "1m")
    assert (row["trade_open"], row["trade_high"], row["trade_low"], row["trade_close"]) == (62000, 62100, 61900, 62050)
    assert (row["volume"], row["notional"], row["buy_volume"], row["sell_volume"], row["trades"]) == (
        10, 620500, 6, 4, 42)  # sell = 10 - 6
    assert row["vwap"] == pytest.approx(62050.0)  # 620500 / 10
    assert all(row[c] is None for c in ("mid_open", "mid_close", "spread_bps", "ofi", "bid_depth_5", "ask_price"))
    assert any("1 kline bar(s) skipped" in n for n in batch.notes)
    assert "tick_trades" in batch.missing_features


def test_coin_m_klines(tmp_path: Path) -> None:
    # README COIN-M: volume 206 contracts, base asset volume 2.13660389, taker buy volume 119 contracts,
    # taker buy base asset volume 1.23424865 (its sample row)
    _csv(tmp_path / "cm/klines/BTCUSD_PERP/1m/BTCUSD_PERP-1m-2020-06-04.csv",
         "1591258320000,9640.7,9642.4,9640.6,9642.0,206,1591258379999,2.13660389,48,119,1.23424865,0\n")
    batch = read_binance_archive(tmp_path)
    row = batch.bars.row(0, named=True)
    assert row["volume"] == pytest.approx(2.13660389)
    assert row["buy_volume"] == pytest.approx(1.23424865)
    assert row["sell_volume"] == pytest.approx(2.13660389 - 1.23424865)
    assert row["notional"] == pytest.approx(20600.0)  # 206 contracts x 100 USD
    assert row["vwap"] == pytest.approx(20600.0 / 2.13660389)
    assert row["trades"] == 48


def test_aggtrades_dropped_on_days_with_trades(tmp_path: Path) -> None:
    _csv(tmp_path / "um/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03-01.csv", f"1,100,1,1,2,{T0},true\n")
    _csv(tmp_path / "um/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03-02.csv", f"2,100,1,3,3,{T0 + DAY_MS},true\n")
    _csv(tmp_path / "um/trades/BTCUSDT/BTCUSDT-trades-2024-03-01.csv",
         f"1,100,0.4,40,{T0},true\n2,100,0.6,60,{T0},true\n")
    batch = read_binance_archive(tmp_path)
    _assert_contract(batch)
    t = batch.tables["raw_trades"]
    assert t["size"].to_list() == [0.4, 0.6, 1.0]  # day 1 from trades, day 2 from aggTrades
    assert any("1 aggTrades row(s) dropped" in n for n in batch.notes)


def test_malformed_rows_quarantined_never_crash(tmp_path: Path) -> None:
    _csv(tmp_path / "um/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03-01.csv",
         f"{AGG_HEADER}\n1,100,1,1,1,{T0},true\n2,abc,1,1,1,{T0},true\nshort,row\n\n3,100,1,1,1,{T0},maybe\n"
         f"4,101,1,1,1,{T0 + 1},false\n")
    batch = read_binance_archive(tmp_path)
    rej = batch.tables[REJECTED].sort("__line")
    assert rej["__line"].to_list() == [3, 4, 6]  # line 5 is blank: skipped, not rejected
    assert rej["reason"].to_list() == ["unparseable price", "expected at least 7 fields, got 2",
                                       "unparseable maker"]
    assert rej["raw"][1] == "short,row"
    assert rej["__file"].unique().to_list() == ["um/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03-01.csv"]
    assert batch.tables["raw_trades"]["trade_id"].to_list() == [1, 4]


def test_refusals_and_missing_features(tmp_path: Path) -> None:
    _zip(tmp_path / "futures/um/daily/bookDepth/BTCUSDT/BTCUSDT-bookDepth-2024-03-01.zip",
         "timestamp,percentage,depth,notional\n2024-03-01 00:00:08,-5,1000.5,60000000\n")
    _csv(tmp_path / "notes.txt", "hello")
    _csv(tmp_path / "BTCUSDT-orders-2024-03-01.csv", "1,2\n")
    _csv(tmp_path / "spot/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03-01.csv", f"1,100,1,1,1,{T0},true\n")  # 7 cols
    _csv(tmp_path / "BTCUSDT-1m-2024-03-01.csv", f"{T0},1,1,1,1,1,{T0 + 59999},1,1,1,1,0\n")  # spot or um?
    _csv(tmp_path / "um/aggTrades/BTCUSD_PERP/BTCUSD_PERP-aggTrades-2024-03-01.csv", f"1,100,1,1,1,{T0},true\n")
    _csv(tmp_path / "um/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03-01.csv.CHECKSUM", "abc  x\n")
    batch = read_binance_archive(tmp_path)
    reasons = {p.name: why for p, why in batch.refused}
    assert "not L2" in reasons["BTCUSDT-bookDepth-2024-03-01.zip"]
    assert "not a zip or csv" in reasons["notes.txt"]
    assert "unknown archive kind 'orders'" in reasons["BTCUSDT-orders-2024-03-01.csv"]
    assert "folder says spot, content says um" in reasons["BTCUSDT-aggTrades-2024-03-01.csv"]
    assert "cannot be told spot from um" in reasons["BTCUSDT-1m-2024-03-01.csv"]
    assert "folder says um, content says cm" in reasons["BTCUSD_PERP-aggTrades-2024-03-01.csv"]
    assert len(batch.refused) == 6 and batch.files == []
    for group in ("ofi", "depth_imbalance", "queue", "microprice", "book"):
        assert group in batch.missing_features
    assert "refused" in batch.missing_features["depth_imbalance"]


def test_start_end_filter_on_utc_day(tmp_path: Path) -> None:
    rows = "".join(f"{i},100,1,{i},{i},{T0 + i * DAY_MS - 1},true\n" for i in range(4))  # Feb 29 23:59:59.999 ..
    _csv(tmp_path / "um/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03.csv", rows)
    _csv(tmp_path / "um/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-04-01.csv", "broken\n")  # outside: never read
    batch = read_binance_archive(tmp_path, start=date(2024, 3, 1), end=date(2024, 3, 2))
    _assert_contract(batch)
    # ids 1 and 2 fall on 2024-03-01 and 03-02 (23:59:59.999); id 0 on 02-29, id 3 on 03-03
    assert batch.tables["raw_trades"]["trade_id"].to_list() == [1, 2]
    assert len(batch.files) == 1


def test_out_of_order_rows_sorted_per_stream(tmp_path: Path) -> None:
    _csv(tmp_path / "um/bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-03-01.csv",
         f"3,10,1,11,1,{T0 + 30},{T0 + 31}\n1,10,1,11,1,{T0 + 10},{T0 + 11}\n2,10,1,11,1,{T0 + 20},{T0 + 21}\n")
    batch = read_binance_archive(tmp_path)
    _assert_contract(batch)
    assert batch.tables["raw_top_of_book"]["update_id"].to_list() == [1, 2, 3]
    assert any("out of time order" in n for n in batch.notes)


def test_landing_untouched(tmp_path: Path) -> None:
    _zip(tmp_path / "spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-03-01.zip", f"1,100,1,100,{T0},true,true\n")
    before = sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    batch = read_binance_archive(tmp_path)
    _assert_contract(batch)
    assert sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*")) == before
    assert batch.source == "binance_archive" and batch.tables["raw_trades"].height == 1


def test_empty_header_only_and_corrupt_files(tmp_path: Path) -> None:
    _csv(tmp_path / "um/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03-01.csv", "")
    _csv(tmp_path / "um/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03-02.csv", AGG_HEADER + "\n")
    _csv(tmp_path / "um/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03-03.zip", "not a zip")
    batch = read_binance_archive(tmp_path)
    assert batch.tables["raw_trades"].is_empty() and batch.tables[REJECTED].is_empty()
    assert [p.name for p, _ in batch.refused] == ["BTCUSDT-aggTrades-2024-03-03.zip"]
    assert "unreadable zip" in batch.refused[0][1]
