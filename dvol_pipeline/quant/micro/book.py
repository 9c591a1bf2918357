"""Rebuild one (venue, symbol) order book from its `raw_book_deltas` rows: the best bid/ask at every
change, the top 20 levels on a 1-second grid, the sessions and where the book is known.

Why here and not in the sources: every source (simulated, Binance websocket, Tardis, Crypto Lake)
lands the same delta rows; the sync rule is read from the rows themselves, so one replay serves all:

- update ids all null: the Tardis / Crypto Lake flag rule. A run of `is_snapshot` rows resets the
  book when the flag turns from false to true; rows sharing `ts_local` are one update; size 0 deletes.
- diffs carry `prev_update_id` (Binance USD-M / COIN-M): with a snapshot of `lastUpdateId` L, drop
  diffs with u < L; the first applied one has U <= L <= u; then each diff's pu equals the previous u.
- otherwise (Binance spot): drop u <= L; the first applied one has U <= L + 1 <= u; then U = previous u + 1.

Diffs that arrive before the snapshot are buffered and replayed when it arrives, as Binance tells a
client to do. A sequence break makes the book unknown until the next snapshot (recorded, never
filled); a stream without a snapshot never syncs. A session starts at the stream's first row and
after a silence over 60 s of `ts_local` (a collector restart). A silence reads as a quiet market for 60 s
(what a live reader believes at that instant: no look-ahead), so the book is unknown from 60 s after the
last row before the restart until a snapshot syncs it again. A snapshot that arrives while the book is synced
is counted and otherwise ignored: it is older than the diffs already applied.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from dvol_pipeline.contracts.tables import UTC_TS_NS
from dvol_pipeline.quant.micro import book_kernel as K

SESSION_GAP = timedelta(seconds=60)
"""A silence longer than this in `ts_local` starts a new session (the collector restarted)."""
STEP_NS = 1_000_000_000
"""The grid of `book_snapshots`: one row per second of the local clock."""
MAX_DENSE = 1 << 23
"""Widest tick range kept as a flat array; wider streams index the distinct ticks instead."""
RULES = {K.FLAG: "flag", K.FUTURES: "binance_futures", K.SPOT: "binance_spot"}


@dataclass
class BookRebuild:
    """What the replay of one stream produced."""

    venue: str
    symbol: str
    rule: str
    """Sync rule read from the rows: flag, binance_futures or binance_spot."""
    tick: float
    """Price tick inferred from the rows (gcd of the price differences)."""
    top: pl.DataFrame
    """book_top rows (+ `update_id`, and `segment`: the known interval the row belongs to)."""
    snapshots: pl.DataFrame
    """book_snapshots rows: top levels a side at the end of every known, uncrossed second."""
    sessions: pl.DataFrame
    """One row per session: counts, sync point, breaks, resyncs, known seconds, crossed states."""
    known: pl.DataFrame
    """Known-book intervals (start, end]: segment, session, start, end."""
    log: pl.DataFrame
    """Every snapshot, sync, resync, break, crossed state and failed sync: ts_local, kind, session."""
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds of the stages (prepare, replay, frames): what the benchmark prints."""

    @property
    def synced(self) -> bool:
        return self.known.height > 0


def sync_rule(deltas: pl.DataFrame) -> int:
    """The sync rule the rows call for (see the module doc)."""
    if deltas["update_id"].null_count() == deltas.height:
        return K.FLAG
    diffs = deltas.filter(~pl.col("is_snapshot"))
    if diffs.height and diffs["prev_update_id"].null_count() < diffs.height:
        return K.FUTURES
    return K.SPOT


def infer_tick(prices: np.ndarray) -> tuple[np.ndarray, float, int, int]:
    """Integer prices: (q, tick, decimals d, tick in q units g), q = round(price * 10^d), tick = g / 10^d.

    The fewest decimals that make every price an integer (up to float noise), then the gcd of the
    differences: robust to `26809.900000000001` and to streams whose levels are all even ticks.
    """
    d = K.decimals_of(prices)
    q = K.to_integers(prices, d)
    g = K.gcd_of_offsets(q) if q.size else 0
    g = max(int(g), 1)
    return q, g / 10.0 ** d, d, g


def _index(q: np.ndarray, d: int, g: int) -> tuple[np.ndarray, np.ndarray]:
    """(row -> level index, level index -> price)."""
    if q.size == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    lo, hi = int(q.min()), int(q.max())
    if (hi - lo) // g + 1 <= MAX_DENSE:
        idx = (q - lo) // g
        price = (lo + g * np.arange((hi - lo) // g + 1, dtype=np.int64)) / 10.0 ** d
        return idx, price
    uniq, inv = np.unique(q, return_inverse=True)
    return inv.astype(np.int64), uniq / 10.0 ** d


def session_ids(ts_ns: np.ndarray, gap: timedelta = SESSION_GAP) -> np.ndarray:
    """Session number (0-based) of each row: a new one after every silence over `gap`."""
    return K.run_ids(ts_ns, gap // timedelta(microseconds=1) * 1000)


def _messages(rule: int, uid: np.ndarray, ts: np.ndarray, snap: np.ndarray) -> np.ndarray:
    """First row of every message, plus the end: rows sharing the snapshot flag and, by rule, ts_local (flag)
    or the update id (Binance)."""
    return K.message_starts(ts if rule == K.FLAG else uid, snap)


def _nullable(values: np.ndarray) -> pl.Series:
    """int64 with the NULL_ID sentinel -> a nullable Int64 series."""
    series = pl.Series(values, dtype=pl.Int64)
    null = values == K.NULL_ID
    return series.scatter(np.flatnonzero(null), None) if null.any() else series


def _ts(values: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(UTC_TS_NS)


def rebuild_book(deltas: pl.DataFrame, levels: int = 20, venue: str | None = None, symbol: str | None = None,
                 end: datetime | None = None) -> BookRebuild:
    """Replay one (venue, symbol) stream of raw_book_deltas rows, in arrival order (may span days).

    `end`: the instant up to which the stream is complete (a live reader's now, or the cut of data
    truncated at a bar's close); the book stays known after the last row until `end`, at most
    `SESSION_GAP`. Default: the last row (nothing is claimed after it).
    """
    t0 = time.perf_counter()
    venue = venue if venue is not None else (deltas["venue"][0] if deltas.height else "")
    symbol = symbol if symbol is not None else (deltas["symbol"][0] if deltas.height else "")
    if deltas.height and deltas.select(pl.struct("venue", "symbol").n_unique()).item() > 1:
        raise ValueError("rebuild_book takes one (venue, symbol) stream; split the frame first")
    rule = sync_rule(deltas) if deltas.height else K.FLAG
    ids = ("ts_local", "ts_exchange", "update_id", "first_update_id", "prev_update_id")
    cols = deltas.select(*(pl.col(c).cast(pl.Int64).fill_null(K.NULL_ID) for c in ids),  # one parallel pass
                         pl.col("is_snapshot").fill_null(False), (pl.col("side") == "bid").alias("__bid"),
                         pl.col("price", "size").cast(pl.Float64))
    ts, tsx, uid, fid, pid = (cols[c].to_numpy() for c in ids)
    snap = cols["is_snapshot"].to_numpy()
    is_bid = cols["__bid"].to_numpy()
    prices = cols["price"].to_numpy()
    q, tick, d, g = infer_tick(prices) if prices.size else (prices.astype(np.int64), float("nan"), 0, 1)
    idx, price = _index(q, d, g)
    size = cols["size"].to_numpy()
    starts = _messages(rule, uid, ts, snap)
    row_session = session_ids(ts)
    msg_session = row_session[starts[:-1]]
    msg_snap = snap[starts[:-1]]
    n_bound = int((ts[-1] - ts[0]) // STEP_NS + 2) if ts.size else 0
    gap_ns = SESSION_GAP // timedelta(microseconds=1) * 1000
    end_ns = int(pl.Series([end], dtype=UTC_TS_NS).cast(pl.Int64)[0]) if end is not None else K.NULL_ID
    n_bound += gap_ns // STEP_NS + 1 if end is not None else 0
    t1 = time.perf_counter()
    out = K.replay(ts, tsx, is_bid, idx, size, uid, fid, pid, starts, msg_snap, msg_session, rule, price, levels,
                   STEP_NS, n_bound, gap_ns, end_ns)
    t2 = time.perf_counter()
    (tops, top_ts, top_tsx, top_uid, top_seg, n_top, snap_ts, snaps, n_snap, log_ts, log_kind, log_session, n_log,
     kn_start, kn_end, kn_session, n_known) = out
    const = {"venue": pl.lit(venue, pl.Utf8), "symbol": pl.lit(symbol, pl.Utf8)}
    top = pl.DataFrame({
        "ts_local": _ts(top_ts[:n_top]),
        "ts_exchange": _nullable(top_tsx[:n_top]).cast(UTC_TS_NS),
        "bid_price": tops[:n_top, 0], "bid_size": tops[:n_top, 1],
        "ask_price": tops[:n_top, 2], "ask_size": tops[:n_top, 3],
        "update_id": _nullable(top_uid[:n_top]),
        "segment": pl.Series(top_seg[:n_top], dtype=pl.Int64),
    }).with_columns(**const).select("ts_local", "ts_exchange", "venue", "symbol", "bid_price", "bid_size",
                                    "ask_price", "ask_size", "update_id", "segment")
    names = [f"{s}_{k}_{i}" for s in ("bid", "ask") for i in range(1, levels + 1) for k in ("price", "size")]
    block = snaps[:n_snap]
    snapshots = pl.DataFrame({"ts": _ts(snap_ts[:n_snap]), **{name: pl.Series(name, block[:, j], nan_to_null=True)
                                                             for j, name in enumerate(names)}})
    snapshots = snapshots.with_columns(**const).select("ts", "venue", "symbol", *names)
    known = pl.DataFrame({"segment": np.arange(n_known, dtype=np.int64), "session": kn_session[:n_known],
                          "start": _ts(kn_start[:n_known]), "end": _ts(kn_end[:n_known])})
    log = pl.DataFrame({"ts_local": _ts(log_ts[:n_log]),
                        "kind": pl.Series([K.LOG_KINDS[k] for k in log_kind[:n_log]], dtype=pl.Utf8),
                        "session": log_session[:n_log].astype(np.int64)})
    sessions = _sessions(ts, row_session, starts, msg_snap, msg_session, known, log, snap_ts[:n_snap])
    notes = []
    if n_known == 0:
        why = "no snapshot in the stream" if not snap.any() else "no snapshot ever validated by the diffs"
        notes.append(f"{venue} {symbol}: never synced ({why}): no book")
    timings = {"prepare": t1 - t0, "replay": t2 - t1, "frames": time.perf_counter() - t2}
    return BookRebuild(venue, symbol, RULES[rule], tick, top, snapshots, sessions, known, log, notes, timings)


def known_seconds(known: pl.DataFrame) -> pl.Expr:
    """Second boundaries T with start < T <= end, per known interval (the snapshot grid's known seconds)."""
    s = pl.col("end").cast(pl.Int64) // STEP_NS - pl.col("start").cast(pl.Int64) // STEP_NS
    return s


def _sessions(ts, row_session, starts, msg_snap, msg_session, known, log, snap_ts) -> pl.DataFrame:
    """One row per session (see BookRebuild.sessions)."""
    if ts.size == 0:
        return pl.DataFrame(schema={"session": pl.Int64, "start": UTC_TS_NS, "end": UTC_TS_NS, "events": pl.Int64,
                                    "snapshots": pl.Int64, "sync_ts": UTC_TS_NS, "sequence_breaks": pl.Int64,
                                    "resyncs": pl.Int64, "known_seconds": pl.Int64, "crossed_states": pl.Int64})
    first = np.flatnonzero(np.diff(row_session, prepend=-1) != 0)  # sessions are contiguous runs of rows
    last = np.append(first[1:], ts.size) - 1
    base = pl.DataFrame({"session": row_session[first], "start": _ts(ts[first]), "end": _ts(ts[last]),
                         "events": (last - first + 1).astype(np.int64)})
    counts = log.group_by("session").agg(
        (pl.col("kind") == "snapshot").sum().cast(pl.Int64).alias("snapshots"),
        pl.col("ts_local").filter(pl.col("kind").is_in(["sync", "resync"])).min().alias("sync_ts"),
        (pl.col("kind") == "break").sum().cast(pl.Int64).alias("sequence_breaks"),
        (pl.col("kind") == "resync").sum().cast(pl.Int64).alias("resyncs"),
        (pl.col("kind") == "crossed").sum().cast(pl.Int64).alias("crossed_states"))
    secs = known.group_by("session").agg(known_seconds(known).sum().cast(pl.Int64).alias("known_seconds"))
    out = base.join(counts, on="session", how="left").join(secs, on="session", how="left").with_columns(
        pl.col("snapshots", "sequence_breaks", "resyncs", "crossed_states", "known_seconds").fill_null(0))
    return out.sort("session").select("session", "start", "end", "events", "snapshots", "sync_ts",
                                      "sequence_breaks", "resyncs", "known_seconds", "crossed_states")
