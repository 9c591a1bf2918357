"""1-minute klines into `micro_bars` rows: the bars themselves where the archive has no trades to build them.

A kline is what the exchange computed from its own trades: trade-price OHLC, base volume, quote volume,
taker-buy base volume and the trade count of the minute. That is enough for `micro_bars`' trade columns;
its book columns (mid OHLC, spread, CKS order-flow imbalance, depth, bid/ask) need a book and stay null.
A symbol-day that also has a `trades` or `aggTrades` file gets no kline bars: the trades give the lane
finer bars (1 s, volume bars, exact aggressor volume per bar) and the two would double count.
"""

from __future__ import annotations

import polars as pl

from dvol_pipeline.contracts.micro import FILE, LINE
from dvol_pipeline.sources.micro.binance_archive_columns import CM, VENUES
from dvol_pipeline.sources.micro.binance_archive_read import epoch_ns, number, typed
from dvol_pipeline.sources.micro.binance_archive_rows import contract_usd

MINUTE_NS = 60_000_000_000
BOOK_COLUMNS = ("mid_open", "mid_high", "mid_low", "mid_close", "spread_bps", "ofi", "bid_price", "ask_price",
                "bid_size", "ask_size", "bid_depth_5", "ask_depth_5", "bid_depth_10", "ask_depth_10", "bid_depth_20",
                "ask_depth_20")
"""`micro_bars` columns a kline cannot give (they need a book): always null here."""
BAR_COLUMNS = ("ts", "venue", "symbol", "bar", "trade_open", "trade_high", "trade_low", "trade_close", "volume",
               "notional", "buy_volume", "sell_volume", "trades", "vwap", *BOOK_COLUMNS)


def kline_bars(frame: pl.DataFrame, market: str, symbol: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """1-minute klines -> `micro_bars` rows (bar `1m`, `ts` = open time + 1 minute, the bar's close).

    Spot and USD-M: volume is base units, `quote_volume` the notional, `taker_buy_volume` the taker-buy base
    volume. COIN-M (README: Volume and Taker buy volume in contracts, then Base asset volume and Taker buy base
    asset volume in the slots USD-M uses for quote volumes): base volume = `quote_volume` slot, buy volume =
    `taker_buy_quote_volume` slot, notional = contracts x contract USD value.
    """
    parsed = {"ot": epoch_ns("open_time"), "o": number("open"), "h": number("high"), "l": number("low"),
              "c": number("close"), "v": number("volume"), "qv": number("quote_volume"),
              "n": pl.col("count").cast(pl.Int64, strict=False), "tbv": number("taker_buy_volume"),
              "tbq": number("taker_buy_quote_volume")}
    rows, rejected = typed(frame, parsed, tuple(parsed))
    if market == CM:
        volume, notional, buy = pl.col("qv"), pl.col("v") * contract_usd(symbol), pl.col("tbq")
    else:
        volume, notional, buy = pl.col("v"), pl.col("qv"), pl.col("tbv")
    rows = rows.with_columns(
        (pl.col("ot") + pl.duration(nanoseconds=MINUTE_NS)).alias("ts"), pl.lit(VENUES[market]).alias("venue"),
        pl.lit(symbol).alias("symbol"), pl.lit("1m").alias("bar"), pl.col("o").alias("trade_open"),
        pl.col("h").alias("trade_high"), pl.col("l").alias("trade_low"), pl.col("c").alias("trade_close"),
        volume.alias("volume"), notional.alias("notional"), buy.alias("buy_volume"),
        (volume - buy).clip(lower_bound=0.0).alias("sell_volume"), pl.col("n").alias("trades"),
        pl.when(volume > 0).then(notional / volume).alias("vwap"),
        *(pl.lit(None, pl.Float64).alias(c) for c in BOOK_COLUMNS))
    return rows.select(*BAR_COLUMNS, FILE, LINE), rejected


def empty_bars() -> pl.DataFrame:
    """No bars, with the columns and types `kline_bars` gives."""
    schema = {"ts": pl.Datetime("ns", "UTC"), "venue": pl.Utf8, "symbol": pl.Utf8, "bar": pl.Utf8,
              **{c: pl.Float64 for c in BAR_COLUMNS[4:] if c != "trades"}, "trades": pl.Int64,
              FILE: pl.Utf8, LINE: pl.Int64}
    return pl.DataFrame(schema={c: schema[c] for c in (*BAR_COLUMNS, FILE, LINE)})
