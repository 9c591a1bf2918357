"""The micro lane end to end on files as traders have them, against a market whose true book is known.

`micro_market.ToyMarket` keeps the true book in plain dicts (no lane code), writes it as a Binance
USDⓈ-M recording or as Tardis exports, and says what a correct lane must find: where the book
syncs (the REST snapshot, which arrives after the first diffs), the planted sequence break and the
resync at the next snapshot, the collector's clock skew, and the true best bid and ask after every
message. Each expected value below comes from that oracle or from the bytes the test wrote.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from dvol_pipeline.lake.parquet import read_table
from dvol_pipeline.pipeline.micro import run as lane
from dvol_pipeline.sources.micro.read import read_ticks
from dvol_pipeline_tests.micro_market import ToyMarket, utc

DAY = date(2024, 3, 1)


def _truth(market: ToyMarket, skew_ns: int, keep) -> pl.DataFrame:
    """The true best bid/ask after each message that changed them (book_top has a row for exactly
    those), among the messages the lane should have a book for, at their local time."""
    bids, asks = market.initial
    rows, before = [], (max(bids), bids[max(bids)], min(asks), asks[min(asks)])
    for k, m in enumerate(market.messages):
        if keep(k) and m.best != before:
            rows.append((m.t_ns + skew_ns, *m.best))
        before = m.best
    return pl.DataFrame(rows, schema=["t", "bid", "bid_q", "ask", "ask_q"], orient="row")


def _run(tmp_path, source: str, landing):
    root = tmp_path / "lake"
    batch = read_ticks(source, landing=landing)
    ingest = lane.ingest_ticks(root, batch)
    books = lane.build_books(root, ingest.streams)
    return root, ingest, books


def test_a_binance_recording_syncs_at_its_snapshot_counts_the_break_and_resyncs(tmp_path):
    market = ToyMarket(utc("2024-03-01 10:00:00"), seconds=300, seed=1)
    drop = 400
    expected = market.binance_usdm_recording(tmp_path / "landing" / "usdm" / "btcusdt.log.gz", skew_ms=2.0,
                                             snapshot_after=5, drop_message=drop, resnapshot_after=30)
    root, ingest, books = _run(tmp_path, "binance_ws", tmp_path / "landing")
    assert ingest.quarantined.get("raw_book_deltas") == 0 and ingest.unparsed == 0
    q = books.quality.row(0, named=True)
    assert (q["venue"], q["symbol"]) == ("binance_usdm", "BTCUSDT")
    # the book is known from the moment the snapshot arrived, not from the first diff
    assert q["sync_ts"].timestamp() * 1e9 == pytest.approx(expected["snapshot_local_ns"], abs=1000)
    assert (q["sequence_breaks"], q["resyncs"], q["crossed_states"]) == (1, 1, 0)
    # local minus exchange: 2 ms of skew plus the part of a millisecond `T` truncates (0..1 ms), +-1 µs
    assert 2.0 <= q["skew_median_ms"] <= 3.01
    # the rebuilt best bid/ask equal the venue's bookTicker on every second the book was known
    assert q["bbo_agreement"] >= 0.99
    top = read_table(root, "book_top", DAY, DAY).select("ts_local", "bid_price", "bid_size", "ask_price", "ask_size")
    skew = 2_000_000
    resync = expected["resync_local_ns"]
    truth = _truth(market, skew, lambda k: expected["first_known_message"] + 3 < k < drop
                   or market.messages[k].t_ns + skew > resync)
    got = top.with_columns(pl.col("ts_local").dt.epoch("ns").alias("t"))
    joined = truth.join(got, on="t", how="left")
    assert joined["bid_price"].null_count() == 0  # a row for every message that changed the top ...
    assert (joined["bid_price"] == joined["bid"]).all() and (joined["ask_price"] == joined["ask"]).all()
    assert (joined["bid_size"] == joined["bid_q"]).all() and (joined["ask_size"] == joined["ask_q"]).all()
    # ... and none while the book is unknown (between the lost message and the second snapshot)
    lost = market.messages[drop].t_ns + skew
    assert got.filter((pl.col("t") >= lost) & (pl.col("t") < resync)).is_empty()


def test_a_microsecond_clock_recording_gives_the_same_book(tmp_path):
    market = ToyMarket(utc("2024-03-01 10:00:00"), seconds=120, seed=2)
    market.binance_usdm_recording(tmp_path / "ns" / "usdm" / "a.log", unit="ns")
    market.binance_usdm_recording(tmp_path / "us" / "usdm" / "a.log", unit="us")
    tops = []
    for name in ("ns", "us"):
        root, _, books = _run(tmp_path / f"lake_{name}", "binance_ws", tmp_path / name)
        assert books.quality["bbo_agreement"][0] >= 0.99
        top = read_table(root, "book_top", DAY, DAY)
        tops.append(top.select(pl.col("ts_local").dt.truncate("1us"), "bid_price", "ask_price", "bid_size", "ask_size"))
    assert tops[0].equals(tops[1])


def test_tardis_exports_of_the_same_market_rebuild_the_true_book(tmp_path):
    market = ToyMarket(utc("2024-03-01 10:00:00"), seconds=300, seed=3)
    market.tardis_exports(tmp_path / "landing", "2024-03-01", skew_us=2000)
    root, ingest, books = _run(tmp_path, "tardis", tmp_path / "landing")
    q = books.quality.row(0, named=True)
    assert (q["sequence_breaks"], q["crossed_states"]) == (0, 0)
    assert q["skew_median_ms"] == pytest.approx(2.0)  # local_timestamp - timestamp, as written
    top = read_table(root, "book_top", DAY, DAY).with_columns(pl.col("ts_local").dt.epoch("ns").alias("t"))
    truth = _truth(market, 2_000_000, lambda k: True).with_columns((pl.col("t") // 1000 * 1000).alias("t"))
    joined = truth.join(top, on="t", how="left")
    assert joined["bid_price"].null_count() == 0
    assert (joined["bid_price"] == joined["bid"]).all() and (joined["ask_size"] == joined["ask_q"]).all()
    bars = read_table(root, "micro_bars", DAY, DAY)
    assert set(bars["bar"]) >= {"1s", "1m", "5m"}
    # a 1-minute bar's trade count is the trades the oracle made in [close - 1 min, close)
    minute = bars.filter(pl.col("bar") == "1m").sort("ts").row(1, named=True)
    close = int(minute["ts"].timestamp() * 1e9)
    made = sum(1 for m in market.messages if m.trade and close - 60 * 10**9 <= m.t_ns // 1000 * 1000 + 2_000_000 < close)
    assert minute["trades"] == made
    # the features of a series as short as one or two bars (a look-ahead check's truncation) are rows, not errors
    from dvol_pipeline.quant.micro.features import build_features

    for n in (1, 2):
        assert build_features(bars.filter(pl.col("bar") == "1m").sort("ts").head(n), bar="1m").height == n


@pytest.mark.slow
def test_run_on_a_recording_builds_every_table_and_the_warehouse_views(tmp_path, monkeypatch):
    from dvol_pipeline import cli
    from dvol_pipeline.lake.warehouse import query

    market = ToyMarket(utc("2024-03-01 10:00:00"), seconds=300, seed=4)
    market.binance_usdm_recording(tmp_path / "landing" / "usdm" / "btcusdt.log")
    monkeypatch.setenv("DVOL_LAKE", str(tmp_path / "lake"))
    assert cli.main(["run", "--source", "binance_ws", "--landing", str(tmp_path / "landing")]) == 0
    views = set(query(tmp_path / "lake", "SELECT view_name FROM lake_catalog")["view_name"])
    assert {"raw_book_deltas", "raw_trades", "raw_top_of_book", "book_top", "book_snapshots", "book_quality",
            "micro_bars", "micro_features", "micro_daily", "micro_gates", "micro_strategy_metrics"} <= views
    one_second = query(tmp_path / "lake", "SELECT count(*) AS n FROM micro_bars WHERE bar = '1s' AND venue = "
                                          "'binance_usdm' AND symbol = 'BTCUSDT' AND date = DATE '2024-03-01'")
    assert one_second["n"][0] >= 290  # five minutes of 1-second bars (the first seconds precede the sync)


def test_archive_files_without_depth_give_bars_from_trades_or_klines_and_say_what_is_missing(tmp_path):
    from dvol_pipeline.quant.micro.features import build_features, missing_features

    landing = tmp_path / "landing"
    t0 = 1709251200000  # 2024-03-01 00:00 UTC, ms
    # BTCUSDT: aggTrades (the archive README's columns), a buy then a sell each second for 10 minutes
    rows = ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"]
    rows += [f"{i},{60000 + (i % 7)},0.5,{i},{i},{t0 + 500 * i},{'true' if i % 2 else 'false'}" for i in range(1200)]
    (landing / "um" / "aggTrades" / "BTCUSDT").mkdir(parents=True)
    (landing / "um" / "aggTrades" / "BTCUSDT" / "BTCUSDT-aggTrades-2024-03-01.csv").write_text("\n".join(rows) + "\n")
    # ETHUSDT: 1-minute klines only (open time, OHLC, volume, close time, quote volume, count, taker buys)
    klines = ["open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
              "taker_buy_quote_volume,ignore"]
    klines += [f"{t0 + 60_000 * m},3000,3001,2999,3000.5,10,{t0 + 60_000 * m + 59_999},30000,40,6,18000,0"
               for m in range(10)]
    (landing / "um" / "klines" / "ETHUSDT" / "1m").mkdir(parents=True)
    (landing / "um" / "klines" / "ETHUSDT" / "1m" / "ETHUSDT-1m-2024-03-01.csv").write_text("\n".join(klines) + "\n")
    root, ingest, books = _run(tmp_path, "binance_archive", landing)
    # no L2 data: no book for either stream (ETH's bars are the klines' own, written at ingest)
    assert books.quality.is_empty() and books.no_depth == [("binance_usdm", "BTCUSDT"), ("binance_usdm", "ETHUSDT")]
    bars = read_table(root, "micro_bars", DAY, DAY)
    btc = bars.filter((pl.col("symbol") == "BTCUSDT") & (pl.col("bar") == "1m")).sort("ts")
    # each whole minute holds 120 trades, 60 buyer-initiated (is_buyer_maker false) of 0.5 BTC each
    assert btc["trades"].to_list()[:9] == [120] * 9 and btc["buy_volume"].to_list()[:9] == [30.0] * 9
    assert btc["mid_close"].null_count() == btc.height  # no book, no mid
    eth = bars.filter(pl.col("symbol") == "ETHUSDT")
    assert set(eth["bar"]) == {"1m"} and eth["trades"].to_list() == [40] * 10  # the klines' own bars
    assert eth["sell_volume"].to_list() == [4.0] * 10 and eth["vwap"].to_list() == [3000.0] * 10
    features = build_features(bars.filter(pl.col("bar") == "1m"), bar="1m")
    assert features.height == btc.height + eth.height
    assert {"ofi_z", "depth_imb_5", "microprice_dev_bps"} <= set(missing_features(bars.filter(pl.col("bar") == "1m")))


@pytest.mark.slow
def test_the_simulated_book_ingested_day_by_day_is_the_one_pass_lake_byte_for_byte(tmp_path):
    import hashlib

    from dvol_pipeline.sources.micro.read import read_ticks

    start, end = date(2024, 3, 1), date(2024, 3, 2)
    # ETH at this rate has events whose arrival (latency) is past midnight: they belong to the next day
    by_day = lane.ingest_range(tmp_path / "a", "simulated", landing=None, start=start, end=end, coins=("ETH",),
                               intensity=0.25)
    one_pass = lane.ingest_ticks(tmp_path / "b", read_ticks("simulated", start=start, end=end, coins=("ETH",),
                                                            intensity=0.25))
    assert by_day.rows_written == one_pass.rows_written and sorted(by_day.streams) == sorted(one_pass.streams)
    first_day = read_ticks("simulated", start=start, end=start, coins=("ETH",), intensity=0.25).tables
    late = sum(f.filter(pl.col("ts_local").dt.date() > start).height for f in first_day.values())
    assert late > 0  # the first day's last events arrive on the second: the carry is exercised

    def digest(root):
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.parquet"))}

    assert digest(tmp_path / "a") == digest(tmp_path / "b")
