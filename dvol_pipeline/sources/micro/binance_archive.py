"""The `binance_archive` source: Binance public-data files (data.binance.vision) into the raw tick tables.

What it reads, from the archive's zips (read in memory, never extracted into landing) or their CSVs, in
the archive's layout or flat (`binance_archive_files`): `trades` and `aggTrades` -> `raw_trades`,
`bookTicker` -> `raw_top_of_book`, `fundingRate` (settlements) and `metrics` (open interest) ->
`raw_derivative_ticker`, 1-minute `klines` -> `TickBatch.bars` (`micro_bars` rows) for the symbol-days
that have no trades. `bookDepth` holds cumulative depth at ±1..5 % of the mid every ~30 s, not price
levels: no book can be rebuilt from it, so it is refused with that reason and `missing_features` says
which feature groups the lane cannot build without L2. The archive has no liquidations, no mark or index
ticks in these kinds, and only exchange clocks.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.micro import FILE, LINE
from dvol_pipeline.sources.micro.batch import TickBatch
from dvol_pipeline.sources.micro.binance_archive_bars import empty_bars, kline_bars
from dvol_pipeline.sources.micro.binance_archive_columns import CM, SPOT, UM
from dvol_pipeline.sources.micro.binance_archive_files import ArchiveFile, discover
from dvol_pipeline.sources.micro.binance_archive_notes import funding_notes, missing_features
from dvol_pipeline.sources.micro.binance_archive_read import (
    REJECTED_SCHEMA,
    content_markets,
    is_micros,
    named_fields,
    split_lines,
)
from dvol_pipeline.sources.micro.binance_archive_rows import (
    book_ticker,
    funding,
    infer_funding_interval,
    metrics,
    trades,
)

SOURCE = "binance_archive"
REJECTED = "__rejected"
"""`TickBatch.tables` key of the rows no parser could read (`__file`, `__line`, `reason`, `raw`)."""
_TIME_COLUMN = {"aggTrades": "transact_time", "trades": "time", "klines": "open_time", "bookTicker": "event_time",
                "fundingRate": "calc_time"}
_BOOK_DEPTH = ("bookDepth: percentage-depth snapshots (cumulative depth at ±1..5 % of the mid), not L2 price "
               "levels: no raw_book_deltas can be made from it")


_CLOCKS = ("clocks: the archive has exchange times only, so ts_local (the receive-time proxy) = ts_exchange for "
           "trades, funding and metrics; bookTicker: ts_exchange = transaction_time, ts_local = event_time (the "
           "push, the latest clock the file has); no collector skew can be measured from the archive")


def decide_market(file: ArchiveFile, markets: set[str]) -> tuple[str | None, str | None]:
    """(market, None) or (None, why not): the folder's market when the content allows it, else the content's."""
    if file.folder_market is not None:
        if file.folder_market not in markets:
            return None, f"folder says {file.folder_market}, content says {'/'.join(sorted(markets)) or 'no market'}"
        return file.folder_market, None
    if len(markets) == 1:
        return next(iter(markets)), None
    if file.kind == "bookTicker" and markets == {SPOT, UM}:
        return UM, None  # the archive publishes bookTicker for futures only
    if not markets:
        return None, "content fits no market (column count, header and symbol disagree)"
    return None, (f"a flat {file.kind} file cannot be told {' from '.join(sorted(markets))} by name and content: "
                  "put it under spot/ or um/ as the archive does")


def _utc_day(column: str) -> pl.Expr:
    return pl.col(column).dt.date()


def _in_range(frame: pl.DataFrame, day: pl.Expr, start: date | None, end: date | None) -> pl.DataFrame:
    if start is not None:
        frame = frame.filter(day >= start)
    if end is not None:
        frame = frame.filter(day <= end)
    return frame


def read_binance_archive(landing: Path, start: date | None = None, end: date | None = None) -> TickBatch:
    """Every Binance archive file under `landing` whose rows fall on a UTC day in [start, end] (None: open)."""
    found, refused = discover(Path(landing), start, end)
    parts: dict[str, list[pl.DataFrame]] = {"trades": [], "aggTrades": [], "bookTicker": [], "fundingRate": [],
                                            "metrics": [], "klines": []}
    rejected: list[pl.DataFrame] = []
    read: list[Path] = []
    stats: Counter[str] = Counter()
    for file in found:
        if file.kind == "bookDepth":
            refused.append((file.path, f"{file.label}: {_BOOK_DEPTH}"))
            continue
        lines = split_lines(file.read_bytes(), file.label)
        market, why = decide_market(file, content_markets(file.kind, file.symbol, lines))
        if market is None:
            refused.append((file.path, f"{file.label}: {why}"))
            continue
        if file.path not in read:
            read.append(file.path)
        stats["header" if lines.header is not None else "no_header"] += 1
        stats[f"market_{market}"] += 1
        fields, short = named_fields(lines, file.kind, market)
        rejected.append(short)
        if file.kind in _TIME_COLUMN:
            stats["micros"] += int(fields.select(is_micros(_TIME_COLUMN[file.kind]).sum()).item() or 0)
        if file.kind in ("trades", "aggTrades"):
            rows, bad = trades(fields, file.kind, market, file.symbol)
        elif file.kind == "bookTicker":
            rows, bad = book_ticker(fields, market, file.symbol)
        elif file.kind == "fundingRate":
            rows, bad = funding(fields, market, file.symbol)
        elif file.kind == "metrics":
            rows, bad = metrics(fields, market, file.symbol)
        else:
            rows, bad = kline_bars(fields, market, file.symbol)
        parts[file.kind].append(rows)
        rejected.append(bad)
    return _assemble(parts, rejected, read, refused, stats, start, end)


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame | None:
    return pl.concat(frames, how="vertical_relaxed") if frames else None


def _order(frame: pl.DataFrame, id_column: str | None, notes: list[str], table: str) -> pl.DataFrame:
    """Per stream in time order: the archive's rows are in the venue's id order, which need not be time order."""
    back = pl.col("ts_local") < pl.col("ts_local").cum_max().shift(1).over(FILE)
    unordered = int(frame.select(back.fill_null(False).sum()).item())
    if unordered:
        notes.append(f"{table}: {unordered} row(s) were out of time order in their file; sorted by time per stream "
                     "(stable; ties keep the venue's id order)")
    keys = ["venue", "symbol", "ts_local", *([id_column] if id_column else []), FILE, LINE]
    return frame.sort(keys, maintain_order=True)


def _assemble(parts: dict[str, list[pl.DataFrame]], rejected: list[pl.DataFrame], read: list[Path],
              refused: list[tuple[Path, str]], stats: Counter[str], start: date | None,
              end: date | None) -> TickBatch:
    notes = [_CLOCKS]
    notes.append(f"files: {stats['header']} with a header line, {stats['no_header']} without (a first cell that is "
                 "not a number is a header); values are read as Float64 whatever their spelling (42150, 26809.90, "
                 "1.0E-4)")
    if stats["micros"]:
        notes.append(f"{stats['micros']} row(s) had microsecond timestamps (spot files from 2025-01-01): every epoch "
                     "value is judged by its own magnitude (> 1e14: µs, > 1e17: ns, else ms)")
    if stats[f"market_{CM}"]:
        notes.append("COIN-M sizes converted from contracts (100 USD BTC, 10 USD others) to coins at the row's price; "
                     "COIN-M trades' base_qty used as is")
    tables: dict[str, pl.DataFrame] = {}
    trade_frames = {k: _concat(parts[k]) for k in ("trades", "aggTrades")}
    all_trades = [f.with_columns(pl.lit(k).alias("__kind")) for k, f in trade_frames.items() if f is not None]
    trade_days = None
    if all_trades:
        raw = _in_range(pl.concat(all_trades, how="vertical_relaxed"), _utc_day("ts_local"), start, end)
        raw = raw.with_columns(_utc_day("ts_local").alias("__day"))
        with_trades = raw.filter(pl.col("__kind") == "trades").select("venue", "symbol", "__day").unique()
        agg = raw.filter(pl.col("__kind") == "aggTrades").join(with_trades, on=["venue", "symbol", "__day"],
                                                                how="anti")
        dropped = raw.filter(pl.col("__kind") == "aggTrades").height - agg.height
        if dropped:
            notes.append(f"raw_trades: {dropped} aggTrades row(s) dropped on symbol-days that have a trades file "
                         "(every fill beats its aggregate; both would double count)")
        raw = pl.concat([raw.filter(pl.col("__kind") == "trades"), agg])
        trade_days = raw.select("venue", "symbol", "__day").unique()
        tables["raw_trades"] = _order(raw.drop("__kind", "__day"), "trade_id", notes, "raw_trades")
    book = _concat(parts["bookTicker"])
    if book is not None:
        book = _in_range(book, _utc_day("ts_local"), start, end)
        tables["raw_top_of_book"] = _order(book, "update_id", notes, "raw_top_of_book")
    fund, oi = _concat(parts["fundingRate"]), _concat(parts["metrics"])
    if fund is not None:
        fund = _in_range(fund, _utc_day("ts_local"), start, end)
        inferred = fund["funding_interval_hours"].null_count()
        fund = infer_funding_interval(fund)
        notes.extend(funding_notes(fund, inferred))
    ticker = [_in_range(f, _utc_day("ts_local"), start, end) for f in (fund, oi) if f is not None]
    if ticker:
        frame = pl.concat(ticker, how="vertical_relaxed")
        tables["raw_derivative_ticker"] = _order(frame, None, notes, "raw_derivative_ticker")
    bars = _bars(parts["klines"], trade_days, start, end, notes)
    rejects = [r for r in rejected if r.height]
    tables[REJECTED] = (pl.concat([r.select(list(REJECTED_SCHEMA)) for r in rejects])
                        if rejects else pl.DataFrame(schema=REJECTED_SCHEMA))
    if tables[REJECTED].height:
        notes.append(f"{tables[REJECTED].height} row(s) could not be parsed: tables['{REJECTED}'] has each with its "
                     "file, line, reason and text")
    return TickBatch(SOURCE, tables, read, refused, notes, bars, missing_features(tables, bars, refused))


def _bars(frames: list[pl.DataFrame], trade_days: pl.DataFrame | None, start: date | None, end: date | None,
          notes: list[str]) -> pl.DataFrame | None:
    if not frames:
        return None
    bars = pl.concat(frames, how="vertical_relaxed")
    day = (pl.col("ts") - pl.duration(minutes=1)).dt.date()  # the bar's own day is its open's
    bars = _in_range(bars, day, start, end).with_columns(day.alias("__day"))
    if trade_days is not None:
        kept = bars.join(trade_days, on=["venue", "symbol", "__day"], how="anti")
        if kept.height < bars.height:
            notes.append(f"micro_bars: {bars.height - kept.height} kline bar(s) skipped on symbol-days that have "
                         "trades (trades give finer bars: 1 s, volume bars, exact aggressor volume)")
        bars = kept
    before = bars.height
    bars = bars.unique(["venue", "symbol", "bar", "ts"], keep="first", maintain_order=True).sort(
        "venue", "symbol", "ts", maintain_order=True)
    if before > bars.height:
        notes.append(f"micro_bars: {before - bars.height} duplicate kline bar(s) (daily and monthly files) removed")
    if bars.height:
        notes.append(f"micro_bars: {bars.height} 1-minute bar(s) from klines alone (book columns, ofi, spread and "
                     "depth null: a kline has no book)")
    return bars.drop("__day") if bars.height else empty_bars()
