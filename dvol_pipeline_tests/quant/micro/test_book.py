"""rebuild_book on tiny hand-built streams; every expected book below was worked out by hand from the
venues' documented rules (Binance "How to manage a local order book correctly", spot and USD-M; Tardis's
incremental_book_L2 conventions), not from the code."""

from __future__ import annotations

import numpy as np
import polars as pl

from dvol_pipeline.quant.micro.book import infer_tick, rebuild_book
from dvol_pipeline_tests.quant.micro.streams import at, deltas

FUTURES = [
    (1.0, False, 5, 7, 4, [("bid", 100.0, 1)]),                       # buffered, u=7 < L=8: dropped
    (1.1, False, 8, 10, 7, [("bid", 100.1, 2), ("ask", 100.3, 1)]),   # buffered, U=8 <= 8 <= u=10: first applied
    (1.2, True, None, 8, None, [("bid", 100.0, 5), ("bid", 99.9, 3), ("ask", 100.2, 4), ("ask", 100.4, 2)]),
    (1.5, False, 11, 12, 10, [("ask", 100.2, 0)]),                    # delete the best ask
    (2.5, False, 13, 15, 11, [("bid", 100.0, 1)]),                    # pu=11 != 12: break
    (3.5, False, 16, 18, 15, [("bid", 99.5, 2)]),                     # unknown book: buffered
    (3.6, True, None, 17, None, [("bid", 99.0, 1), ("ask", 101.0, 1)]),  # resync with the buffered 16..18
    (4.2, False, 19, 20, 18, [("ask", 101.0, 3)]),
]


def _top(r):
    return [(round(b, 6), bq, round(a, 6), aq) for b, bq, a, aq in
            r.top.select("bid_price", "bid_size", "ask_price", "ask_size").iter_rows()]


def test_futures_sync_break_resync():
    r = rebuild_book(deltas(FUTURES))
    assert r.rule == "binance_futures" and abs(r.tick - 0.1) < 1e-12
    # by hand: snapshot L=8 + diff 8..10 -> bids 100.1:2 100.0:5 99.9:3, asks 100.2:4 100.3:1 100.4:2
    assert _top(r) == [(100.1, 2.0, 100.2, 4.0), (100.1, 2.0, 100.3, 1.0), (99.5, 2.0, 101.0, 1.0),
                       (99.5, 2.0, 101.0, 3.0)]
    assert r.top["ts_local"].to_list() == [at(1.2), at(1.5), at(3.6), at(4.2)]
    assert r.top["segment"].to_list() == [0, 0, 1, 1]
    assert r.known.select("start", "end").rows() == [(at(1.2), at(2.5)), (at(3.6), at(4.2))]
    # grid: T=2 known (state after rows < 2 s), T=3 unknown (break at 2.5), T=4 known
    snaps = r.snapshots
    assert snaps["ts"].to_list() == [at(2.0), at(4.0)]
    row = snaps.row(0, named=True)
    assert (row["bid_price_1"], row["bid_size_1"], row["bid_price_3"], row["bid_size_3"]) == (100.1, 2.0, 99.9, 3.0)
    assert (row["ask_price_1"], row["ask_price_2"], row["ask_price_3"]) == (100.3, 100.4, None)
    s = r.sessions.row(0, named=True)
    assert (s["events"], s["snapshots"], s["sync_ts"], s["sequence_breaks"], s["resyncs"], s["known_seconds"],
            s["crossed_states"]) == (13, 2, at(1.2), 1, 1, 2, 0)


def test_spot_sync_rule_and_continuity():
    spec = [
        (1.0, False, 1, 3, None, [("bid", 10.00, 1)]),                    # before the snapshot, u <= L: dropped
        (1.1, True, None, 5, None, [("bid", 10.00, 2), ("ask", 10.02, 1)]),
        (1.2, False, 4, 5, None, [("bid", 10.01, 9)]),                    # u=5 <= L=5: dropped
        (1.3, False, 6, 7, None, [("bid", 10.01, 3)]),                    # U=6 <= L+1 <= u=7: the sync point
        (1.4, False, 8, 8, None, [("ask", 10.02, 0), ("ask", 10.03, 2)]),
        (1.5, False, 10, 11, None, [("bid", 10.01, 1)]),                  # U=10 != 8+1: break
    ]
    r = rebuild_book(deltas(spec, venue="binance_spot"))
    assert r.rule == "binance_spot"
    assert _top(r) == [(10.01, 3.0, 10.02, 1.0), (10.01, 3.0, 10.03, 2.0)]
    s = r.sessions.row(0, named=True)
    assert (s["sync_ts"], s["sequence_breaks"], s["resyncs"], s["known_seconds"]) == (at(1.3), 1, 0, 0)


def test_spot_first_diff_past_the_snapshot_never_syncs():
    spec = [(1.0, True, None, 5, None, [("bid", 10.0, 2), ("ask", 10.1, 1)]),
            (1.1, False, 8, 9, None, [("bid", 10.0, 1)])]                 # U=8 > L+1=6: a hole, no sync
    r = rebuild_book(deltas(spec, venue="binance_spot"))
    assert r.top.is_empty() and not r.synced
    assert r.log["kind"].to_list() == ["snapshot", "sync_failed"]


def test_no_snapshot_never_syncs():
    spec = [(1.0 + i, False, 2 * i, 2 * i + 1, 2 * i - 1, [("bid", 100.0 + i, 1), ("ask", 101.0 + i, 1)])
            for i in range(5)]
    r = rebuild_book(deltas(spec))
    assert not r.synced and r.top.is_empty() and r.snapshots.is_empty()
    assert r.sessions["sync_ts"].to_list() == [None] and r.sessions["known_seconds"].to_list() == [0]
    assert any("never synced" in n and "no snapshot" in n for n in r.notes)


def test_flag_rule_crossed_deletes_and_reset():
    spec = [
        (1.0, True, None, None, None, [("bid", 50.0, 1), ("bid", 49.5, 2), ("ask", 50.5, 1), ("ask", 51.0, 3)]),
        (1.2, False, None, None, None, [("bid", 50.0, 0), ("ask", 50.5, 2)]),  # one update (same ts_local)
        (1.7, False, None, None, None, [("bid", 50.5, 1)]),                    # bid 50.5 >= ask 50.5: crossed
        (1.8, False, None, None, None, [("ask", 50.5, 0)]),                    # uncrossed: ask 51
        (2.3, True, None, None, None, [("bid", 48.0, 1), ("ask", 49.0, 1)]),   # flag false->true: reset
    ]
    r = rebuild_book(deltas(spec, venue="tardis_x"))
    assert r.rule == "flag" and abs(r.tick - 0.5) < 1e-12
    assert _top(r) == [(50.0, 1.0, 50.5, 1.0), (49.5, 2.0, 50.5, 2.0), (50.5, 1.0, 51.0, 3.0), (48.0, 1.0, 49.0, 1.0)]
    s = r.sessions.row(0, named=True)
    assert (s["crossed_states"], s["snapshots"], s["sync_ts"]) == (1, 2, at(1.0))
    row = r.snapshots.row(0, named=True)  # T=2: bids 50.5:1 49.5:2, asks 51:3 (50.0 was deleted)
    assert (row["ts"], row["bid_price_1"], row["bid_price_2"], row["bid_size_2"], row["ask_price_1"],
            row["ask_price_2"]) == (at(2.0), 50.5, 49.5, 2.0, 51.0, None)


def test_restart_gap_starts_a_session_with_an_unknown_book():
    spec = [(1.0, True, None, None, None, [("bid", 10.0, 1), ("ask", 11.0, 1)]),
            (1.5, False, None, None, None, [("bid", 10.0, 2)]),
            (100.0, False, None, None, None, [("bid", 10.0, 3)]),  # after a 98.5 s silence: ignored, no book
            (100.5, True, None, None, None, [("bid", 9.0, 1), ("ask", 12.0, 1)])]
    r = rebuild_book(deltas(spec, venue="tardis_x"))
    assert r.sessions["session"].to_list() == [0, 1]
    assert r.sessions["sync_ts"].to_list() == [at(1.0), at(100.5)]
    # the silence reads as a quiet market for 60 s after the last row (1.5 s), then the book is unknown
    assert r.known.select("start", "end").rows() == [(at(1.0), at(61.5)), (at(100.5), at(100.5))]
    assert r.snapshots["ts"].to_list() == [at(float(t)) for t in range(2, 62)]
    assert r.sessions["known_seconds"].to_list() == [60, 0]
    assert _top(r) == [(10.0, 1.0, 11.0, 1.0), (10.0, 2.0, 11.0, 1.0), (9.0, 1.0, 12.0, 1.0)]


def test_tick_inference_ignores_float_noise():
    prices = np.array([26809.9, 26809.900000000001, 26810.3, 26809.7 + 1e-11, 26812.1])
    q, tick, d, g = infer_tick(prices)
    assert d == 1 and g == 2 and abs(tick - 0.2) < 1e-12
    assert pl.Series(q).n_unique() == 4
