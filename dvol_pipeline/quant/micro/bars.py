"""`micro_bars`: time bars (1 s, 1 min, 5 min) and volume bars from the rebuilt book and the trades.

Conventions (the docs page repeats them):
- Bars are on `ts_local` and left-closed: a time bar is [close - width, close), labelled `ts` = close.
  A row stamped exactly at a close belongs to the next bar, so a bar never uses data at or after its
  label: the look-ahead test rebuilds bars from data truncated at their close and gets the same rows.
- Volume bars (`vol<N>`): bar k closes at the trade that brings the cumulative traded volume to
  k x N; it holds the rows with `ts_local` after the previous close up to and including that trade's
  (trades sharing its timestamp included, so a bar can exceed N); `ts` is the closing trade's time.
  The unfinished last bar is not emitted.
- Book columns come from the best bid/offer states (`book_top`): a state holds from its row to the
  next row of its known interval (or that interval's end). `mid_open` is the first state of the bar
  (the one in force at the open if the book was known then), `mid_close` the last; `spread_bps` is
  time-weighted over the bar's known time; `bid_*`/`ask_*` are the state in force at the close (null if
  the book is unknown at the close); depth is summed over the first N levels of the 1-second snapshot at
  the close (volume bars: the last snapshot at or before the close, within 1 s), null if unknown.
- `ofi` is the sum of the Cont-Kukanov-Stoikov e_n of the bar's updates (`ofi.py`); `bid_depletions`
  counts updates where the best bid price fell (the best level emptied), `ask_depletions` where the best
  ask rose; `cancel_bid`/`cancel_ask` is size removed at an unchanged best price beyond the trades at that
  price since the previous update (base units).
- A bar with no known book has null mid, spread and ofi but its trade columns; bars with neither a trade
  nor any known book time are not emitted.
"""

from __future__ import annotations

import functools
import math
import operator
from datetime import timedelta

import numpy as np
import polars as pl

from dvol_pipeline.contracts.tables import UTC_TS_NS
from dvol_pipeline.quant.micro import bars_kernel as B
from dvol_pipeline.quant.micro.ofi import ofi_events, segments

WIDTHS = {"1s": timedelta(seconds=1), "1m": timedelta(minutes=1), "5m": timedelta(minutes=5)}
DEPTHS = (5, 10, 20)
COLUMNS = ("ts", "venue", "symbol", "bar", "mid_open", "mid_high", "mid_low", "mid_close", "vwap", "spread_bps",
           "ofi", "buy_volume", "sell_volume", "trades", "volume", "notional", "trade_open", "trade_high",
           "trade_low", "trade_close", "bid_price", "ask_price", "bid_size", "ask_size",
           *(f"{s}_depth_{n}" for n in DEPTHS for s in ("bid", "ask")), "bbo_updates", "bid_depletions",
           "ask_depletions", "cancel_bid", "cancel_ask", "known_share")


def empty_bars() -> pl.DataFrame:
    """No bars (a stream with neither trades nor a book)."""
    ints = {"trades", "bbo_updates", "bid_depletions", "ask_depletions"}
    return pl.DataFrame(schema={c: UTC_TS_NS if c == "ts" else pl.Utf8 if c in ("venue", "symbol", "bar") else
                                pl.Int64 if c in ints else pl.Float64 for c in COLUMNS})


def _i64(frame: pl.DataFrame, name: str) -> np.ndarray:
    return frame[name].cast(pl.Int64).to_numpy()


def _known(top: pl.DataFrame, known: pl.DataFrame | None) -> pl.DataFrame:
    """Known intervals: the rebuild's, else each segment's first to last update (a venue's own stream)."""
    if known is not None:
        return known
    seg = top.with_columns(pl.col("segment") if "segment" in top.columns else pl.lit(0, pl.Int64).alias("segment"))
    return seg.group_by("segment").agg(pl.col("ts_local").min().alias("start"),
                                       pl.col("ts_local").max().alias("end")).sort("segment")


def _book_side(top: pl.DataFrame, trades: pl.DataFrame, known: pl.DataFrame, edges: np.ndarray) -> pl.DataFrame:
    top = ofi_events(top)
    seg = top["segment"].to_numpy() if "segment" in top.columns else np.zeros(top.height, np.int64)
    ts = _i64(top, "ts_local")
    ends = dict(zip(known["segment"].to_list(), _i64(known, "end").tolist(), strict=True)) if "segment" in \
        known.columns else {}
    hold_end = np.empty(ts.size, np.int64)
    if ts.size:
        same_next = np.zeros(ts.size, bool)
        same_next[:-1] = seg[1:] == seg[:-1]
        hold_end[:-1] = ts[1:]
        last_of_seg = np.flatnonzero(~same_next)
        hold_end[last_of_seg] = [ends.get(int(seg[i]), int(ts[i])) for i in last_of_seg]
    trades = trades.sort("ts_local", maintain_order=True)
    f, c = B.book_bars(edges, ts, *(top[x].to_numpy().astype(np.float64) for x in
                                    ("bid_price", "bid_size", "ask_price", "ask_size")),
                       seg.astype(np.int64), hold_end, top["ofi"].fill_null(np.nan).to_numpy().astype(np.float64),
                       _i64(known, "start"), _i64(known, "end"), _i64(trades, "ts_local"),
                       trades["price"].to_numpy().astype(np.float64), trades["size"].to_numpy().astype(np.float64),
                       (trades["side"] == "buy").to_numpy())
    known_t = f[:, B.KNOWN_T]
    width = np.diff(edges).astype(np.float64)
    has = known_t > 0
    spread = np.where(f[:, B.SPREAD_T] > 0, f[:, B.SPREAD_W] / np.where(f[:, B.SPREAD_T] > 0, f[:, B.SPREAD_T], 1),
                      np.nan)

    def nan_unless(x):
        return np.where(has, x, np.nan)

    out = pl.DataFrame({
        "__k": np.arange(edges.size - 1, dtype=np.int64),
        "mid_open": nan_unless(f[:, B.MID_OPEN]), "mid_high": nan_unless(f[:, B.MID_HIGH]),
        "mid_low": nan_unless(f[:, B.MID_LOW]), "mid_close": nan_unless(f[:, B.MID_CLOSE]),
        "spread_bps": nan_unless(spread), "ofi": nan_unless(f[:, B.OFI]),
        "bid_price": f[:, B.BID_P], "ask_price": f[:, B.ASK_P], "bid_size": f[:, B.BID_Q], "ask_size": f[:, B.ASK_Q],
        "bbo_updates": c[:, B.UPDATES], "bid_depletions": c[:, B.BID_DEPL], "ask_depletions": c[:, B.ASK_DEPL],
        "cancel_bid": f[:, B.CANCEL_BID], "cancel_ask": f[:, B.CANCEL_ASK], "known_share": known_t / width,
    })
    return out.with_columns(pl.col(pl.Float64).fill_nan(None))


def _trade_side(trades: pl.DataFrame, edges: np.ndarray) -> pl.DataFrame:
    k = np.searchsorted(edges, _i64(trades, "ts_local"), side="right") - 1
    t = trades.with_columns(pl.Series("__k", k, dtype=pl.Int64)).filter(
        (pl.col("__k") >= 0) & (pl.col("__k") < edges.size - 1))
    buy = pl.col("side") == "buy"
    return t.group_by("__k").agg(
        (pl.col("notional").sum() / pl.col("size").sum()).alias("vwap"),
        pl.col("size").filter(buy).sum().alias("buy_volume"),
        pl.col("size").filter(~buy).sum().alias("sell_volume"),
        pl.len().cast(pl.Int64).alias("trades"),
        pl.col("size").sum().alias("volume"), pl.col("notional").sum().alias("notional"),
        pl.col("price").first().alias("trade_open"), pl.col("price").max().alias("trade_high"),
        pl.col("price").min().alias("trade_low"), pl.col("price").last().alias("trade_close"))


def _depth(snapshots: pl.DataFrame | None, label: pl.DataFrame, tolerance_ns: int) -> pl.DataFrame:
    """Depth at 5/10/20 levels from the last snapshot at or before each bar's label `ts`."""
    names = [f"{s}_depth_{n}" for n in DEPTHS for s in ("bid", "ask")]
    if snapshots is None or "ts" not in snapshots.columns:  # no rebuilt book (a venue's top-of-book only)
        return label.with_columns(pl.lit(None, pl.Float64).alias(c) for c in names)

    def level_sum(side: str, n: int) -> pl.Expr:
        sizes = [pl.col(f"{side}_size_{i}") for i in range(1, n + 1) if f"{side}_size_{i}" in snapshots.columns]
        # a left-to-right sum (null as 0): the same bits whatever the frame's size (sum_horizontal's order is not)
        total = functools.reduce(operator.add, (c.fill_null(0.0) for c in sizes)) if sizes else pl.lit(None, pl.Float64)
        return total.alias(f"{side}_depth_{n}")

    depth = snapshots.select(pl.col("ts").alias("__snap_ts"),
                             *(level_sum(s, n) for n in DEPTHS for s in ("bid", "ask"))).sort("__snap_ts")
    joined = label.sort("ts").join_asof(depth, left_on="ts", right_on="__snap_ts", strategy="backward",
                                        tolerance=tolerance_ns if tolerance_ns else None)
    if tolerance_ns == 0:  # time bars: the snapshot at the close itself, or nothing
        joined = joined.with_columns(pl.when(pl.col("__snap_ts") == pl.col("ts")).then(pl.col(c)).alias(c)
                                     for c in names)
    return joined.drop("__snap_ts")


def _assemble(top, trades, snapshots, known, edges, labels, bar, venue, symbol, tolerance_ns) -> pl.DataFrame:
    if "segment" not in top.columns:  # a venue's own top-of-book stream: runs cut at restart silences
        top = top.with_columns(segments(top).cast(pl.Int64).alias("segment"))
    known = _known(top, known)
    book = _book_side(top, trades, known, edges)
    trade = _trade_side(trades, edges)
    out = book.join(trade, on="__k", how="left").with_columns(
        pl.col("buy_volume", "sell_volume", "volume", "notional").fill_null(0.0), pl.col("trades").fill_null(0))
    out = out.filter((pl.col("trades") > 0) | (pl.col("known_share") > 0) | (pl.col("bbo_updates") > 0))
    out = out.with_columns(pl.Series("ts", labels, dtype=pl.Int64).gather(out["__k"]).cast(UTC_TS_NS),
                           pl.lit(venue, pl.Utf8).alias("venue"), pl.lit(symbol, pl.Utf8).alias("symbol"),
                           pl.lit(bar, pl.Utf8).alias("bar"))
    out = _depth(snapshots, out, tolerance_ns)
    unknown_close = pl.col("bid_price").is_null()
    out = out.with_columns(pl.when(~unknown_close).then(pl.col(f"{s}_depth_{n}")).alias(f"{s}_depth_{n}")
                           for n in DEPTHS for s in ("bid", "ask"))
    return out.with_columns(pl.col("trades", "bbo_updates", "bid_depletions", "ask_depletions").cast(pl.Int64)
                            ).sort("ts").select(COLUMNS)


def _stream(top: pl.DataFrame, trades: pl.DataFrame) -> tuple[str, str]:
    for f in (top, trades):
        if f.height:
            return f["venue"][0], f["symbol"][0]
    return "", ""


def time_bars(top: pl.DataFrame, trades: pl.DataFrame, snapshots: pl.DataFrame | None, bar: str,
              known: pl.DataFrame | None = None) -> pl.DataFrame:
    """`micro_bars` rows of one stream at `bar` (1s, 1m, 5m): left-closed [close - width, close), ts = close.

    `top`: book_top rows (with `segment`) or a venue's top-of-book stream; `snapshots`: book_snapshots
    rows (None: depth columns null); `known`: the rebuild's known intervals (`BookRebuild.known`; None:
    each segment's first to last update).
    """
    width = WIDTHS[bar] // timedelta(microseconds=1) * 1000
    stamps = [_i64(f, "ts_local") for f in (top, trades) if f.height]
    if known is not None and known.height:
        stamps += [_i64(known, "start"), _i64(known, "end")]
    if not stamps:
        return empty_bars()
    lo = min(int(s.min()) for s in stamps)
    hi = max(int(s.max()) for s in stamps)
    edges = np.arange(lo // width * width, (hi // width + 2) * width, width, dtype=np.int64)
    venue, symbol = _stream(top, trades)
    return _assemble(top, trades, snapshots, known, edges, edges[1:], bar, venue, symbol, 0)


def volume_bars(top: pl.DataFrame, trades: pl.DataFrame, size: float, snapshots: pl.DataFrame | None = None,
                known: pl.DataFrame | None = None) -> pl.DataFrame:
    """`micro_bars` rows closing every `size` base units of traded volume (bar name `vol<size>`)."""
    trades = trades.sort("ts_local", maintain_order=True)
    cum = trades["size"].cum_sum().to_numpy()
    ts = _i64(trades, "ts_local")
    n = np.floor(cum / size + 1e-12)
    closes = ts[np.flatnonzero(np.diff(np.concatenate([[0.0], n])) > 0)]
    closes = np.unique(closes)
    if closes.size == 0:
        return empty_bars()
    edges = np.concatenate([[ts[0]], closes + 1]).astype(np.int64)
    venue, symbol = _stream(top, trades)
    return _assemble(top, trades, snapshots, known, edges, closes, f"vol{size:g}", venue, symbol, 999_999_999)


def volume_bar_size(trades: pl.DataFrame | None, per_day: int = 1000) -> float | None:
    """A volume bar's size in base units: the stream's median daily volume / `per_day`, to one
    significant digit (a round number a researcher can name: vol10 is 10 coins), None without trades."""
    if trades is None or trades.is_empty():
        return None
    daily = trades.group_by(pl.col("ts_local").dt.date()).agg(pl.col("size").sum())["size"].median()
    if not daily or daily <= 0:
        return None
    raw = daily / per_day
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return float(round(raw / magnitude) * magnitude)
