"""Tiny hand-built delta, trade and top-of-book streams shared by the micro book tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NS = pl.Datetime("ns", "UTC")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def deltas(spec, venue: str = "binance_usdm", symbol: str = "BTCUSDT", skew: float = 0.01) -> pl.DataFrame:
    """spec: (t seconds, is_snapshot, U, u, pu, [(side, price, size), ...]) per message."""
    rows = [{"ts_local": at(t), "ts_exchange": at(t - skew), "venue": venue, "symbol": symbol, "side": side,
             "price": float(px), "size": float(sz), "first_update_id": U, "update_id": u, "prev_update_id": pu,
             "is_snapshot": snap}
            for t, snap, U, u, pu, levels in spec for side, px, sz in levels]
    return pl.DataFrame(rows, schema={"ts_local": NS, "ts_exchange": NS, "venue": pl.Utf8, "symbol": pl.Utf8,
                                      "side": pl.Utf8, "price": pl.Float64, "size": pl.Float64,
                                      "first_update_id": pl.Int64, "update_id": pl.Int64,
                                      "prev_update_id": pl.Int64, "is_snapshot": pl.Boolean})


def trades(spec, venue: str = "binance_usdm", symbol: str = "BTCUSDT") -> pl.DataFrame:
    """spec: (t seconds, price, size, side) per trade."""
    rows = [{"ts_local": at(t), "ts_exchange": at(t - 0.01), "venue": venue, "symbol": symbol, "price": float(p),
             "size": float(q), "notional": float(p) * float(q), "side": s, "trade_id": i}
            for i, (t, p, q, s) in enumerate(spec)]
    return pl.DataFrame(rows, schema={"ts_local": NS, "ts_exchange": NS, "venue": pl.Utf8, "symbol": pl.Utf8,
                                      "price": pl.Float64, "size": pl.Float64, "notional": pl.Float64,
                                      "side": pl.Utf8, "trade_id": pl.Int64})


def tops(spec, venue: str = "binance_usdm", symbol: str = "BTCUSDT") -> pl.DataFrame:
    """spec: (t seconds, bid, bid size, ask, ask size, update id) per venue top-of-book message."""
    rows = [{"ts_local": at(t), "ts_exchange": None, "venue": venue, "symbol": symbol, "bid_price": float(b),
             "bid_size": float(bq), "ask_price": float(a), "ask_size": float(aq), "update_id": u}
            for t, b, bq, a, aq, u in spec]
    return pl.DataFrame(rows, schema={"ts_local": NS, "ts_exchange": NS, "venue": pl.Utf8, "symbol": pl.Utf8,
                                      "bid_price": pl.Float64, "bid_size": pl.Float64, "ask_price": pl.Float64,
                                      "ask_size": pl.Float64, "update_id": pl.Int64})
