"""The micro lane's units of work: one (venue, symbol, day) book, one day's features.

Why units: a backfill of a year of ticks is thousands of partitions, and an executor (celery,
Kubernetes) may place each on any worker. A unit reads everything it needs from the lake, writes
only its own partitions through the lake's atomic writes (`write_partitions`: whole files renamed
into place), and returns a small picklable summary; nothing is left in memory, caches or temp files
for another unit. A day's output is the same whether its unit runs alone, after the day before,
or inside a pass over a range:

- Books: the day's unit replays the stream from the last snapshot before the day (with the minute
  of diffs before it that a client buffers), or from the start of the session live then when that is
  later (a collector restart resets the book), so its book at midnight is the one a pass over every
  day holds, wherever the venue's snapshot agrees with the diffs it follows. The replay starts at
  least `WIDEST_BAR` before midnight, so the bars closing in the first minutes of the day see the
  data of the day before. Rows are kept by their own day: book_top and the quality by `ts_local`,
  snapshots and bars by their grid or close time `ts`.
- Volume bars are defined per (venue, symbol, day): the size from the day's volume, the count of
  traded volume restarting at the day's first trade (the unfinished last bar of the day is dropped).
- Gaps are found by the unit of the day they end in, from the stream's last row before the day.
- Features: a day's features are built from its bars and the previous day's as warm-up (windows,
  recursive smoothers and the VPIN bucket size start at the previous day's first bar), for every
  stream at once: the cross-stream features (BTC against the alts, the spot-perp basis) need the
  day's other streams.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from dvol_pipeline.contracts.micro import MICRO_RAW_TABLES
from dvol_pipeline.lake.catalog import table
from dvol_pipeline.lake.parquet import read_table_or_none, write_partitions

Stream = tuple[str, str]

Unit = tuple[str, str, date]
"""(venue, symbol, day): the book step's unit."""
_DAY_NS = 86_400 * 10**9


@dataclass
class BookDay:
    """What one (venue, symbol, day) unit built: small, picklable (it travels to the collect step)."""

    venue: str
    symbol: str
    day: date
    quality: pl.DataFrame
    gaps: pl.DataFrame
    bar_counts: dict[str, int] = field(default_factory=dict)
    depth: bool = False
    """Whether the stream had depth data to rebuild (else bars from the venue's own top of book)."""
    notes: list[str] = field(default_factory=list)


def _ns(t: datetime) -> int:
    return int(t.timestamp()) * 10**9


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _days(root: Path, stream: tuple[str, str], before: date) -> list[date]:
    """The stream's days with raw rows before `before`, latest first (folder listings only)."""
    return sorted(streams_in_lake(root, date.min, before - timedelta(days=1)).get(stream, []), reverse=True)


def _read(root: Path, name: str, stream: tuple[str, str], first: date, last: date) -> pl.DataFrame | None:
    frame = read_table_or_none(root, name, first, last, where={"venue": [stream[0]], "symbol": [stream[1]]})
    return frame if frame is not None and frame.height else None


def replay_start(deltas: pl.DataFrame, cut_ns: int, gap_ns: int) -> int | None:
    """The instant from which a replay of `deltas` (rows before midnight, a suffix of the stream in arrival
    order) holds, at `cut_ns`, the book a replay from the stream's first row holds: the later of the start
    of the last session begun at or before the cut (a restart resets the book: exact) and `gap_ns` before the
    last snapshot at or before the cut (a client's buffer of diffs: the snapshot re-syncs the book). None:
    neither is in `deltas` (read a day further back)."""
    ts = deltas["ts_local"].cast(pl.Int64).to_numpy()
    starts = np.flatnonzero(np.diff(ts) > gap_ns) + 1
    starts = ts[starts][ts[starts] <= cut_ns]
    snaps = ts[deltas["is_snapshot"].fill_null(False).to_numpy() & (ts <= cut_ns)]
    found = ([int(starts[-1])] if starts.size else []) + ([int(snaps.max()) - gap_ns] if snaps.size else [])
    return max(found) if found else None


def _before(root: Path, stream: tuple[str, str], day: date, cut_ns: int, gap_ns: int
            ) -> tuple[int | None, dict[str, pl.DataFrame | None]]:
    """The replay's start and the raw rows of the days before `day` it needs (the previous day's at
    least, for the gaps that end on the day): a day further back while no start is found."""
    prior = _days(root, stream, day)
    if not prior:
        return None, {}
    for k in range(len(prior)):
        frames = {name: _read(root, name, stream, prior[k], prior[0]) for name in MICRO_RAW_TABLES}
        deltas = frames.get("raw_book_deltas")
        if deltas is None:
            return None, frames  # no depth data before the day: nothing to replay
        start = replay_start(deltas, cut_ns, gap_ns)
        if start is not None:
            return start, frames
    return int(deltas["ts_local"].cast(pl.Int64).min()), frames  # the stream's first row: a replay from the start


def _since(frame: pl.DataFrame | None, start_ns: int | None) -> pl.DataFrame | None:
    if frame is None or start_ns is None:
        return None
    out = frame.filter(pl.col("ts_local").cast(pl.Int64) >= start_ns)
    return out if out.height else None


def _join(before: pl.DataFrame | None, today: pl.DataFrame | None) -> pl.DataFrame | None:
    parts = [f for f in (before, today) if f is not None and f.height]
    return pl.concat(parts, how="diagonal_relaxed") if parts else None


def _on(frame: pl.DataFrame, column: str, day: date) -> pl.DataFrame:
    return frame.filter(pl.col(column).dt.date() == day)


def _per_day_segments(top: pl.DataFrame) -> pl.DataFrame:
    """book_top's `segment` numbered from 0 within the day (a replay's own count depends on where it began)."""
    return top.with_columns((pl.col("segment").rank("dense") - 1).cast(pl.Int64).alias("segment"))


def _last_tob_start(tob: pl.DataFrame | None, cut_ns: int) -> int | None:
    """A stream without depth data: its own top of book from the last row at or before the cut."""
    if tob is None:
        return None
    ts = tob["ts_local"].cast(pl.Int64)
    before = ts.filter(ts <= cut_ns)
    return int(before.max()) if before.len() else None


def build_book_day(root: Path, venue: str, symbol: str, day: date, bars: tuple[str, ...] = ("1s", "1m", "5m"),
                   volume_bars: bool = True, gap_minutes: float = 10.0) -> BookDay:
    """One (venue, symbol, day) unit (see the module docstring): book_top, book_snapshots, book_quality,
    micro_gaps and micro_bars for that day, written whole."""
    from dvol_pipeline.quant.micro.bars import WIDTHS, time_bars, volume_bar_size
    from dvol_pipeline.quant.micro.bars import volume_bars as make_volume_bars
    from dvol_pipeline.quant.micro.book import SESSION_GAP, rebuild_book
    from dvol_pipeline.quant.micro.quality import book_quality, find_gaps

    stream = (venue, symbol)
    gap_ns = SESSION_GAP // timedelta(microseconds=1) * 1000
    cut_ns = _ns(_midnight(day)) - max(WIDTHS.values()) // timedelta(microseconds=1) * 1000
    today = {name: _read(root, name, stream, day, day) for name in MICRO_RAW_TABLES}
    start, before = _before(root, stream, day, cut_ns, gap_ns)
    out = BookDay(venue, symbol, day, table("book_quality").empty(), table("micro_gaps").empty())
    gaps = []
    for name in ("raw_book_deltas", "raw_top_of_book", "raw_trades"):
        last = before.get(name)
        frame = _join(last.tail(1) if last is not None else None, today[name])
        if frame is not None:
            gaps.append(_on(find_gaps(frame, name, timedelta(minutes=gap_minutes)), "gap_end", day))
    deltas_today = today["raw_book_deltas"]
    if deltas_today is None or start is None:  # no book to replay from before the day: the rows since the cut
        start = _last_tob_start(before.get("raw_top_of_book"), cut_ns) or cut_ns
    trades = _join(_since(before.get("raw_trades"), start), today["raw_trades"])
    trades = trades if trades is not None else table("raw_trades").empty()
    tob = _join(_since(before.get("raw_top_of_book"), start), today["raw_top_of_book"])
    if deltas_today is not None:
        deltas = _join(_since(before.get("raw_book_deltas"), start), deltas_today)
        book = rebuild_book(deltas, end=_midnight(day + timedelta(days=1)))
        out.quality = _on(book_quality(book, deltas, tob, trades), "date", day)
        top, snapshots, known = book.top, book.snapshots, book.known
        written = {"book_top": _per_day_segments(_on(top, "ts_local", day)),
                   "book_snapshots": _on(snapshots, "ts", day), "book_quality": out.quality}
        for name, frame in written.items():
            if frame.height:
                write_partitions(root, table(name), frame)
        out.depth, out.notes = True, [f"{venue}/{symbol} {day}: {n}" for n in book.notes]
    else:
        top, snapshots, known = (tob if tob is not None else table("raw_top_of_book").empty()), None, None
    out.gaps = pl.concat(gaps, how="diagonal_relaxed") if gaps else out.gaps
    if out.gaps.height:
        write_partitions(root, table("micro_gaps"), out.gaps)
    if top.is_empty() and trades.is_empty():
        return out
    frames = [_on(time_bars(top, trades, snapshots, bar, known), "ts", day) for bar in bars]
    day_trades = _on(trades, "ts_local", day)
    size = volume_bar_size(day_trades) if volume_bars else None
    if size is not None:
        frames.append(_on(make_volume_bars(top, day_trades, size, snapshots, known), "ts", day))
    frames = [f for f in frames if f.height]
    if frames:
        bars_frame = pl.concat(frames, how="diagonal_relaxed")
        write_partitions(root, table("micro_bars"), bars_frame)
        out.bar_counts = dict(bars_frame.group_by("bar").len().sort("bar").iter_rows())
    return out


def book_units(root: Path, first: date, last: date) -> list[Unit]:
    """Every (venue, symbol, day) with raw tick rows in [first, last] (folder listings only)."""
    return [(v, s, d) for (v, s), days in streams_in_lake(root, first, last).items() for d in days]


def unit_key(unit: Unit) -> str:
    """A Dagster mapping key (letters, digits, underscores) naming the unit."""
    venue, symbol, day = unit
    return "_".join(("".join(c if c.isalnum() else "_" for c in part) for part in (venue, symbol, day.strftime("%Y%m%d"))))


@dataclass
class FeatureDay:
    """What one day's feature unit built (small, picklable)."""

    day: date
    rows: int
    daily_rows: int
    columns: int
    leak_passed: bool
    leak_compared: int
    violations: pl.DataFrame | None
    missing: dict[str, list[str]] = field(default_factory=dict)


def feature_days(root: Path, first: date, last: date) -> list[date]:
    """The days with micro_bars in [first, last] (folder listings only)."""
    return sorted({d for days in streams_in_lake(root, first, last, ("micro_bars",)).values() for d in days})


def build_features_day(root: Path, day: date, bars: tuple[str, ...] = ("1m",)) -> FeatureDay:
    """micro_features and micro_daily of `day` (every stream), with the previous day's bars as warm-up."""
    features, daily, leak, missing = features_of_days(root, day, day, bars, warmup_days=1)
    return FeatureDay(day, features.height, daily.height, len(features.columns),
                      bool(leak.passed) if leak is not None else True, int(leak.n_compared) if leak is not None else 0,
                      leak.violations if leak is not None and not leak.passed else None, missing)


def streams_in_lake(root: Path, first: date, last: date, tables: tuple[str, ...] = tuple(MICRO_RAW_TABLES)
                    ) -> dict[Stream, list[date]]:
    """(venue, symbol) -> days with rows in any of `tables` within [first, last] (folder listings only)."""
    days: dict[Stream, set[date]] = defaultdict(set)
    for name in tables:
        for keys, _ in table(name).partitions(root, first, last, with_file=True):
            days[(keys["venue"], keys["symbol"])].add(date.fromisoformat(keys["date"]))
    return {s: sorted(d) for s, d in sorted(days.items())}


def features_of_days(root: Path, first: date, last: date, bars: tuple[str, ...] = ("1m",),
                     warmup_days: int = 1) -> tuple[pl.DataFrame, pl.DataFrame, object, dict[str, list[str]]]:
    """micro_features for bars closing in [first, last] (the days before as warm-up, not written),
    the look-ahead check on sampled rows, and micro_daily: (features, daily, leak, missing)."""
    from dvol_pipeline.quant.micro.features import build_features as features_of
    from dvol_pipeline.quant.micro.features import daily_rollup, lookahead_check, missing_features

    warm = first - timedelta(days=warmup_days)
    all_bars = read_table_or_none(root, "micro_bars", warm, last)
    ticker = read_table_or_none(root, "raw_derivative_ticker", warm, last)
    liquidations = read_table_or_none(root, "raw_liquidations", warm, last)
    if all_bars is None or all_bars.is_empty():
        raise FileNotFoundError(f"micro_bars has no rows for {warm}..{last} under {root}: build the bars first")
    outs, leaks, missing = [], [], {}
    for bar in bars:
        of_bar = all_bars.filter(pl.col("bar") == bar)
        if of_bar.is_empty():
            continue
        built = features_of(of_bar, ticker, liquidations, bar=bar)
        day = pl.col("ts").dt.date()
        built = built.filter((day >= first) & (day <= last))
        outs.append(built)
        leaks.append(lookahead_check(of_bar, ticker, liquidations, bar=bar))
        for (venue, symbol), rows in of_bar.partition_by("venue", "symbol", as_dict=True).items():
            missing[f"{venue}/{symbol}"] = missing_features(rows)
    features = pl.concat(outs, how="diagonal_relaxed") if outs else table("micro_features").empty()
    if features.height:
        write_partitions(root, table("micro_features"), features)
    daily = daily_rollup(features) if features.height else table("micro_daily").empty()
    # the roll-up dates a bar by its interval ((ts - 1 ns)'s day): the bar closing at the range's first midnight
    # rolls into the day before, which another unit owns; leave it out so a unit writes its own days only
    daily = daily.filter((pl.col("date") >= first) & (pl.col("date") <= last))
    if daily.height:
        write_partitions(root, table("micro_daily"), daily)
    leak = next((lk for lk in leaks if not lk.passed), leaks[0] if leaks else None)
    return features, daily, leak, missing
