"""Binance websocket messages of one kind -> raw tick rows, decoded by polars, not per line in Python.

Each stream kind has its own JSON shape (the same letter means different things: `a` is the asks
of a depth diff, the best ask of a bookTicker, the aggregate id of an aggTrade), so every kind is
decoded with its own struct dtype by `str.json_decode`, one call per kind and file. Field meanings
are Binance's (https://developers.binance.com/docs, "WebSocket Market Streams" of Spot, USDⓈ-M and
COIN-M futures); the rule each row follows is cited where it is used.

Sizes here are as the venue prints them: COIN-M contracts are converted to coins afterwards
(`binance_venues.to_coins`), once the file's venue is decided. Each parser also counts the venue
evidence its messages carry (futures diffs carry `pu`, spot bookTicker has no event time, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

UTC_NS = pl.Datetime("ns", "UTC")
LEVELS = pl.List(pl.List(pl.Utf8))

DTYPES: dict[str, pl.Struct] = {
    # Diff. Book Depth Stream: e, E event time, T transaction time (futures), s, U first update id,
    # u final update id, pu "final update id in last stream" (futures only), b bids, a asks.
    "depth": pl.Struct({"E": pl.Int64, "T": pl.Int64, "s": pl.Utf8, "U": pl.Int64, "u": pl.Int64,
                        "pu": pl.Int64, "b": LEVELS, "a": LEVELS}),
    # Trade Streams: t trade id, p price, q quantity, T trade time, m "is the buyer the market maker?",
    # X (futures) MARKET / INSURANCE_FUND / ADL / NA, M (spot) "ignore".
    "trade": pl.Struct({"E": pl.Int64, "T": pl.Int64, "s": pl.Utf8, "t": pl.Int64, "p": pl.Utf8, "q": pl.Utf8,
                        "m": pl.Boolean, "X": pl.Utf8, "M": pl.Boolean}),
    # Aggregate Trade Streams: a aggregate trade id, p, q, f/l first/last trade id, T, m, M (spot).
    "aggTrade": pl.Struct({"E": pl.Int64, "T": pl.Int64, "s": pl.Utf8, "a": pl.Int64, "p": pl.Utf8,
                           "q": pl.Utf8, "m": pl.Boolean, "M": pl.Boolean}),
    # Individual Symbol Book Ticker Streams: u order book updateId, b/B best bid price/qty, a/A best ask
    # price/qty; futures add E event time and T transaction time, spot has neither.
    "bookTicker": pl.Struct({"E": pl.Int64, "T": pl.Int64, "s": pl.Utf8, "u": pl.Int64, "b": pl.Utf8,
                             "B": pl.Utf8, "a": pl.Utf8, "A": pl.Utf8}),
    # Mark Price Stream: p mark price, i index price, r funding rate ("" for delivery symbols),
    # T next funding time (0 for delivery symbols).
    "markPrice": pl.Struct({"E": pl.Int64, "T": pl.Int64, "s": pl.Utf8, "p": pl.Utf8, "i": pl.Utf8,
                            "r": pl.Utf8}),
    # Liquidation Order Streams: o.s symbol, o.S side, o.q original quantity, o.p price,
    # o.ap average price, o.X order status, o.z filled accumulated quantity, o.T order trade time.
    "forceOrder": pl.Struct({"E": pl.Int64, "o": pl.Struct({"s": pl.Utf8, "S": pl.Utf8, "q": pl.Utf8,
                                                           "p": pl.Utf8, "ap": pl.Utf8, "X": pl.Utf8,
                                                           "T": pl.Int64})}),
    # REST GET /api/v3/depth (spot: lastUpdateId, bids, asks), /fapi/v1/depth (adds E, T),
    # /dapi/v1/depth (adds E, T, symbol, pair).
    "snapshot": pl.Struct({"lastUpdateId": pl.Int64, "E": pl.Int64, "T": pl.Int64, "symbol": pl.Utf8,
                           "bids": LEVELS, "asks": LEVELS}),
}
KINDS = tuple(DTYPES)
TABLE_OF = {"depth": "raw_book_deltas", "snapshot": "raw_book_deltas", "trade": "raw_trades",
            "aggTrade": "raw_trades", "bookTicker": "raw_top_of_book", "markPrice": "raw_derivative_ticker",
            "forceOrder": "raw_liquidations"}


@dataclass
class Parsed:
    """One kind's rows of one file, before the venue's units are applied."""

    table: str
    rows: pl.DataFrame
    rejected: pl.DataFrame
    """`__line`, `reason`."""
    evidence: dict[str, int] = field(default_factory=dict)
    """'spot: ...' / 'futures: ...' -> messages showing it."""
    dropped: dict[str, int] = field(default_factory=dict)
    """What was read and deliberately not emitted -> count (say so in notes)."""


def _decode(data: pl.Series, dtype: pl.Struct) -> tuple[pl.Series, list[int]]:
    """`str.json_decode` of `data`, and the positions of lines that are not valid JSON.

    polars fails the whole column on one malformed text, so a failing column is bisected until
    each bad line stands alone: log2(n) decodes per bad line, none when the file is clean.
    """
    try:
        return data.str.json_decode(dtype), []
    except pl.exceptions.PolarsError:
        if len(data) == 1:
            return pl.Series(data.name, [None], dtype), [0]
    half = len(data) // 2
    left, bad_l = _decode(data[:half], dtype)
    right, bad_r = _decode(data[half:], dtype)
    return pl.concat([left, right]), [*bad_l, *(half + i for i in bad_r)]


def _ms(col: str | pl.Expr) -> pl.Expr:
    expr = pl.col(col) if isinstance(col, str) else col
    return pl.when(expr > 0).then(expr * 1_000_000).cast(UTC_NS)


def _num(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Float64, strict=False)


def _split_bad(df: pl.DataFrame, required: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows with every `required` column non-null, and the others as (`__line`, `reason`)."""
    reasons = [pl.when(pl.col(c).is_null()).then(pl.lit(why)) for c, why in required.items()]
    flagged = df.with_columns(pl.concat_str(reasons, separator="; ", ignore_nulls=True).alias("__reason"))
    bad = pl.col("__reason").is_not_null() & (pl.col("__reason") != "")
    rejected = flagged.filter(bad).select("__line", pl.col("__reason").alias("reason"))
    return flagged.filter(~bad).drop("__reason"), rejected


def parse_kind(kind: str, msgs: pl.DataFrame) -> Parsed:
    """Rows of `kind` from `msgs` (`__line`, `ts_local`, `data`: the message's JSON object text)."""
    decoded, bad_pos = _decode(msgs["data"], DTYPES[kind])
    df = msgs.select("__line", "ts_local").with_columns(decoded.struct.unnest())
    bad_json = msgs[bad_pos].select("__line", reason=pl.lit(f"malformed JSON ({kind} message)"))
    if bad_pos:
        df = df.filter(~pl.int_range(pl.len()).is_in(bad_pos))
    parsed = _PARSERS[kind](df)
    parsed.rejected = pl.concat([bad_json, parsed.rejected])
    return parsed


def parse_decoded(kind: str, df: pl.DataFrame, levels: pl.DataFrame | None = None) -> Parsed:
    """Rows of `kind` from messages decoded elsewhere (the fast path): `__line`, `ts_local` and the fields of
    `DTYPES[kind]` (prices may already be Float64), by the same rules as `parse_kind`.

    Depth messages come without `b`/`a` then, with `__nlev` (their level count) and `levels`: `__line`,
    `__ask`, `price`, `size`, one row per level in message order, bids first.
    """
    if kind == "depth":
        return _depth(df, levels)
    return _PARSERS[kind](df)


def _depth(df: pl.DataFrame, levels: pl.DataFrame | None = None) -> Parsed:
    evidence = {"futures: depth diffs carry pu": int(df["pu"].is_not_null().sum()),
                "spot: depth diffs without pu": int(df["pu"].is_null().sum())}
    df, rejected = _split_bad(df, {"s": "depth diff without symbol s", "u": "depth diff without final id u",
                                   "U": "depth diff without first id U", "E": "depth diff without event time E"})
    n_levels = (df["b"].list.len().fill_null(0) + df["a"].list.len().fill_null(0)) if levels is None else df["__nlev"]
    counts = n_levels.to_numpy()
    empty = int((n_levels == 0).sum())
    # Futures: T is the transaction (matching engine) time; spot diffs carry only the event time E.
    df = df.select("__line", "ts_local", ts_exchange=_ms(pl.coalesce("T", "E")), symbol="s",
                   first_update_id="U", update_id="u", prev_update_id="pu",
                   *(("b", "a") if levels is None else ()))
    rows = _levels(df, "b", "a", is_snapshot=False) if levels is None else _given_levels(df, levels, counts)
    dropped = {"depth diffs with no levels (their ids are lost with them)": empty} if empty else {}
    return Parsed("raw_book_deltas", rows, rejected, evidence, dropped)


def _given_levels(msgs: pl.DataFrame, levels: pl.DataFrame, counts: np.ndarray) -> pl.DataFrame:
    """`_levels`' rows from levels already one a row: each level takes its message's columns."""
    if counts.sum() == levels.height:  # every message kept: its levels are the next counts[i] rows
        at = np.repeat(np.arange(msgs.height), counts)
        return _with_levels(msgs, at, levels)
    lines = msgs["__line"].to_numpy()
    at = np.searchsorted(lines, levels["__line"].to_numpy())
    found = lines[np.minimum(at, len(lines) - 1)] == levels["__line"].to_numpy() if len(lines) else at < 0
    if not found.all():  # levels of a message the required columns dropped
        at, levels = at[found], levels.filter(pl.Series(found))
    return _with_levels(msgs, at, levels)


def _with_levels(msgs: pl.DataFrame, at: np.ndarray, levels: pl.DataFrame) -> pl.DataFrame:
    return msgs[at].with_columns(
        side=pl.when(levels["__ask"]).then(pl.lit("ask")).otherwise(pl.lit("bid")),
        price=levels["price"], size=levels["size"], is_snapshot=pl.lit(False))


def _levels(df: pl.DataFrame, bids: str, asks: str, is_snapshot: bool) -> pl.DataFrame:
    """One row per price level, bids then asks of each message, in the message's order (no sort)."""
    df = df.with_columns(__nb=pl.col(bids).list.len().fill_null(0).cast(pl.Int64),
                         __na=pl.col(asks).list.len().fill_null(0).cast(pl.Int64))
    df = df.filter(pl.col("__nb") + pl.col("__na") > 0)
    nb, n = df["__nb"].to_numpy(), (df["__nb"] + df["__na"]).to_numpy()
    starts = np.cumsum(n) - n
    # Position of each level within its message, against the message's bid count: bids come first.
    is_ask = np.arange(int(n.sum())) - np.repeat(starts, n) >= np.repeat(nb, n)
    levels = pl.concat_list(pl.col(bids).fill_null([]), pl.col(asks).fill_null([]))
    df = df.with_columns(__lvl=levels).drop(bids, asks, "__nb", "__na").explode("__lvl")
    df = df.with_columns(__ask=pl.Series(is_ask))
    return df.with_columns(
        side=pl.when(pl.col("__ask")).then(pl.lit("ask")).otherwise(pl.lit("bid")),
        price=pl.col("__lvl").list.get(0, null_on_oob=True).cast(pl.Float64, strict=False),
        size=pl.col("__lvl").list.get(1, null_on_oob=True).cast(pl.Float64, strict=False),
        is_snapshot=pl.lit(is_snapshot),
    ).drop("__lvl", "__ask")


def _snapshot(df: pl.DataFrame) -> Parsed:
    evidence = {"futures: snapshot carries T": int(df["T"].is_not_null().sum()),
                "spot: snapshot without T": int(df["T"].is_null().sum())}
    df, rejected = _split_bad(df, {"lastUpdateId": "snapshot without lastUpdateId",
                                   "bids": "snapshot without bids", "asks": "snapshot without asks"})
    df = df.select("__line", "ts_local", ts_exchange=_ms("T"), symbol="symbol",
                   first_update_id=pl.lit(None, pl.Int64), update_id="lastUpdateId",
                   prev_update_id=pl.lit(None, pl.Int64), bids="bids", asks="asks")
    return Parsed("raw_book_deltas", _levels(df, "bids", "asks", is_snapshot=True), rejected, evidence)


def _trade(df: pl.DataFrame, id_col: str = "t") -> Parsed:
    evidence = {"futures: trade carries X": int(df["X"].is_not_null().sum()) if "X" in df.columns else 0,
                "spot: trade carries M": int(df["M"].is_not_null().sum())}
    df = df.with_columns(price=_num("p"), size=_num("q"))
    df, rejected = _split_bad(df, {"s": "trade without symbol", "price": "trade without a numeric price p",
                                   "size": "trade without a numeric quantity q", "m": "trade without m",
                                   "T": "trade without trade time T"})
    dropped = {}
    if "X" in df.columns:
        # Futures trade streams also print INSURANCE_FUND / ADL fills: not market trades.
        off = ~pl.col("X").is_in(["MARKET"]).fill_null(True)
        n_off = int(df.select(off.sum()).item())
        if n_off:
            dropped["futures trades with X other than MARKET (insurance fund, ADL)"] = n_off
            df = df.filter(~off)
    # m: "Is the buyer the market maker?" -> true means the taker (aggressor) sold.
    rows = df.select("__line", "ts_local", ts_exchange=_ms("T"), symbol="s", price="price", size="size",
                     notional=pl.col("price") * pl.col("size"),
                     side=pl.when(pl.col("m")).then(pl.lit("sell")).otherwise(pl.lit("buy")), trade_id=id_col)
    return Parsed("raw_trades", rows, rejected, evidence, dropped)


def _agg_trade(df: pl.DataFrame) -> Parsed:
    parsed = _trade(df.with_columns(X=pl.lit(None, pl.Utf8)), id_col="a")
    parsed.evidence = {"spot: aggTrade carries M": int(df["M"].is_not_null().sum())}
    return parsed


def _book_ticker(df: pl.DataFrame) -> Parsed:
    has_time = pl.col("E").is_not_null() | pl.col("T").is_not_null()
    n_time = int(df.select(has_time.sum()).item())
    evidence = {"futures: bookTicker carries E/T": n_time, "spot: bookTicker without event time": df.height - n_time}
    df = df.with_columns(bid_price=_num("b"), bid_size=_num("B"), ask_price=_num("a"), ask_size=_num("A"))
    df, rejected = _split_bad(df, {"s": "bookTicker without symbol", "bid_price": "bookTicker without bid b",
                                   "bid_size": "bookTicker without bid qty B", "ask_price": "bookTicker without ask a",
                                   "ask_size": "bookTicker without ask qty A"})
    # Spot bookTicker carries no time at all: ts_exchange stays null there, never the local clock.
    rows = df.select("__line", "ts_local", ts_exchange=_ms(pl.coalesce("T", "E")), symbol="s",
                     bid_price="bid_price", bid_size="bid_size", ask_price="ask_price", ask_size="ask_size",
                     update_id="u")
    return Parsed("raw_top_of_book", rows, rejected, evidence)


def _mark_price(df: pl.DataFrame) -> Parsed:
    df, rejected = _split_bad(df, {"s": "markPrice without symbol", "E": "markPrice without event time E"})
    rows = df.select("__line", "ts_local", ts_exchange=_ms("E"), symbol="s", mark_price=_num("p"),
                     index_price=_num("i"), funding_rate=_num("r"), funding_time=_ms("T"),
                     funding_interval_hours=pl.lit(None, pl.Int32), open_interest=pl.lit(None, pl.Float64))
    return Parsed("raw_derivative_ticker", rows, rejected, {"futures: markPrice stream": df.height})


def _force_order(df: pl.DataFrame) -> Parsed:
    o = pl.col("o").struct
    # Price: the average fill price `ap` where it is positive, else the order price `p`; size: the
    # original quantity `q` (a liquidation snapshot is pushed FILLED in the streams we know).
    ap = o.field("ap").cast(pl.Float64, strict=False)
    df = df.with_columns(symbol=o.field("s"), side=o.field("S").str.to_lowercase(),
                         price=pl.when(ap > 0).then(ap).otherwise(o.field("p").cast(pl.Float64, strict=False)),
                         size=o.field("q").cast(pl.Float64, strict=False), T=o.field("T"))
    df, rejected = _split_bad(df, {"symbol": "forceOrder without o.s", "price": "forceOrder without a price",
                                   "size": "forceOrder without o.q", "side": "forceOrder without o.S"})
    rows = df.select("__line", "ts_local", ts_exchange=_ms(pl.coalesce("T", "E")), symbol="symbol", side="side",
                     price="price", size="size", notional=pl.col("price") * pl.col("size"))
    return Parsed("raw_liquidations", rows, rejected, {"futures: forceOrder stream": df.height})


_PARSERS = {"depth": _depth, "snapshot": _snapshot, "trade": _trade, "aggTrade": _agg_trade,
            "bookTicker": _book_ticker, "markPrice": _mark_price, "forceOrder": _force_order}
