"""Archive rows (named string columns) into the raw tick contract's rows, one function per kind.

Clocks: the archive keeps only the exchange's times, so `ts_local` (the contract's receive time) is the
best proxy the file has: the trade time for trades, the push (`event_time`) for bookTicker (its
`transaction_time` is `ts_exchange`), the settlement (`calc_time`) for funding, `create_time` for metrics.
Units: COIN-M quantities are contracts of 100 USD (BTC) or 10 USD (others); a contract is
`contract_usd / price` coins at the row's own price. COIN-M `trades` carry the base quantity
(`base_qty`) and it is used as is.
"""

from __future__ import annotations

import polars as pl

from dvol_pipeline.contracts.micro import FILE, LINE, RAW_DERIVATIVE_TICKER, RAW_TOP_OF_BOOK, RAW_TRADES
from dvol_pipeline.sources.micro.binance_archive_columns import (
    CM,
    COIN_M_CONTRACT_USD,
    COIN_M_DEFAULT_CONTRACT_USD,
    VENUES,
)
from dvol_pipeline.sources.micro.binance_archive_read import date_time, epoch_ns, flag, number, typed

HOUR_NS = 3_600_000_000_000


def contract_usd(symbol: str) -> float:
    """USD value of one COIN-M contract of `symbol` (BTCUSD_PERP: 100, ETHUSD_PERP: 10)."""
    return COIN_M_CONTRACT_USD.get(symbol.split("USD")[0], COIN_M_DEFAULT_CONTRACT_USD)


def _coins(contracts: pl.Expr, price: pl.Expr, market: str, symbol: str) -> pl.Expr:
    return contracts * contract_usd(symbol) / price if market == CM else contracts


def _stream(market: str, symbol: str) -> list[pl.Expr]:
    return [pl.lit(VENUES[market]).alias("venue"), pl.lit(symbol).alias("symbol")]


def _finish(frame: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    return frame.select(*names, FILE, LINE)


def trades(frame: pl.DataFrame, kind: str, market: str, symbol: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`trades` / `aggTrades` -> raw_trades: the buyer being the maker means the seller hit the bid (side sell)."""
    if kind == "aggTrades":
        parsed = {"ts": epoch_ns("transact_time"), "price": number("price"), "qty": number("quantity"),
                  "tid": pl.col("agg_trade_id").cast(pl.Int64, strict=False), "maker": flag("is_buyer_maker")}
    else:
        parsed = {"ts": epoch_ns("time"), "price": number("price"), "qty": number("qty"),
                  "tid": pl.col("id").cast(pl.Int64, strict=False), "maker": flag("is_buyer_maker")}
        if market == CM and "base_qty" in frame.columns:
            parsed["base"] = number("base_qty")
    rows, rejected = typed(frame, parsed, ("ts", "price", "qty", "tid", "maker"))
    size = pl.col("base") if "base" in parsed else _coins(pl.col("qty"), pl.col("price"), market, symbol)
    rows = rows.with_columns(
        pl.col("ts").alias("ts_local"), pl.col("ts").alias("ts_exchange"), *_stream(market, symbol),
        size.alias("size"), pl.when(pl.col("maker")).then(pl.lit("sell")).otherwise(pl.lit("buy")).alias("side"),
        pl.col("tid").alias("trade_id"),
    ).with_columns((pl.col("price") * pl.col("size")).alias("notional"))
    return _finish(rows, RAW_TRADES.names), rejected


def book_ticker(frame: pl.DataFrame, market: str, symbol: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`bookTicker` -> raw_top_of_book; `event_time` (the push) is the receive-time proxy."""
    parsed = {"uid": pl.col("update_id").cast(pl.Int64, strict=False), "bp": number("best_bid_price"),
              "bq": number("best_bid_qty"), "ap": number("best_ask_price"), "aq": number("best_ask_qty"),
              "tt": epoch_ns("transaction_time"), "et": epoch_ns("event_time")}
    rows, rejected = typed(frame, parsed, tuple(parsed))
    rows = rows.with_columns(
        pl.col("et").alias("ts_local"), pl.col("tt").alias("ts_exchange"), *_stream(market, symbol),
        pl.col("bp").alias("bid_price"), _coins(pl.col("bq"), pl.col("bp"), market, symbol).alias("bid_size"),
        pl.col("ap").alias("ask_price"), _coins(pl.col("aq"), pl.col("ap"), market, symbol).alias("ask_size"),
        pl.col("uid").alias("update_id"))
    return _finish(rows, RAW_TOP_OF_BOOK.names), rejected


def _ticker(rows: pl.DataFrame, ts: str, market: str, symbol: str, **values: pl.Expr) -> pl.DataFrame:
    nulls = {c.name: pl.lit(None, c.dtype) for c in RAW_DERIVATIVE_TICKER.columns[4:] if c.name not in values}
    rows = rows.with_columns(pl.col(ts).alias("ts_local"), pl.col(ts).alias("ts_exchange"),
                             *_stream(market, symbol), **values, **nulls)
    return _finish(rows, RAW_DERIVATIVE_TICKER.names)


def funding(frame: pl.DataFrame, market: str, symbol: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`fundingRate` -> settled funding rows (`funding_time` = the settlement's own time, kept to the ms).

    `funding_interval_hours` comes from the file where it is there; where it is missing it is the spacing to
    the previous settlement in hours, rounded (the first row takes the spacing to the next one): Binance moved
    symbols from 8 h to 4 h to 2 h intervals, so no constant is right.
    """
    parsed = {"ct": epoch_ns("calc_time"), "rate": number("last_funding_rate")}
    if "funding_interval_hours" in frame.columns:
        parsed["hours"] = number("funding_interval_hours").round(0).cast(pl.Int32)
    rows, rejected = typed(frame, parsed, ("ct", "rate"))
    return _ticker(rows, "ct", market, symbol, funding_rate=pl.col("rate"), funding_time=pl.col("ct"),
                   funding_interval_hours=pl.col("hours") if "hours" in parsed else pl.lit(None, pl.Int32)), rejected


def infer_funding_interval(rows: pl.DataFrame) -> pl.DataFrame:
    """Fill missing `funding_interval_hours` of settled funding rows from the spacing of their stream."""
    rows = rows.sort("venue", "symbol", "funding_time", maintain_order=True)
    before = pl.col("funding_time").diff().over("venue", "symbol")
    after = (-pl.col("funding_time").diff(-1)).over("venue", "symbol")
    hours = (pl.coalesce(before, after).dt.total_nanoseconds() / HOUR_NS).round(0).cast(pl.Int32)
    return rows.with_columns(pl.coalesce("funding_interval_hours", hours).alias("funding_interval_hours"))


def metrics(frame: pl.DataFrame, market: str, symbol: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`metrics` -> open interest at `create_time`, in coins.

    USD-M `sum_open_interest` is in coins; COIN-M's is in contracts and its `sum_open_interest_value` in the base
    asset (Binance's /futures/data/openInterestHist docs: "unit: cont", "unit: base asset"), so COIN-M reads
    the value column.
    """
    column = "sum_open_interest_value" if market == CM and "sum_open_interest_value" in frame.columns \
        else "sum_open_interest"
    rows, rejected = typed(frame, {"ct": date_time("create_time"), "oi": number(column)}, ("ct", "oi"))
    return _ticker(rows, "ct", market, symbol, open_interest=pl.col("oi")), rejected
