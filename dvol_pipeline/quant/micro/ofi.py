"""Order-flow imbalance as Cont, Kukanov & Stoikov (2014, "The price impact of order book events") define it.

Per best-bid/offer update n (prices P, sizes q at the best, b bid, a ask):

    e_n = 1{Pb_n >= Pb_n-1} qb_n - 1{Pb_n <= Pb_n-1} qb_n-1 - 1{Pa_n <= Pa_n-1} qa_n + 1{Pa_n >= Pa_n-1} qa_n-1

and OFI over an interval is the sum of e_n over its updates. Positive: demand rose at the best (the bid
grew or stepped up, the ask shrank or stepped up). It works on any frame with `bid_price`, `bid_size`,
`ask_price`, `ask_size` in arrival order: the rebuilt `book_top` or a venue's `raw_top_of_book`. No e_n
spans a break of the known book: the rebuilt top carries its known interval in `segment`; a frame
without it (a venue's own stream) is cut at silences over 60 s (a collector restart).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from dvol_pipeline.quant.micro.book import SESSION_GAP, session_ids


def segments(top: pl.DataFrame, gap: timedelta = SESSION_GAP) -> pl.Series:
    """The run each row belongs to: `segment` where present, else cut at silences over `gap` per stream."""
    if "segment" in top.columns:
        return top["segment"]
    ts = top["ts_local"].cast(pl.Int64).to_numpy()
    return pl.Series("segment", session_ids(ts, gap))


def ofi_events(top: pl.DataFrame, gap: timedelta = SESSION_GAP) -> pl.DataFrame:
    """`top` with `ofi` (e_n; null on the first row of a segment, which has no predecessor)."""
    seg = segments(top, gap)
    prev = {c: pl.col(c).shift(1).over("__seg") for c in ("bid_price", "bid_size", "ask_price", "ask_size")}
    bp, bq, ap, aq = (pl.col(c) for c in ("bid_price", "bid_size", "ask_price", "ask_size"))
    e = (pl.when(bp >= prev["bid_price"]).then(bq).otherwise(0.0)
         - pl.when(bp <= prev["bid_price"]).then(prev["bid_size"]).otherwise(0.0)
         - pl.when(ap <= prev["ask_price"]).then(aq).otherwise(0.0)
         + pl.when(ap >= prev["ask_price"]).then(prev["ask_size"]).otherwise(0.0))
    first = prev["bid_price"].is_null()
    return (top.with_columns(seg.alias("__seg"))
            .with_columns(pl.when(first).then(None).otherwise(e).alias("ofi"))
            .drop("__seg"))
