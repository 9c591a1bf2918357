"""The simulated micro source: contract, Binance's id protocol, clocks, determinism, day independence.

Expected values come from the contract (validate_ticks), from Binance's documented depth-sync
rules (futures: first applied diff has U <= lastUpdateId <= u, then pu == previous u; spot:
first has U <= lastUpdateId + 1 <= u, then U == previous u + 1), re-implemented here by hand,
and from the daily simulated market's own hourly bars (a different module of the package).
Light market (intensity 0.1) so each test runs in about a second.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.contracts.micro import MICRO_RAW_TABLES, validate_ticks
from dvol_pipeline.sources.micro.simulated import SimConfig, simulate_ticks
from dvol_pipeline.sources.simulated import SimConfig as DailyConfig
from dvol_pipeline.sources.simulated import SimulatedMarket

DAY = date(2024, 3, 5)
LIGHT = SimConfig(intensity=0.1)


@pytest.fixture(scope="module")
def batch():
    return simulate_ticks(DAY, DAY, seed=0, coins=("BTC", "SOL"), config=LIGHT)


def test_every_frame_meets_the_contract(batch):
    assert batch.source == "simulated"
    for name, spec in MICRO_RAW_TABLES.items():
        frame = batch.table(name)
        assert frame.columns == list(spec.names), name
        report = validate_ticks(spec, frame)
        assert report.passed, (name, report.reason_counts(), report.batch_errors)
        assert report.duplicates == 0, name
        assert frame.height > 0, name
    venues = {n: set(batch.table(n)["venue"].unique()) for n in MICRO_RAW_TABLES}
    assert venues["raw_liquidations"] == venues["raw_derivative_ticker"] == {"sim_usdm"}
    assert venues["raw_trades"] == venues["raw_book_deltas"] == {"sim_usdm", "sim_spot"}
    assert set(batch.table("raw_trades")["symbol"].unique()) == {"BTCUSDT", "SOLUSDT"}


def _messages(stream: pl.DataFrame) -> pl.DataFrame:
    """One row per diff message, in arrival order (rows of a message are adjacent and share U, u)."""
    d = stream.with_row_index("row").filter(~pl.col("is_snapshot"))
    return d.group_by(["first_update_id", "update_id"], maintain_order=True).agg(
        pl.col("prev_update_id").first(), pl.col("row").first(), pl.len())


@pytest.mark.parametrize("venue", ["sim_usdm", "sim_spot"])
def test_update_id_chains_follow_binance(batch, venue):
    stream = batch.table("raw_book_deltas").filter((pl.col("venue") == venue) & (pl.col("symbol") == "BTCUSDT"))
    msgs = _messages(stream)
    U, u = msgs["first_update_id"].to_numpy(), msgs["update_id"].to_numpy()
    assert (U <= u).all()
    if venue == "sim_usdm":  # futures: pu = the previous message's u; ids may skip between messages
        assert (msgs["prev_update_id"].to_numpy()[1:] == u[:-1]).all()
        assert (U[1:] > u[:-1]).all()
    else:  # spot: no pu; U = previous u + 1
        assert msgs["prev_update_id"].null_count() == msgs.height
        assert (U[1:] == u[:-1] + 1).all()
    snaps = stream.with_row_index("row").filter(pl.col("is_snapshot"))
    per = snaps.group_by("update_id", maintain_order=True).agg(
        pl.col("row").first(), (pl.col("side") == "bid").sum().alias("bids"), (pl.col("side") == "ask").sum().alias("asks"))
    assert per.height == 24  # midnight and every hour
    # snapshots carry the whole book (the light market's is thinner; the default's >= 20 a side: facts test)
    assert per["bids"].min() >= 10 and per["asks"].min() >= 10
    assert per["bids"].median() >= 40 and per["asks"].median() >= 40
    for last_id, first_row in zip(per["update_id"], per["row"], strict=True):
        target = last_id if venue == "sim_usdm" else last_id + 1
        sync = msgs.filter((pl.col("first_update_id") <= target) & (pl.col("update_id") >= target))
        assert sync.height == 1, last_id  # exactly one message straddles the snapshot's id
        # the snapshot arrives after the first diffs that follow it (the rebuild must drop u < L)
        assert sync["row"][0] < first_row


def _rebuild_and_compare(stream: pl.DataFrame, tob: pl.DataFrame, futures: bool) -> tuple[int, int]:
    """Replay the stream by Binance's rules; count messages whose rebuilt best bid/ask differ from the
    last bookTicker row with update_id <= the message's u (and the messages checked).

    The diffs that arrive before a snapshot are buffered; when the snapshot lands, the book resets to
    it and the buffered diffs past its lastUpdateId L are applied (futures: u >= L, spot: u > L)."""
    rows = stream.select("is_snapshot", "side", "price", "size", "first_update_id", "update_id").rows()
    t_id = tob["update_id"].to_numpy()
    t_bid, t_ask = tob["bid_price"].to_numpy(), tob["ask_price"].to_numpy()
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    last_id, checked, bad = None, 0, 0
    buffered: list[tuple[int, list]] = []

    def apply(levels: list) -> None:
        for _, side, price, size, _, _ in levels:
            book = bids if side == "bid" else asks
            if size == 0:
                book.pop(price, None)
            else:
                book[price] = size

    def past(u: int) -> bool:
        return u >= last_id if futures else u > last_id

    i = 0
    while i < len(rows):
        snap, _, _, _, U, u = rows[i]
        j = i
        while j < len(rows) and rows[j][0] == snap and rows[j][4] == U and rows[j][5] == u:
            j += 1
        if snap:
            bids, asks = {}, {}
            apply(rows[i:j])
            last_id = u
            for bu, levels in buffered:
                if past(bu):
                    apply(levels)
        else:
            buffered = [*buffered[-200:], (u, rows[i:j])]
            if last_id is not None and past(u):
                apply(rows[i:j])
                k = np.searchsorted(t_id, u, side="right") - 1
                checked += 1
                bad += int(max(bids) != t_bid[k] or min(asks) != t_ask[k])
        i = j
    return checked, bad


@pytest.mark.parametrize("venue", ["sim_usdm", "sim_spot"])
def test_book_rebuilt_from_the_stream_matches_the_book_ticker(batch, venue):
    sel = (pl.col("venue") == venue) & (pl.col("symbol") == "BTCUSDT")
    stream = batch.table("raw_book_deltas").filter(sel)
    tob = batch.table("raw_top_of_book").filter(sel)
    assert (tob["update_id"].diff().drop_nulls() > 0).all()
    checked, bad = _rebuild_and_compare(stream, tob, venue == "sim_usdm")
    assert checked > 10_000
    assert bad == 0


def test_clocks(batch):
    cfg = SimConfig()
    d = batch.table("raw_trades")
    lat_ms = (d["ts_local"] - d["ts_exchange"]).dt.total_nanoseconds().to_numpy() / 1e6
    assert lat_ms.min() >= cfg.clock_skew_ms  # latency is positive, the skew constant
    assert 3.0 < np.median(lat_ms) < 5.5  # median latency 2.5 ms + 1.5 ms skew
    spot_tob = batch.table("raw_top_of_book").filter(pl.col("venue") == "sim_spot")
    assert spot_tob["ts_exchange"].null_count() == spot_tob.height  # Binance's spot bookTicker has no event time


def test_derivative_ticker_funding_schedule(batch):
    t = batch.table("raw_derivative_ticker").filter(pl.col("symbol") == "BTCUSDT")
    assert t.height == 86_400  # one row a second
    assert (t["funding_interval_hours"] == 8).all()
    secs = t["ts_exchange"].dt.epoch("s").to_numpy() % 86_400
    ft = (t["funding_time"] - t["ts_exchange"]).dt.total_seconds().to_numpy()
    settled = secs % 28_800 == 0
    assert settled.sum() == 3 and (ft[settled] == 0).all()  # 00, 08, 16 UTC: the settlement row itself
    # otherwise: the next of 08:00, 16:00, 24:00 (hand-computed for a few seconds of the day)
    expected = {1: 28_799, 28_799: 1, 28_801: 28_799, 86_399: 1}
    for s, left in expected.items():
        assert ft[s] == left
    r = t["funding_rate"].to_numpy()
    assert np.all(np.abs(r) <= 0.0075)
    assert t["open_interest"].min() > 0


def test_same_seed_same_frames_and_other_seed_differs():
    a = simulate_ticks(DAY, DAY, seed=3, coins=("ETH",), config=LIGHT)
    b = simulate_ticks(DAY, DAY, seed=3, coins=("ETH",), config=LIGHT)
    c = simulate_ticks(DAY, DAY, seed=4, coins=("ETH",), config=LIGHT)
    for name in MICRO_RAW_TABLES:
        assert a.table(name).equals(b.table(name)), name
    assert not a.table("raw_trades").equals(c.table("raw_trades"))


def test_a_day_alone_equals_that_day_in_a_range():
    d2 = date(2024, 3, 6)
    both = simulate_ticks(DAY, d2, seed=1, coins=("BTC",), config=LIGHT)
    alone = simulate_ticks(d2, d2, seed=1, coins=("BTC",), config=LIGHT)
    start = datetime(2024, 3, 6, tzinfo=UTC)
    for name in MICRO_RAW_TABLES:
        day2 = both.table(name).filter(pl.col("ts_exchange").fill_null(pl.col("ts_local")) >= start)
        assert day2.equals(alone.table(name)), name
    # update ids keep increasing across the day boundary
    d = both.table("raw_book_deltas").filter(pl.col("venue") == "sim_usdm")
    assert (d.filter(~pl.col("is_snapshot"))["update_id"].diff().drop_nulls() >= 0).all()


def test_btc_and_eth_follow_the_daily_market():
    """Hourly closes of the spot mid track the daily simulated market's hourly bars (its own raw_ohlcv)."""
    batch = simulate_ticks(DAY, DAY, seed=0, coins=("BTC", "ETH"), venues=("sim_spot",), config=LIGHT)
    daily = SimulatedMarket(DailyConfig(), end=DAY).table("raw_ohlcv", DAY, DAY)
    for coin in ("BTC", "ETH"):
        tob = batch.table("raw_top_of_book").filter(pl.col("symbol") == f"{coin}USDT")
        hour_end = tob.group_by_dynamic("ts_local", every="1h").agg(
            ((pl.col("bid_price").last() + pl.col("ask_price").last()) / 2).alias("mid"))["mid"].to_numpy()
        bars = daily.filter(pl.col("asset") == coin)
        closes = bars.group_by("ts", maintain_order=True).agg(pl.col("close").first()).sort("ts")["close"].to_numpy()
        assert closes.size == hour_end.size == 24
        assert np.abs(hour_end / closes - 1).max() < 0.003
        r_ours, r_daily = np.diff(np.log(hour_end)), np.diff(np.log(closes))
        assert np.corrcoef(r_ours, r_daily)[0, 1] > 0.95


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown coin"):
        simulate_ticks(DAY, DAY, coins=("DOGE",))
    with pytest.raises(ValueError, match="unknown venue"):
        simulate_ticks(DAY, DAY, venues=("binance_spot",))
    with pytest.raises(ValueError, match="before start"):
        simulate_ticks(DAY, date(2024, 3, 4))


def test_perp_basis_and_funding_follow_binances_rule():
    """On a day whose premium is far outside the +-0.05 % clamp (2024-06-10 in the default daily market),
    each settled funding equals Binance's F = P + clamp(0.01 % - P, -0.05 %, 0.05 %) of the interval's mean
    perp-minus-spot basis P measured from the two venues' bookTickers (within 0.015 %)."""
    from dvol_pipeline_tests.sources.micro.facts_oracle import basis_funding

    day = date(2024, 6, 10)
    b = simulate_ticks(day, day, seed=0, coins=("BTC",), config=LIGHT)
    tob = b.table("raw_top_of_book")
    out = basis_funding(tob.filter(pl.col("venue") == "sim_spot"), tob.filter(pl.col("venue") == "sim_usdm"),
                        b.table("raw_derivative_ticker"))
    assert out["mean_basis_bps"] > 10  # outside the clamp: funding is not the flat 0.01 %
    assert out["max_funding_err"] < 1.5e-4
    assert abs(out["mean_basis_bps"] - out["mean_premium_bps"]) < 1.0
