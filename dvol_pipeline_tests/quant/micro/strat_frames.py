"""Hand-built feature frames for the strategy tests (1-minute bars)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl

T0 = datetime(2024, 1, 1, 0, 1, tzinfo=timezone.utc)


def ts(i: int, start: datetime = T0) -> datetime:
    return start + timedelta(minutes=i)


def frame(prices: list[float], venue: str = "binance_spot", symbol: str = "BTCUSDT", start: datetime = T0,
          **cols) -> pl.DataFrame:
    n = len(prices)
    base = {"ts": [ts(i, start) for i in range(n)], "venue": [venue] * n, "symbol": [symbol] * n, "bar": ["1m"] * n,
            "mid_close": [float(x) for x in prices], "spread_bps": [2.0] * n}
    for k, v in cols.items():
        base[k] = [float(x) for x in v] if isinstance(v, list) else [v] * n
    return pl.DataFrame(base).with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC")))
