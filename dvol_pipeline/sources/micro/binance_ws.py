"""`binance_ws`: raw Binance websocket recordings (one `<local timestamp> <JSON>` per line) -> `TickBatch`.

What this importer decides, per file (each decision becomes a line of `TickBatch.notes`):
- the local clock's unit (ns, µs or ms) from the magnitude of the file's timestamps;
- the venue from the enclosing `spot`/`usdm`/`cm` folder and from the messages; a file whose
  folder and content disagree, or whose content mixes markets, is refused by name; a flat file
  without evidence in its messages is refused (its venue would be a guess);
- the symbol of a REST snapshot line, which carries none on spot and USDⓈ-M: (1) COIN-M
  snapshots name it (`symbol`); (2) else the file's only symbol; (3) else the one symbol of the
  file that its file name contains; otherwise the file is refused (a snapshot under the wrong
  symbol would rebuild a wrong book);
- COIN-M contract sizes become coins at each row's price (`binance_venues.to_coins`).

Files of one venue are emitted in time order (of their first local timestamp), each in arrival
order: a session cut at midnight on the local clock continues in the next day's file. Nothing is
reordered within a file, snapshots are kept where they arrived (after the first diffs, as Binance's
protocol has it), and the book rebuild applies the sync rule from the update ids kept here.
Malformed lines never stop a read: they go to `tables["__rejected"]` (`__file`, `__line`, `reason`,
`raw`) for the lead's quarantine and are counted in the notes.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.micro import FILE, LINE, MICRO_RAW_TABLES
from dvol_pipeline.sources.micro.batch import TickBatch
from dvol_pipeline.sources.micro.binance_venues import content_venue, folder_venue, to_coins
from dvol_pipeline.sources.micro.binance_ws_fast import merge_by_line, parse_bytes, parse_text, read_bytes
from dvol_pipeline.sources.micro.binance_ws_lines import csv_lines, read_text
from dvol_pipeline.sources.micro.binance_ws_parse import KINDS, Parsed

SOURCE = "binance_ws"
REJECTED = "__rejected"
NOT_RECORDINGS = (".zip", ".csv", ".csv.gz", ".parquet", ".md", ".json.meta")
REJECTED_SCHEMA = {FILE: pl.Utf8, LINE: pl.Int64, "reason": pl.Utf8, "raw": pl.Utf8}


@dataclass
class FileRead:
    """One file's outcome: its rows per table, its rejected lines, notes, or the reason it was refused."""

    path: Path
    rel: str
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    rejected: pl.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    refused: str | None = None
    venue: str | None = None
    first_ts: object = None


def read_binance_ws(landing: Path, start: date | None = None, end: date | None = None, fast: bool = True) -> TickBatch:
    """Every Binance websocket recording under `landing` as raw tick tables (rows on UTC days start..end
    of the local clock, both inclusive; None leaves that side open).

    `fast=False` reads every line with polars' JSON decoder instead of the numba tokenizer first: the same
    tables, 5-10x slower; it is the reference the fast path is tested and benchmarked against."""
    landing = Path(landing)
    paths = sorted(p for p in landing.rglob("*") if p.is_file() and _is_recording(p))
    reads = [_read_file(p, landing, fast) for p in paths]
    ok = [r for r in reads if r.refused is None]
    ok.sort(key=lambda r: (r.venue or "", r.first_ts is None, r.first_ts or 0, r.rel))
    batch = TickBatch(SOURCE, files=[r.path for r in ok], refused=[(r.path, r.refused) for r in reads if r.refused])
    names = [n for n in MICRO_RAW_TABLES if any(n in r.tables for r in ok)]
    in_range = _day_filter(start, end)
    for name in names:
        frames = [r.tables[name] for r in ok if name in r.tables]
        batch.tables[name] = pl.concat(frames).filter(in_range)
    rejected = [r.rejected for r in ok if r.rejected is not None and r.rejected.height]
    rejected_frame = pl.concat(rejected) if rejected else pl.DataFrame(schema=REJECTED_SCHEMA)
    batch.tables[REJECTED] = rejected_frame
    for r in ok:
        batch.notes.extend(r.notes)
    batch.notes.extend(_stream_notes(batch.tables.get("raw_book_deltas"), ok))
    if rejected_frame.height:
        counts = Counter(rejected_frame["reason"].to_list())
        batch.notes.append(f"{rejected_frame.height} line(s) rejected (tables['{REJECTED}']): "
                           + "; ".join(f"{why}: {n}" for why, n in counts.most_common()))
    if "raw_book_deltas" not in batch.tables:
        batch.missing_features["book"] = "no depth diffs in the recordings: no L2 book, no OFI"
    return batch


def _is_recording(path: Path) -> bool:
    name = path.name.lower()
    return not name.startswith(".") and not name.endswith(NOT_RECORDINGS)


def _day_filter(start: date | None, end: date | None) -> pl.Expr:
    day = pl.col("ts_local").dt.date()
    keep = pl.lit(True)
    if start is not None:
        keep = keep & (day >= start)
    if end is not None:
        keep = keep & (day <= end)
    return keep


def _read_file(path: Path, landing: Path, fast: bool = True) -> FileRead:
    rel = path.relative_to(landing).as_posix()
    out = FileRead(path, rel)
    try:
        if fast:
            data, torn = read_bytes(path)
            file = parse_bytes(data)
            if file is None:  # the two readers would cut the lines differently: all of it on the polars path
                file = parse_text(csv_lines(data) if data else pl.Series("text", [], pl.Utf8))
        else:
            text, torn = read_text(path)
            file = parse_text(text)
    except (OSError, EOFError, zlib.error, pl.exceptions.PolarsError) as exc:  # an unreadable file
        out.refused = f"cannot read the file: {exc}"
        return out
    if torn:
        out.notes.append(f"{rel}: {torn}")
    frame, parsed = file.slow, file.parsed
    valid = frame.filter(pl.col("bad").is_null())
    n_rows = sum(p.rows.height for p in parsed.values())
    if file.n_lines and not n_rows:
        out.refused = (f"no readable Binance message in {file.n_lines} line(s) "
                       f"(first problem: {frame['bad'].drop_nulls().head(1).to_list() or ['unknown stream kinds']})")
        return out
    evidence: Counter[str] = Counter()
    for p in parsed.values():
        evidence.update(p.evidence)
    symbols = sorted({s for p in parsed.values() for s in p.rows["symbol"].drop_nulls().unique().to_list()})
    venue, why = _decide_venue(rel, dict(evidence), symbols)
    if venue is None:
        out.refused = why
        return out
    out.venue = venue
    snap_symbol = _snapshot_symbol(path, parsed, symbols)
    if isinstance(snap_symbol, tuple):
        out.refused = snap_symbol[0]
        return out
    out.first_ts = file.first_ts
    out.notes.append(f"{rel}: {why}; local clock in {file.unit} (decided from the timestamps' magnitude); "
                     f"{file.n_lines} line(s)")
    if snap_symbol:
        out.notes.append(f"{rel}: snapshot line(s) without a symbol assigned to {snap_symbol}")
    out.tables = _tables(parsed, venue, rel, snap_symbol)
    out.notes.extend(_file_notes(rel, venue, parsed, valid))
    out.rejected = _rejected(rel, frame, parsed, file.raw_text)
    return out


def _decide_venue(rel: str, evidence: dict[str, int], symbols: list[str]) -> tuple[str | None, str]:
    """(venue, the decision in words) or (None, why the file is refused)."""
    folder = folder_venue(Path(rel))
    content, words = content_venue(evidence, symbols)
    if words.startswith("conflict"):
        return None, f"content is not one venue ({words})"
    if folder and content and folder != content:
        return None, (f"folder says {folder} ({Path(rel).parent.as_posix()}/) but the messages say {content} "
                      f"({words})")
    if folder is None and content is None:
        return None, "flat file and no venue evidence in its messages (which market it is would be a guess)"
    venue = folder or content
    source = f"folder {Path(rel).parent.as_posix()}/" if folder else "flat file"
    return venue, f"venue {venue} ({source}; messages: {words})"


def _snapshot_symbol(path: Path, parsed: dict[str, Parsed], symbols: list[str]) -> str | None | tuple[str]:
    """The symbol for snapshot rows without one; None when none is needed; (reason,) when undecidable."""
    snap = parsed.get("snapshot")
    if snap is None or snap.rows["symbol"].null_count() == 0:
        return None
    if len(symbols) == 1:
        return symbols[0]
    named = [s for s in symbols if s.lower() in path.name.lower()]
    if len(named) == 1:
        return named[0]
    return (f"snapshot line(s) carry no symbol and the file holds symbols {symbols} "
            f"of which its name {path.name!r} names {named or 'none'}: which book they belong to is ambiguous",)


def _tables(parsed: dict[str, Parsed], venue: str, rel: str, snap_symbol: str | None) -> dict[str, pl.DataFrame]:
    by_table: dict[str, list[pl.DataFrame]] = {}
    for p in parsed.values():
        if p.rows.height:
            by_table.setdefault(p.table, []).append(p.rows)
    tables = {}
    for name, frames in by_table.items():
        spec = MICRO_RAW_TABLES[name]
        cols = [c.name for c in spec.columns]
        frames = [f.with_columns(venue=pl.lit(venue), **{FILE: pl.lit(rel)})
                  .select(*(pl.col(c.name).cast(c.dtype) for c in spec.columns), FILE, LINE) for f in frames]
        rows = frames[0]
        for other in frames[1:]:  # a diff and a snapshot, a trade and an aggTrade: merged back to arrival order
            rows = merge_by_line(rows, other)
        if snap_symbol:
            rows = rows.with_columns(symbol=pl.col("symbol").fill_null(snap_symbol))
        if venue == "binance_cm":
            rows = to_coins(name, rows)
        tables[name] = rows.select(*cols, FILE, LINE)
    return tables


def _file_notes(rel: str, venue: str, parsed: dict[str, Parsed], valid: pl.DataFrame) -> list[str]:
    notes = []
    if venue == "binance_cm":
        notes.append(f"{rel}: COIN-M sizes converted from contracts to coins at each row's price "
                     "(100 USD a contract for BTC, 10 USD for the others; depth, snapshots, trades, "
                     "liquidations, bookTicker); trade notional = contracts x contract USD")
    if venue == "binance_spot" and "bookTicker" in parsed:
        notes.append(f"{rel}: spot bookTicker carries no exchange time: ts_exchange is null on its rows")
    for p in parsed.values():
        for what, n in p.dropped.items():
            notes.append(f"{rel}: {n} {what} not emitted")
    others = valid.filter(~pl.col("kind").is_in([*KINDS, "reply"]))
    if others.height:
        counts = others.group_by("kind").len().sort("kind")
        listed = ", ".join(f"{k} ({n})" for k, n in counts.iter_rows())
        notes.append(f"{rel}: streams not imported (not diffs, trades, tickers, mark prices or liquidations): {listed}")
    return notes


def _rejected(rel: str, frame: pl.DataFrame, parsed: dict[str, Parsed],
              raw_text: Callable[[pl.Series], pl.Series]) -> pl.DataFrame:
    bad_lines = frame.filter(pl.col("bad").is_not_null()).select(LINE, reason="bad")
    parts = [bad_lines, *(p.rejected for p in parsed.values())]
    rej = pl.concat(parts).sort(LINE, maintain_order=True)
    if rej.is_empty():
        return pl.DataFrame(schema=REJECTED_SCHEMA)
    raw = raw_text(rej[LINE])
    return rej.select(pl.lit(rel).alias(FILE), LINE, "reason", raw=raw)


def _stream_notes(deltas: pl.DataFrame | None, reads: list[FileRead]) -> list[str]:
    """Per venue and symbol: the files a session spans, and whether any snapshot can start a book."""
    if deltas is None or deltas.is_empty():
        return []
    # One row a message (its levels share every column asked here): the group-by reads a tenth of the rows.
    first = (pl.col(LINE) != pl.col(LINE).shift(1)).fill_null(True) | (pl.col(FILE) != pl.col(FILE).shift(1))
    deltas = deltas.select("venue", "symbol", FILE, "update_id", "is_snapshot", LINE).filter(first.fill_null(True))
    per = (deltas.group_by("venue", "symbol", maintain_order=True)
           .agg(files=pl.col(FILE).unique(maintain_order=True),
                diffs=pl.col("update_id").filter(~pl.col("is_snapshot")).n_unique(),
                snapshots=pl.col("update_id").filter(pl.col("is_snapshot")).n_unique()))
    notes = []
    for venue, symbol, files, diffs, snapshots in per.iter_rows():
        if len(files) > 1:
            notes.append(f"{venue} {symbol}: {len(files)} files concatenated in local-time order: {', '.join(files)}")
        if snapshots == 0:
            notes.append(f"{venue} {symbol}: no snapshot: no book can be rebuilt ({diffs} depth diff message(s))")
        else:
            notes.append(f"{venue} {symbol}: {snapshots} snapshot(s) among {diffs} depth diff message(s); the "
                         "rebuild syncs on them by update id")
    return notes
