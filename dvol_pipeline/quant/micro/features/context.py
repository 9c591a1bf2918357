"""Other tables and other series joined to a bar: the perpetual's ticker, liquidations, BTC, the spot-perp pair.

Every join is as of the bar close: a ticker row counts at a bar when its ts_local <= the close,
a liquidation belongs to the first bar closing at or after its ts_local, and a BTC or pair
value is the one of the same close.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .frames import coin_expr, pair_expr

NS_MIN = 60_000_000_000
TICKER_COLUMNS = ("mark_price", "index_price", "funding_rate", "funding_time", "funding_interval_hours",
                  "open_interest")


def ticker_key(bars: pl.DataFrame) -> pl.DataFrame:
    """The (venue, coin) whose perpetual ticker and liquidations a bar reads: its own venue, or
    for a `<x>_spot` venue the `<x>_usdm` perpetual of the same coin."""
    spot = pl.col("venue").str.ends_with("_spot")
    return bars.with_columns(
        __coin=coin_expr("symbol"),
        __tk_venue=pl.when(spot).then(pair_expr("venue") + "_usdm").otherwise(pl.col("venue")))


def join_ticker(bars: pl.DataFrame, ticker: pl.DataFrame) -> pl.DataFrame:
    """As-of (backward) join of the ticker's columns, each forward-filled within its stream first."""
    tk = (ticker.sort("ts_local")
          .with_columns(__coin=coin_expr("symbol"))
          .with_columns([pl.col(c).forward_fill().over("venue", "__coin")
                         for c in TICKER_COLUMNS if c in ticker.columns])
          .select(pl.col("venue").alias("__tk_venue"), "__coin", pl.col("ts_local").alias("__tk_ts"),
                  *[pl.col(c).alias(f"__tk_{c}") for c in TICKER_COLUMNS if c in ticker.columns]))
    tk = tk.with_columns(pl.col("__tk_ts").cast(pl.Datetime("ns", "UTC")))
    out = bars.sort("ts").join_asof(tk, left_on="ts", right_on="__tk_ts", by=["__tk_venue", "__coin"],
                                    strategy="backward", check_sortedness=False)
    return out


def funding_columns(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    """funding_bps, premium_bps, time_to_funding_min and open interest from the joined ticker."""
    n = frame.height

    def col(name: str) -> np.ndarray:
        c = f"__tk_{name}"
        if c not in frame.columns:
            return np.full(n, np.nan)
        s = frame[c]
        if s.dtype.is_temporal():
            s = s.dt.epoch("ns")
        return s.cast(pl.Float64).fill_null(np.nan).to_numpy()

    ts = frame["ts"].dt.epoch("ns").to_numpy().astype(np.float64)
    ft = col("funding_time")
    iv = col("funding_interval_hours")
    iv = np.where(np.isfinite(iv) & (iv > 0), iv, 8.0) * 60 * NS_MIN
    with np.errstate(invalid="ignore"):
        k = np.where(ft <= ts, np.floor((ts - ft) / iv) + 1, 0.0)
        nxt = ft + k * iv
        mark, index = col("mark_price"), col("index_price")
        premium = np.where(index > 0, 1e4 * (mark / index - 1.0), np.nan)
    return {"funding_bps": 1e4 * col("funding_rate"), "premium_bps": premium,
            "time_to_funding_min": (nxt - ts) / NS_MIN, "open_interest": col("open_interest")}


def liquidation_notional(bar_ts: np.ndarray, liq_ts: np.ndarray, notional: np.ndarray) -> np.ndarray:
    """Liquidation notional per bar: each liquidation goes to the first bar closing at or after
    its ts_local; those later than the last bar are not counted, and those more than one bar
    length before the first bar are outside the series."""
    n = bar_ts.size
    if n == 0:
        return np.zeros(0)
    step = bar_ts[1] - bar_ts[0] if n > 1 else 0
    keep = liq_ts > bar_ts[0] - step
    idx = np.searchsorted(bar_ts, liq_ts[keep], side="left")
    inside = idx < n
    return np.bincount(idx[inside], weights=notional[keep][inside], minlength=n).astype(np.float64)


def main_series(frame: pl.DataFrame, venue_filter: pl.Expr, keys: list[str]) -> pl.DataFrame:
    """Per key, the rows of one symbol (the one with most bars, then by name): a venue may list
    BTC against two quotes, the cross features need one."""
    rows = frame.filter(venue_filter)
    if rows.height == 0:
        return rows
    pick = (rows.group_by([*keys, "symbol"]).len().sort([*keys, "len", "symbol"], descending=[False] * len(keys) +
                                                      [True, False])
            .group_by(keys, maintain_order=True).first().select([*keys, "symbol"]))
    return rows.join(pick, on=[*keys, "symbol"])
