"""`book_quality` and `micro_gaps`: what the rebuild of a stream could and could not know, per day and session.

Why per day and session: the lake is partitioned by day, a session (a collector run) can span two
days' files, and each day's row must stand on its own: its first known instant, the breaks and
resyncs stamped in it, the seconds of its grid with a known book.

`bbo_agreement` compares the venue's own best bid/offer stream with the rebuilt book: where both
carry update ids, the last venue message inside each depth diff's id range (the state a batched
diff stream exposes) is matched with the rebuilt best bid/ask after that diff; else each venue
message is matched with the last rebuilt state at or before its `ts_local`; only where the rebuilt
book is known. A second agrees when every matched message in it has the same best bid and ask
prices; the column is the share of such seconds.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from dvol_pipeline.quant.micro.book import STEP_NS, BookRebuild

GAP_THRESHOLD = timedelta(minutes=10)
_DAY_NS = 86_400 * 10**9


def _date_session(frame: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """`frame` with `date` (UTC day of ts_local) and the rebuild's session whose start is at or before it."""
    starts = sessions.select(pl.col("start").alias("__start"), pl.col("session")).sort("__start")
    out = frame.sort("ts_local").join_asof(starts, left_on="ts_local", right_on="__start", strategy="backward")
    first = sessions["session"].min() if sessions.height else 0
    return out.with_columns(pl.col("session").fill_null(first), pl.col("ts_local").dt.date().alias("date")
                            ).drop("__start")


def _skew(frames: list[pl.DataFrame], sessions: pl.DataFrame) -> pl.DataFrame:
    parts = [f.select("ts_local", "ts_exchange").drop_nulls() for f in frames if f is not None and f.height]
    if not parts:
        return pl.DataFrame(schema={"date": pl.Date, "session": pl.Int64, "skew_median_ms": pl.Float64,
                                    "skew_p99_ms": pl.Float64})
    rows = _date_session(pl.concat(parts), sessions).with_columns(
        ((pl.col("ts_local").cast(pl.Int64) - pl.col("ts_exchange").cast(pl.Int64)) / 1e6).alias("__skew"))
    return rows.group_by("date", "session").agg(pl.col("__skew").median().alias("skew_median_ms"),
                                               pl.col("__skew").quantile(0.99, "linear").alias("skew_p99_ms"))


def _last_ticker_of_each_diff(v: pl.DataFrame, deltas: pl.DataFrame) -> pl.DataFrame:
    """The venue messages whose state a diff stream exposes: a depth diff batches every update in
    [U, u] (Binance's depth@100ms), so the book is observable only after each diff, not at an id
    inside it; the last top-of-book message with an id in (previous u, u] shows the best bid/ask
    after diff u (a later change inside the batch would have sent a later message). Each such
    message is matched with the rebuilt state after its diff (`__vid` becomes that diff's u)."""
    bounds = (deltas.filter(~pl.col("is_snapshot") & pl.col("update_id").is_not_null())
              .select(pl.col("update_id").alias("__du")).unique().sort("__du"))
    if bounds.height == 0:
        return v
    v = v.sort("__vid").join_asof(bounds, left_on="__vid", right_on="__du", strategy="forward").drop_nulls("__du")
    return (v.group_by("__du").agg(pl.all().sort_by("__vid").last()).drop("__vid")
            .rename({"__du": "__vid"}).sort("ts_local"))


def _agreement(rebuild: BookRebuild, tob: pl.DataFrame | None, deltas: pl.DataFrame | None = None) -> pl.DataFrame:
    schema = {"date": pl.Date, "session": pl.Int64, "bbo_agreement": pl.Float64}
    if tob is None or tob.height == 0 or rebuild.top.height == 0:
        return pl.DataFrame(schema=schema)
    tob = tob.filter((pl.col("venue") == rebuild.venue) & (pl.col("symbol") == rebuild.symbol))
    known = rebuild.known.select("segment", pl.col("start").alias("__ks"), pl.col("end").alias("__ke")).sort("__ks")
    v = tob.select("ts_local", pl.col("update_id").alias("__vid"), pl.col("bid_price").alias("__vb"),
                   pl.col("ask_price").alias("__va")).sort("ts_local")
    v = v.join_asof(known, left_on="ts_local", right_on="__ks", strategy="backward").filter(
        pl.col("ts_local") <= pl.col("__ke"))
    top = rebuild.top.select("ts_local", "update_id", "bid_price", "ask_price", pl.col("segment").alias("__tseg"))
    by_id = v["__vid"].null_count() == 0 and top["update_id"].null_count() == 0 and v.height > 0
    if by_id and deltas is not None:
        v = _last_ticker_of_each_diff(v, deltas)
    if by_id:
        matched = v.sort("__vid").join_asof(top.drop("ts_local").sort("update_id"), left_on="__vid",
                                            right_on="update_id", strategy="backward")
    else:
        matched = v.join_asof(top.rename({"ts_local": "__tts"}).sort("__tts"), left_on="ts_local", right_on="__tts",
                              strategy="backward")
    same = ((pl.col("bid_price") - pl.col("__vb")).abs() <= 1e-9 * pl.col("__vb")) & (
        (pl.col("ask_price") - pl.col("__va")).abs() <= 1e-9 * pl.col("__va"))
    matched = matched.filter(pl.col("__tseg") == pl.col("segment")).with_columns(same.fill_null(False).alias("__ok"))
    if matched.height == 0:
        return pl.DataFrame(schema=schema)
    secs = _date_session(matched.select("ts_local", "__ok"), rebuild.sessions).group_by(
        "date", "session", pl.col("ts_local").dt.truncate("1s")).agg(pl.col("__ok").all())
    return secs.group_by("date", "session").agg(pl.col("__ok").mean().alias("bbo_agreement"))


def _known_seconds_by_day(rebuild: BookRebuild) -> pl.DataFrame:
    """Grid seconds T with a known book, per UTC day of T and session: (start, end] clipped to the day."""
    rows = []
    for seg_session, s, e in zip(rebuild.known["session"].to_list(),
                                 rebuild.known["start"].cast(pl.Int64).to_list(),
                                 rebuild.known["end"].cast(pl.Int64).to_list(), strict=True):
        for day in range(s // _DAY_NS, e // _DAY_NS + 1):
            lo, hi = max(s, day * _DAY_NS - 1), min(e, (day + 1) * _DAY_NS - 1)
            n = hi // STEP_NS - lo // STEP_NS
            first = max(s, day * _DAY_NS)
            if hi >= first:
                rows.append((day, seg_session, n, first))
    schema = {"__day": pl.Int64, "session": pl.Int64, "known_seconds": pl.Int64, "__first": pl.Int64}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.with_columns(pl.from_epoch(pl.col("__day") * 86_400, "s").dt.date().alias("date")).group_by(
        "date", "session").agg(pl.col("known_seconds").sum(),
                               pl.col("__first").min().cast(pl.Datetime("ns", "UTC")).alias("sync_ts"))


def book_quality(rebuild: BookRebuild, deltas: pl.DataFrame, top_of_book: pl.DataFrame | None = None,
                 trades: pl.DataFrame | None = None) -> pl.DataFrame:
    """`book_quality` rows of one rebuilt stream: one per UTC day (local clock) and session.

    `sync_ts` is the day's first instant with a known book (the session's sync, or midnight when the
    book was already known); `known_seconds` counts the day's 1-second grid points with a known book.
    """
    sessions = rebuild.sessions
    rows = _date_session(deltas.select("ts_local"), sessions)
    base = rows.group_by("date", "session").agg(pl.len().cast(pl.Int64).alias("events"))
    log = _date_session(rebuild.log, sessions).group_by("date", "session").agg(
        (pl.col("kind") == "snapshot").sum().cast(pl.Int64).alias("snapshots"),
        (pl.col("kind") == "break").sum().cast(pl.Int64).alias("sequence_breaks"),
        (pl.col("kind") == "resync").sum().cast(pl.Int64).alias("resyncs"),
        (pl.col("kind") == "crossed").sum().cast(pl.Int64).alias("crossed_states"))
    out = (base.join(log, on=["date", "session"], how="left")
           .join(_known_seconds_by_day(rebuild), on=["date", "session"], how="left")
           .join(_skew([deltas, top_of_book, trades], sessions), on=["date", "session"], how="left")
           .join(_agreement(rebuild, top_of_book, deltas), on=["date", "session"], how="left")
           .with_columns(pl.col("snapshots", "sequence_breaks", "resyncs", "crossed_states", "known_seconds")
                         .fill_null(0)))
    out = out.sort("date", "session").with_columns(
        (pl.col("session").rank("dense").over("date") - 1).cast(pl.Int32).alias("session"),
        pl.lit(rebuild.venue, pl.Utf8).alias("venue"), pl.lit(rebuild.symbol, pl.Utf8).alias("symbol"))
    return out.select("date", "venue", "symbol", "session", "events", "snapshots", "sync_ts", "sequence_breaks",
                      "resyncs", "known_seconds", "crossed_states", "skew_median_ms", "skew_p99_ms", "bbo_agreement")


def find_gaps(frame: pl.DataFrame, stream: str, threshold: timedelta = GAP_THRESHOLD) -> pl.DataFrame:
    """`micro_gaps` rows: every silence longer than `threshold` between consecutive rows of a (venue, symbol),
    dated by the day it ends: the day whose rows reveal it (so the unit of that day reports it, alone)."""
    prev = pl.col("ts_local").shift(1).over("venue", "symbol")
    gaps = (frame.select("venue", "symbol", "ts_local")
            .with_columns(prev.alias("gap_start"))
            .filter((pl.col("ts_local") - pl.col("gap_start")) > threshold)
            .rename({"ts_local": "gap_end"}))
    return gaps.select(pl.col("gap_end").dt.date().alias("date"), "venue", "symbol",
                       pl.lit(stream, pl.Utf8).alias("stream"), "gap_start", "gap_end",
                       ((pl.col("gap_end") - pl.col("gap_start")).dt.total_nanoseconds() / 6e10).alias("minutes"))

