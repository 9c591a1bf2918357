"""The micro lane's steps: ticks in, books rebuilt, bars and features out.

Each step reads the lake, calls `quant/micro`, and writes whole partitions of
(venue, symbol, UTC day of the local clock):

1. `ingest_ticks`: a source's batch through the raw tick contract; valid rows written per
   partition, rejected and unparsable rows quarantined with their file, line and reason.
2. `build_books`: per (venue, symbol) stream, the book rebuilt from its deltas over the
   days asked for (a session that spans midnight keeps its book), the 1-second snapshots,
   the best bid/ask at every event, the stream's quality and its gaps.
3. `build_bars`: 1 s, 1 min, 5 min and volume bars from the rebuilt top of book (the venue's
   own top-of-book stream where no depth data exists) and the trades.
4. `build_features`: the intraday features of every stream, with the previous day as warm-up,
   the look-ahead check, and the daily roll-up the DVOL lane can join.

Nothing here decides anything: the rules live in `contracts/micro.py` and `quant/micro/`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.micro import MICRO_RAW_TABLES, PROVENANCE, validate_ticks
from dvol_pipeline.lake.catalog import table
from dvol_pipeline.lake.parquet import write_partitions
from dvol_pipeline.lake.quarantine import replace_tick_quarantine
from dvol_pipeline.pipeline.micro.units import build_book_day, build_features_day, feature_days
from dvol_pipeline.pipeline.micro import units
from dvol_pipeline.sources.micro.batch import TickBatch

Stream = tuple[str, str]
"""(venue, symbol)."""
GAP_MINUTES = 10.0
"""A hole longer than this in a stream is reported in `micro_gaps` (real depth archives have them)."""
UNPARSED = "raw_book_deltas"
"""Where lines no reader could parse are quarantined (under venue=<source>/symbol=unknown)."""
FEATURE_BARS = ("1m",)
"""The bar kinds `micro_features` is built for by default (1 s features are an option: ~10x the rows)."""
streams_in_lake = units.streams_in_lake
"""(venue, symbol) -> days with rows in the lake (units.py lists, the lane's callers look here)."""


@dataclass
class TickIngest:
    source: str
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_written: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)
    partitions: dict[str, list[tuple[str, str, date]]] = field(default_factory=dict)
    """Raw table -> the (venue, symbol, day) partitions written."""
    unparsed: int = 0
    files: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing_features: dict[str, str] = field(default_factory=dict)
    source_bars: int = 0

    @property
    def streams(self) -> dict[Stream, list[date]]:
        """Every (venue, symbol) with tick rows written, and its days, sorted."""
        days: dict[Stream, set[date]] = defaultdict(set)
        for parts in self.partitions.values():
            for venue, symbol, day in parts:
                days[(venue, symbol)].add(day)
        return {s: sorted(d) for s, d in sorted(days.items())}


def ingest_ticks(root: Path, batch: TickBatch) -> TickIngest:
    """Validate and write every raw tick table of `batch` (see the module docstring)."""
    out = TickIngest(batch.source, files=len(batch.files), notes=list(batch.notes),
                     refused=[(str(p), why) for p, why in batch.refused], missing_features=dict(batch.missing_features))
    for name, spec in MICRO_RAW_TABLES.items():
        frame = batch.tables.get(name)
        if frame is None or frame.is_empty():
            continue
        report = validate_ticks(spec, frame)
        out.rows_in[name] = frame.height
        out.duplicates[name] = report.duplicates
        out.quarantined[name] = report.rejected.height
        out.reasons[name] = report.reason_counts()
        written = write_partitions(root, table(name), report.valid) if report.valid.height else []
        out.rows_written[name] = sum(w.rows for w in written)
        parts = [(dict(w.key)["venue"], dict(w.key)["symbol"], dict(w.key)["date"]) for w in written]
        out.partitions[name] = parts
        replace_tick_quarantine(root, name, report.rejected, parts)
    unparsed = batch.tables.get("__rejected")
    if unparsed is not None and unparsed.height:
        out.unparsed = unparsed.height
        replace_tick_quarantine(root, UNPARSED, unparsed.with_columns(pl.lit(batch.source).alias("venue")), [])
    if batch.bars is not None and batch.bars.height:
        from dvol_pipeline.quant.micro.bars import COLUMNS, empty_bars

        # every micro_bars file has the same columns, whoever built it (a kline has no book: nulls)
        bars = pl.concat([empty_bars(), batch.bars.drop(PROVENANCE, strict=False)], how="diagonal_relaxed")
        written = write_partitions(root, table("micro_bars"), bars.select(COLUMNS))
        out.source_bars = sum(w.rows for w in written)
        out.partitions["micro_bars"] = [(dict(w.key)["venue"], dict(w.key)["symbol"], dict(w.key)["date"])
                                        for w in written]
    return out


def _merge(into: TickIngest, other: TickIngest) -> TickIngest:
    for field_name in ("rows_in", "rows_written", "quarantined", "duplicates"):
        total = getattr(into, field_name)
        for k, v in getattr(other, field_name).items():
            total[k] = total.get(k, 0) + v
    for k, v in other.reasons.items():
        merged = into.reasons.setdefault(k, {})
        for reason, n in v.items():
            merged[reason] = merged.get(reason, 0) + n
    for k, v in other.partitions.items():
        into.partitions[k] = [*into.partitions.get(k, []), *v]
    into.unparsed += other.unparsed
    into.files += other.files
    into.source_bars += other.source_bars
    into.refused += other.refused
    into.notes += other.notes
    into.missing_features.update(other.missing_features)
    return into


def ingest_range(root: Path, source: str, *, landing: Path | None, start: date | None, end: date | None,
                 seed: int = 0, coins: tuple[str, ...] = ("BTC", "ETH", "SOL"), intensity: float = 1.0) -> TickIngest:
    """`source`'s ticks for [start, end] through the contract into the lake. The simulated order book
    is simulated and written one day at a time (each day is its own session, so the rows are the
    same as one pass), which keeps a run's memory to one day's rows; a file source is read once (a
    recording's session spans two days' files)."""
    from dvol_pipeline.sources.micro.read import read_ticks

    if source != "simulated" or start is None or end is None:
        return ingest_ticks(root, read_ticks(source, landing=landing, start=start, end=end, seed=seed, coins=coins,
                                             intensity=intensity))
    out, carry = TickIngest(source), {}
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        batch = read_ticks(source, start=day, end=day, seed=seed, coins=coins, intensity=intensity)
        # a day's last events arrive after midnight (latency): they join the next day's partition, ahead of
        # its own rows, as in one pass, and a partition is still written once, whole
        tables = {name: pl.concat([carry[name], frame]) if name in carry else frame
                  for name, frame in batch.tables.items()}
        carry = {}
        if day < end:
            late = pl.col("ts_local").dt.date() > day
            carry = {name: frame.filter(late) for name, frame in tables.items() if frame.height}
            tables = {name: frame.filter(~late) for name, frame in tables.items()}
        batch.tables = tables
        out = _merge(out, ingest_ticks(root, batch))
    return out


@dataclass
class BookBuild:
    quality: pl.DataFrame
    gaps: pl.DataFrame
    bar_counts: pl.DataFrame
    """Rows per (venue, symbol, bar) written to micro_bars."""
    streams: list[Stream] = field(default_factory=list)
    no_depth: list[Stream] = field(default_factory=list)
    """Streams with trades or a top-of-book stream but no depth data: no book is rebuilt, bars come from
    the venue's own best bid/offer (where it has one) and the trades."""
    notes: list[str] = field(default_factory=list)


def _empty(name: str) -> pl.DataFrame:
    return table(name).empty()


def _concat(frames: list[pl.DataFrame], name: str) -> pl.DataFrame:
    frames = [f for f in frames if f.height]
    return pl.concat(frames, how="diagonal_relaxed") if frames else _empty(name)


def build_books(root: Path, streams: dict[Stream, list[date]], bars: tuple[str, ...] = ("1s", "1m", "5m"),
                volume_bars: bool = True, gap_minutes: float = GAP_MINUTES) -> BookBuild:
    """Every (venue, symbol, day) of `streams` as its own unit (`units.build_book_day`: the book replayed
    from the state at the day's start, its quality and gaps, the bars), one after the other: the same
    partitions a Dagster run writes with one step per unit, on any workers."""
    return collect_books([build_book_day(root, venue, symbol, day, bars, volume_bars, gap_minutes)
                          for (venue, symbol), days in streams.items() for day in days])


def collect_books(days: list) -> BookBuild:
    """The units' summaries (`units.BookDay`) as one BookBuild, in (venue, symbol, day) order."""
    days = sorted(days, key=lambda b: (b.venue, b.symbol, b.day))
    with_depth = {(b.venue, b.symbol) for b in days if b.depth}
    streams = sorted({(b.venue, b.symbol) for b in days})
    counts = pl.DataFrame([(b.venue, b.symbol, bar, n) for b in days for bar, n in b.bar_counts.items()],
                          schema={"venue": pl.Utf8, "symbol": pl.Utf8, "bar": pl.Utf8, "len": pl.UInt32}, orient="row")
    counts = counts.group_by("venue", "symbol", "bar").agg(pl.col("len").sum()).sort("venue", "symbol", "bar")
    return BookBuild(_concat([b.quality for b in days], "book_quality"), _concat([b.gaps for b in days], "micro_gaps"),
                     counts, [s for s in streams if s in with_depth], [s for s in streams if s not in with_depth],
                     [n for b in days for n in b.notes])


@dataclass
class FeatureBuild:
    rows: int
    """micro_features rows written."""
    daily_rows: int
    columns: int
    leak: object
    """A LeakReport over every day's sampled rows."""
    missing: dict[str, list[str]]
    """Stream 'venue/symbol' -> features its data could not support."""


def build_features(root: Path, first: date, last: date, bars: tuple[str, ...] = FEATURE_BARS) -> FeatureBuild:
    """micro_features and micro_daily for every day with bars in [first, last], each day built as its own
    unit (`units.build_features_day`: its bars with the previous day's as warm-up), so a day's rows are
    the same whatever range a run covers; the look-ahead check of every day."""
    days = feature_days(root, first, last)
    if not days:
        raise FileNotFoundError(f"micro_bars has no rows for {first}..{last} under {root}: build the bars first")
    return collect_features([build_features_day(root, day, bars) for day in days])


def collect_features(days: list) -> FeatureBuild:
    """The day units' summaries (`units.FeatureDay`) as one FeatureBuild (row counts, not rows)."""
    from dvol_pipeline.quant.micro.features.lookahead import LeakReport

    missing: dict[str, list[str]] = {}
    for d in days:
        for stream, gone in d.missing.items():
            missing[stream] = sorted(set(missing.get(stream, [])) | set(gone))
    failed = [d.violations for d in days if not d.leak_passed and d.violations is not None]
    leak = LeakReport(not failed, sum(d.leak_compared for d in days),
                      pl.concat(failed, how="diagonal_relaxed") if failed else pl.DataFrame())
    return FeatureBuild(sum(d.rows for d in days), sum(d.daily_rows for d in days),
                        max((d.columns for d in days), default=0), leak, missing)
