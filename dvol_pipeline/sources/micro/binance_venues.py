"""Which Binance market a recording is from: its folder, its messages, and both must agree.

Collectors store files flat or in folders named after the market (`spot`, `usdm`, `cm`). The
messages say it too: futures depth diffs carry `pu` and futures bookTickers an event time,
spot ones do not; spot trades carry the `M` field, futures trades `X`; markPrice and
forceOrder exist only on futures; COIN-M symbols end in `_PERP` or a delivery date
(`BTCUSD_250627`). A file whose folder and content disagree is refused by name: importing it
under either venue would put one market's book into the other's tables.

COIN-M sizes are contracts of a fixed USD face value (Binance: 100 USD for BTC, 10 USD for the
other coins); the lane's sizes are coins, so size_coins = contracts x contract_usd / price, at the
row's own price (a level's price, a trade's price), and a trade's notional is contracts x contract_usd.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

VENUES = {"spot": "binance_spot", "usdm": "binance_usdm", "cm": "binance_cm"}
"""Folder name -> venue."""
COIN_M_SYMBOL = r"_(PERP|\d{6})$"
BTC_CONTRACT_USD, OTHER_CONTRACT_USD = 100.0, 10.0


def folder_venue(relative: Path) -> str | None:
    """The venue named by the nearest enclosing folder called spot/usdm/cm (None for a flat file)."""
    for part in reversed(relative.parts[:-1]):
        if part.lower() in VENUES:
            return VENUES[part.lower()]
    return None


def content_venue(evidence: dict[str, int], symbols: list[str]) -> tuple[str | None, str]:
    """(venue the messages show, the evidence in words); venue None when they show none or conflict.

    A conflict is returned as venue None with the evidence text starting with 'conflict'.
    """
    spot = {k: v for k, v in evidence.items() if k.startswith("spot") and v}
    fut = {k: v for k, v in evidence.items() if k.startswith("futures") and v}
    cm = [s for s in symbols if re.search(COIN_M_SYMBOL, s)]
    linear = [s for s in symbols if not re.search(COIN_M_SYMBOL, s)]
    words = ", ".join(f"{k.split(': ', 1)[1]} ({v})" for k, v in {**spot, **fut}.items())
    if cm:
        words = ", ".join(filter(None, [words, f"COIN-M symbols {sorted(cm)}"]))
    if spot and fut:
        return None, f"conflict: spot and futures evidence in one file: {words}"
    if cm and linear:
        return None, f"conflict: COIN-M and linear symbols in one file: {sorted(cm)} and {sorted(linear)}"
    if cm and spot:
        return None, f"conflict: COIN-M symbols with spot messages: {words}"
    if cm:
        return "binance_cm", words
    if fut:
        return "binance_usdm", words
    if spot:
        return "binance_spot", words
    return None, "no venue evidence in the messages"


def contract_usd(symbol: pl.Expr) -> pl.Expr:
    """A COIN-M contract's face value in USD: 100 for BTC, 10 for the other coins."""
    return pl.when(symbol.str.starts_with("BTC")).then(BTC_CONTRACT_USD).otherwise(OTHER_CONTRACT_USD)


def to_coins(table: str, rows: pl.DataFrame) -> pl.DataFrame:
    """COIN-M rows of `table` with contract sizes converted to coins at each row's price."""
    usd = contract_usd(pl.col("symbol"))
    if table in ("raw_book_deltas", "raw_liquidations", "raw_trades"):
        coins = {"size": pl.col("size") * usd / pl.col("price")}
        if "notional" in rows.columns:
            coins["notional"] = pl.col("size") * usd
        return rows.with_columns(**coins)
    if table == "raw_top_of_book":
        return rows.with_columns(bid_size=pl.col("bid_size") * usd / pl.col("bid_price"),
                                 ask_size=pl.col("ask_size") * usd / pl.col("ask_price"))
    return rows
