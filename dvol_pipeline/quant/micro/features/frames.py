"""Shared plumbing: naming the coin and venue pair, and one (venue, symbol) series as numpy arrays."""

from __future__ import annotations

import numpy as np
import polars as pl

QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "TUSD")

BAR_FLOATS = ("mid_open", "mid_high", "mid_low", "mid_close", "vwap", "spread_bps", "ofi", "buy_volume",
              "sell_volume", "trades", "volume", "notional", "trade_open", "trade_high", "trade_low", "trade_close",
              "bid_price", "ask_price", "bid_size", "ask_size", "bid_depth_5", "ask_depth_5", "bid_depth_10",
              "ask_depth_10", "bid_depth_20", "ask_depth_20", "bbo_updates", "bid_depletions", "ask_depletions",
              "cancel_bid", "cancel_ask", "known_share")


def coin_expr(symbol: str = "symbol") -> pl.Expr:
    """The symbol's base coin: BTCUSDT -> BTC, BTCUSD_PERP -> BTC, ETH-USDT -> ETH."""
    base = pl.col(symbol).str.to_uppercase().str.split("_").list.first().str.replace("-", "")
    return base.str.replace(f"({'|'.join(QUOTES)})$", "")


def pair_expr(venue: str = "venue") -> pl.Expr:
    """The exchange part of a venue (`binance_spot` -> `binance`): spot and perp of one pair share it."""
    return pl.col(venue).str.replace(r"_[^_]+$", "")


def arrays(group: pl.DataFrame) -> dict[str, np.ndarray]:
    """One (venue, symbol) series, sorted by ts, as float arrays (null -> NaN), with `price`
    (the mid close, or the forward-filled trade close where the book columns are empty) and
    its high/low for ADX."""
    out: dict[str, np.ndarray] = {"ts": group["ts"].dt.epoch("ns").to_numpy()}
    for c in BAR_FLOATS:
        s = group[c] if c in group.columns else pl.Series(c, [None] * group.height, pl.Float64)
        out[c] = s.cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64, copy=False)
    book = np.isfinite(out["mid_close"]).any()
    if book:
        out["price"], out["high"], out["low"] = out["mid_close"], out["mid_high"], out["mid_low"]
    else:
        close = group["trade_close"].cast(pl.Float64) if "trade_close" in group.columns else None
        out["price"] = (close.forward_fill().fill_null(np.nan).to_numpy() if close is not None
                        else np.full(group.height, np.nan))
        out["high"], out["low"] = out["trade_high"], out["trade_low"]
    with np.errstate(invalid="ignore", divide="ignore"):
        lp = np.log(out["price"])
    out["logp"] = lp
    out["ret_bps"] = np.concatenate([[np.nan], 1e4 * np.diff(lp)])
    return out


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN where den is 0 or missing."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den != 0, num / den, np.nan)
