"""OFI and micro_bars on hand-computed cases (every expected number below worked out by hand from the
Cont-Kukanov-Stoikov definition and the bar conventions in bars.py's docstring), and the no-look-ahead
property on a random stream."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.micro.bars import COLUMNS, time_bars, volume_bars
from dvol_pipeline.quant.micro.book import rebuild_book
from dvol_pipeline.quant.micro.ofi import ofi_events
from dvol_pipeline_tests.quant.micro.streams import NS, at, deltas, tops, trades


def test_ofi_cks_definition_by_hand():
    top = tops([(0.0, 10.0, 5, 11.0, 4, None),
                (0.1, 10.0, 7, 11.0, 4, None),    # bid queue +2: e = 7 - 5 = 2
                (0.2, 10.5, 1, 11.0, 4, None),    # bid steps up: e = qb_n = 1 (ask unchanged: -4 + 4)
                (0.3, 10.5, 1, 11.0, 1, None),    # ask queue -3: e = -1 + 4 = 3
                (0.4, 10.0, 6, 10.8, 2, None),    # bid steps down: -qb_prev = -1; ask steps down: -qa_n = -2
                (90.0, 10.0, 6, 10.8, 2, None)])  # after a 90 s silence: a new run, no e_n
    assert ofi_events(top)["ofi"].to_list() == [None, 2.0, 1.0, 3.0, -3.0, None]


def _case():
    top = pl.DataFrame({
        "ts_local": [at(t) for t in (0.2, 0.6, 1.0, 1.5, 2.2)], "venue": "v", "symbol": "s",
        "bid_price": [100.0, 100.0, 100.0, 99.5, 99.5], "bid_size": [5.0, 3.0, 3.0, 2.0, 2.0],
        "ask_price": [101.0, 101.0, 100.5, 100.5, 101.0], "ask_size": [4.0, 4.0, 1.0, 1.0, 6.0],
        "segment": [0, 0, 0, 0, 0]}, schema_overrides={"ts_local": NS})
    known = pl.DataFrame({"segment": [0], "session": [0], "start": [at(0.2)], "end": [at(2.6)]},
                         schema_overrides={"start": NS, "end": NS})
    tr = trades([(0.4, 100.0, 0.5, "sell"), (0.9, 101.0, 1.0, "buy"), (1.0, 100.5, 2.0, "buy"),
                 (2.8, 101.0, 1.0, "buy"), (3.5, 100.9, 1.0, "sell")], venue="v", symbol="s")
    snap = {"ts": [at(1.0), at(2.0)], "venue": "v", "symbol": "s"}
    for i in range(1, 21):
        snap[f"bid_size_{i}"] = [3.0 if i == 1 else 1.0, 2.0] if i <= 6 else [None, None]
        snap[f"ask_size_{i}"] = [4.0 if i == 1 else 2.0, 1.0] if i <= 6 else [None, None]
    return top, tr, pl.DataFrame(snap, schema_overrides={"ts": NS}), known


def test_one_second_bars_by_hand():
    top, tr, snaps, known = _case()
    bars = time_bars(top, tr, snaps, "1s", known=known)
    assert list(bars.columns) == list(COLUMNS)
    assert bars["ts"].to_list() == [at(1.0), at(2.0), at(3.0), at(4.0)]
    b = bars.rows(named=True)
    s1, s2, s3 = 1e4 / 100.5, 0.5 / 100.25 * 1e4, 1.5 / 100.25 * 1e4
    # bar [0, 1): states 0.2-0.6 and 0.6-1.0, both mid 100.5; 2 lots of size left the unchanged bid, 0.5 sold there
    assert b[0]["mid_open"] == b[0]["mid_close"] == 100.5 and b[0]["spread_bps"] == pytest.approx(s1)
    assert b[0]["ofi"] == -2.0 and b[0]["cancel_bid"] == pytest.approx(1.5)
    assert b[0]["known_share"] == pytest.approx(0.8)
    assert (b[0]["bid_price"], b[0]["bid_size"], b[0]["ask_price"], b[0]["ask_size"]) == (100.0, 3.0, 101.0, 4.0)
    assert (b[0]["trades"], b[0]["buy_volume"], b[0]["sell_volume"], b[0]["notional"]) == (2, 1.0, 0.5, 151.0)
    assert b[0]["vwap"] == pytest.approx(151.0 / 1.5) and (b[0]["trade_open"], b[0]["trade_close"]) == (100.0, 101.0)
    depth = (b[0]["bid_depth_5"], b[0]["ask_depth_5"], b[0]["bid_depth_10"], b[0]["ask_depth_20"])
    assert depth == (7.0, 12.0, 8.0, 14.0)
    # bar [1, 2): the row and trade at exactly 1.0 s belong here; ask steps down (e=-1), bid steps down (e=-3)
    assert (b[1]["mid_open"], b[1]["mid_high"], b[1]["mid_low"], b[1]["mid_close"]) == (100.25, 100.25, 100.0, 100.0)
    assert b[1]["spread_bps"] == pytest.approx((s2 + 100.0) / 2) and b[1]["ofi"] == -4.0
    assert (b[1]["bid_depletions"], b[1]["ask_depletions"], b[1]["bbo_updates"], b[1]["trades"]) == (1, 0, 2, 1)
    assert (b[1]["bid_price"], b[1]["ask_price"], b[1]["bid_depth_5"], b[1]["ask_depth_10"]) == (99.5, 100.5, 10.0, 6.0)
    # bar [2, 3): known 2.0-2.6 only; carried-in mid 100, then 100.25; unknown at the close
    assert b[2]["known_share"] == pytest.approx(0.6)
    assert b[2]["spread_bps"] == pytest.approx((100 * 0.2 + s3 * 0.4) / 0.6)
    assert (b[2]["mid_open"], b[2]["mid_close"], b[2]["ofi"], b[2]["ask_depletions"]) == (100.0, 100.25, 1.0, 1)
    assert b[2]["bid_price"] is None and b[2]["bid_depth_5"] is None
    # bar [3, 4): no known book: null book columns, its trade kept
    assert (b[3]["mid_open"], b[3]["spread_bps"], b[3]["ofi"], b[3]["known_share"]) == (None, None, None, 0.0)
    assert (b[3]["trades"], b[3]["sell_volume"], b[3]["trade_close"]) == (1, 1.0, 100.9)


def test_volume_bars_close_on_cumulative_volume():
    top, tr, snaps, known = _case()
    bars = volume_bars(top, tr, 1.5, snapshots=snaps, known=known)
    # cumulative volume 0.5, 1.5 (close, 0.9 s), 3.5 (close, 1.0 s), 4.5 (close, 2.8 s), 5.5 (unfinished)
    assert bars["ts"].to_list() == [at(0.9), at(1.0), at(2.8)]
    assert bars["volume"].to_list() == [1.5, 2.0, 1.0] and set(bars["bar"]) == {"vol1.5"}


def _random_stream(seed: int, seconds: int = 40):
    """A futures stream: a snapshot after the first diffs, random level updates around a drifting mid."""
    rng = np.random.default_rng(seed)
    spec, u, t = [], 100, 0.0
    mid = 1000
    for i in range(seconds * 10):
        t += rng.uniform(0.02, 0.18)
        mid += int(rng.integers(-1, 2)) if rng.random() < 0.1 else 0
        levels = []
        for _ in range(int(rng.integers(1, 4))):
            side = "bid" if rng.random() < 0.5 else "ask"
            off = int(rng.geometric(0.4))
            px = (mid - off) / 10 if side == "bid" else (mid + off) / 10
            levels.append((side, px, 0.0 if rng.random() < 0.3 else float(rng.integers(1, 9))))
        spec.append((t, False, u + 1, u + 3, u, levels))
        u += 3
        if i == 4:  # the snapshot arrives after five diffs; its id falls inside the third
            book = [("bid", (mid - k) / 10, 5.0) for k in range(1, 8)] + [("ask", (mid + k) / 10, 5.0)
                                                                          for k in range(1, 8)]
            spec.append((t + 0.01, True, None, u - 7, None, book))
    d = deltas(spec)
    tr = trades([(float(t) + 0.05, 100.0, 1.0, "buy") for t, *_ in spec[::7]])
    return d, tr


def test_no_look_ahead_bars_from_truncated_data_equal_full_data():
    d, tr = _random_stream(7)
    full = rebuild_book(d)
    data_end = d["ts_local"].max()  # the full data is complete up to its last row, the cut up to the close
    for bar in ("1s", "5m"):
        all_bars = time_bars(full.top, tr, full.snapshots, bar, known=full.known)
        closes = all_bars["ts"].to_list()
        for close in closes[1:-1:5] if bar == "1s" else closes:
            cut = rebuild_book(d.filter(pl.col("ts_local") <= close), end=min(close, data_end))
            got = time_bars(cut.top, tr.filter(pl.col("ts_local") <= close), cut.snapshots, bar, known=cut.known)
            want = all_bars.filter(pl.col("ts") == close)
            assert got.filter(pl.col("ts") == close).equals(want), (bar, close)
    assert full.synced and full.sessions["sequence_breaks"].to_list() == [0]


def test_bars_of_a_never_synced_stream_keep_their_trades():
    never = rebuild_book(deltas([(1.0, False, 1, 2, 0, [("bid", 100.0, 1)])]))  # no snapshot: no book
    tr = trades([(0.4, 100.0, 0.5, "sell"), (0.9, 101.0, 1.0, "buy"), (100.5, 100.5, 2.0, "buy")])
    bars = time_bars(never.top, tr, never.snapshots, "1m", known=never.known)
    assert bars["ts"].to_list() == [at(60.0), at(120.0)] and bars["trades"].to_list() == [2, 1]
    assert bars["mid_open"].to_list() == [None, None] and bars["ofi"].to_list() == [None, None]
    assert bars["known_share"].to_list() == [0.0, 0.0] and bars["bid_depth_5"].to_list() == [None, None]
