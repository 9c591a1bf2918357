"""The raw tick contract (contracts/micro.py) on hand-made rows: each rule, the duplicates, the provenance.

Expected values are read off the rows written here: which row breaks which rule is decided by
reading the row, not by the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from dvol_pipeline.contracts.micro import RAW_BOOK_DELTAS, RAW_TRADES, validate_ticks

T0 = datetime(2024, 3, 1, tzinfo=UTC)
NS = pl.Datetime("ns", "UTC")


def _trades(rows):
    """rows: (ms after T0, price, size, side, trade id, line)."""
    return pl.DataFrame(
        [{"ts_local": T0 + timedelta(milliseconds=ms), "ts_exchange": T0 + timedelta(milliseconds=ms - 2),
          "venue": "binance_usdm", "symbol": "BTCUSDT", "price": p, "size": q, "notional": (p or 0) * q, "side": s,
          "trade_id": i, "__file": "usdm/a.log", "__line": line} for ms, p, q, s, i, line in rows],
        schema={"ts_local": NS, "ts_exchange": NS, "venue": pl.Utf8, "symbol": pl.Utf8, "price": pl.Float64,
                "size": pl.Float64, "notional": pl.Float64, "side": pl.Utf8, "trade_id": pl.Int64,
                "__file": pl.Utf8, "__line": pl.Int64})


def test_each_rule_quarantines_its_row_with_file_line_and_reason_and_duplicates_are_counted():
    frame = _trades([(1, 100.0, 1.0, "buy", 1, 1),
                     (2, 100.0, 1.0, "buy", 1, 1),      # line 1 again, byte for byte: a duplicate, removed
                     (3, -5.0, 1.0, "sell", 2, 3),      # price must be > 0
                     (4, 100.0, 0.0, "sell", 3, 4),     # size must be > 0
                     (5, 100.0, 1.0, "unknown", 4, 5),  # side must be buy or sell
                     (1, 100.0, 2.0, "buy", 5, 6),      # local clock went back from 5 ms to 1 ms
                     (6, 101.0, 1.0, "sell", 6, 7)])
    frame = pl.concat([frame.head(1), frame])  # the first row twice, as a collector replay writes it
    report = validate_ticks(RAW_TRADES, frame)
    assert report.duplicates == 1
    assert report.valid["trade_id"].to_list() == [1, 1, 6]  # row 2 differs from row 1 in ts_local: not a copy
    bad = dict(zip(report.rejected["__line"].to_list(), report.rejected["reason"].to_list(), strict=True))
    assert bad == {3: "price must be > 0", 4: "size must be > 0", 5: "side must be one of ['buy', 'sell']",
                   6: "ts_local went backwards in its stream"}
    assert set(report.rejected["__file"]) == {"usdm/a.log"}
    assert report.valid.columns == RAW_TRADES.names  # provenance is not a column of the lake table


def _deltas(rows):
    """rows: (ms, is_snapshot, U, u, side, price, size)."""
    return pl.DataFrame(
        [{"ts_local": T0 + timedelta(milliseconds=ms), "ts_exchange": None, "venue": "binance_spot",
          "symbol": "BTCUSDT", "side": side, "price": p, "size": q, "first_update_id": big_u, "update_id": u,
          "prev_update_id": None, "is_snapshot": snap} for ms, snap, big_u, u, side, p, q in rows],
        schema={"ts_local": NS, "ts_exchange": NS, "venue": pl.Utf8, "symbol": pl.Utf8, "side": pl.Utf8,
                "price": pl.Float64, "size": pl.Float64, "first_update_id": pl.Int64, "update_id": pl.Int64,
                "prev_update_id": pl.Int64, "is_snapshot": pl.Boolean})


def test_a_late_snapshot_with_a_lower_id_is_the_protocol_but_a_diff_whose_id_goes_back_is_not():
    frame = _deltas([(1, False, 11, 12, "bid", 100.0, 1.0),
                     (2, False, 13, 14, "ask", 100.2, 0.0),   # size 0 deletes a level: valid
                     (3, True, None, 10, "bid", 99.9, 2.0),   # the REST snapshot (id 10) after diffs 11..14
                     (4, False, 9, 9, "bid", 99.8, 1.0),      # a diff with id 9 after 14: quarantined
                     (5, False, 15, 16, "middle", 100.0, 1.0)])
    report = validate_ticks(RAW_BOOK_DELTAS, frame)
    assert report.valid["update_id"].to_list() == [12, 14, 10]
    assert report.rejected["reason"].to_list() == ["update_id went backwards among the diffs of its stream",
                                                   "side must be one of ['bid', 'ask']"]


def test_a_missing_column_rejects_the_batch_with_its_name():
    report = validate_ticks(RAW_TRADES, _trades([(1, 100.0, 1.0, "buy", 1, 1)]).drop("notional"))
    assert not report.passed and report.valid.is_empty()
    assert report.batch_errors == ["raw_trades: missing column(s) ['notional']"]
