"""An archive CSV's text into named string columns, its header (if any) found, short rows rejected.

Why by hand and not `pl.read_csv`: the archive mixes files with and without a header line, a malformed
row must land in the quarantine with its own line number and text instead of stopping the read, and a
row of the wrong width must not shift the columns of the rows after it. The text is split into lines
once (C speed), every further step is a polars expression over the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from dvol_pipeline.contracts.micro import FILE, LINE
from dvol_pipeline.sources.micro.binance_archive_columns import (
    CM,
    COLUMNS,
    FUTURES_ONLY,
    HEADER_ALIASES,
    REQUIRED,
    SPOT,
    UM,
)

RAW = "__raw"
"""The row's text, kept for the quarantine."""
REJECTED_SCHEMA = {FILE: pl.Utf8, LINE: pl.Int64, "reason": pl.Utf8, "raw": pl.Utf8}
MICROS_FROM = 10**14
"""Epoch values above this are microseconds (ms stamps are ~1.7e12 today, µs ~1.7e15): spot files switched
from ms to µs on 2025-01-01, so each value is judged by its own magnitude, never by the file's date."""
NANOS_FROM = 10**17


@dataclass
class Lines:
    """A file's non-blank lines: provenance, raw text, and the header's fields if its first line is one."""

    frame: pl.DataFrame
    header: list[str] | None


def _line_frame(data: bytes) -> pl.DataFrame:
    """One string column, one row per line (blank lines kept as null, so the row index is the line number)."""
    try:  # polars' reader splits lines in Rust; the unit separator never occurs in the archive's CSV
        return pl.read_csv(data, has_header=False, separator="\x1f", quote_char=None, new_columns=[RAW],
                           infer_schema=False, encoding="utf8-lossy")
    except (pl.exceptions.PolarsError, ValueError):  # an empty file, or one that holds the separator
        text = data.decode("utf-8", errors="replace")
        return pl.DataFrame({RAW: [line.rstrip("\r") for line in text.split("\n")]})


def split_lines(data: bytes, label: str) -> Lines:
    """Lines of `data` with 1-based line numbers; a first line whose first cell is not a number is a header."""
    lines = _line_frame(data).with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64))
    lines = lines.filter(pl.col(RAW).str.strip_chars() != "").with_columns(pl.lit(label).alias(FILE))
    header = None
    if lines.height:
        first = lines[RAW][0]
        cell = first.split(",")[0].strip().strip('"')
        if not _is_number(cell):
            header = [c.strip().strip('"') for c in first.split(",")]
            lines = lines.slice(1)
    return Lines(lines.select(FILE, LINE, RAW), header)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def field_count(lines: Lines) -> int | None:
    """The most common number of fields of the file's first 1000 rows (None: no rows)."""
    if lines.frame.is_empty():
        return None
    counts = lines.frame.head(1000).select((pl.col(RAW).str.count_matches(",", literal=True) + 1).alias("n"))["n"]
    return int(counts.mode().sort()[0])


def first_epoch(lines: Lines, position: int) -> int | None:
    """The first row's value at `position` as an integer (the file's first timestamp), None if not one."""
    if lines.frame.is_empty():
        return None
    cells = lines.frame[RAW][0].split(",")
    try:
        return int(cells[position])
    except (IndexError, ValueError):
        return None


def _header_market(header: list[str] | None) -> set[str]:
    names = set(header or ())
    if names & set(HEADER_ALIASES["base_qty"]):
        return {CM}
    if names & set(HEADER_ALIASES["quote_qty"]):
        return {SPOT, UM}
    return {SPOT, UM, CM}


def is_coin_m_symbol(symbol: str) -> bool:
    """COIN-M symbols are `<COIN>USD_PERP` or `<COIN>USD_<YYMMDD>`; USD-M delivery ones are `<COIN>USDT_<YYMMDD>`."""
    pair, _, suffix = symbol.partition("_")
    return bool(suffix) and pair.endswith("USD")


def content_markets(kind: str, symbol: str, lines: Lines) -> set[str]:
    """The markets the file's name and content allow.

    The rules (the README's column orders and the archive's habits): a COIN-M symbol is COIN-M and nothing
    else; futures-only kinds are not spot; spot `aggTrades` and `trades` have one more column (the
    best-match flag) than the futures ones; futures files of 2022 on carry a header, spot files never do;
    spot timestamps are microseconds from 2025 on, futures ones stay milliseconds.
    """
    markets = {CM} if is_coin_m_symbol(symbol) else {SPOT, UM}
    if kind in FUTURES_ONLY:
        markets -= {SPOT}
    n = field_count(lines)
    if kind == "aggTrades" and n is not None:
        markets &= {SPOT} if n >= 8 else {UM, CM}
    elif kind == "trades" and n is not None:
        markets &= {SPOT} if n >= 7 else {UM, CM}
        markets &= _header_market(lines.header) | ({SPOT} if n >= 7 else set())
    elif kind in ("klines", "bookTicker"):
        if lines.header is not None:
            markets -= {SPOT}
        ts = first_epoch(lines, 0 if kind == "klines" else 5)
        if ts is not None and ts > MICROS_FROM:
            markets &= {SPOT}
    return markets


def named_fields(lines: Lines, kind: str, market: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows as string columns named as in `COLUMNS`, rows too short for the kind's required columns).

    With a header whose names cover the required columns, columns are found by name; else by position.
    """
    columns = COLUMNS[(kind, market)]
    position = {name: i for i, name in enumerate(columns)}
    if lines.header is not None:
        by_name = {}
        for i, h in enumerate(lines.header):
            canonical = next((c for c, alias in HEADER_ALIASES.items() if h in alias), h)
            by_name.setdefault(canonical, i)
        if all(c in by_name for c in REQUIRED[kind]):
            position = {c: by_name[c] for c in columns if c in by_name}
    need = max(position[c] for c in REQUIRED[kind]) + 1
    width = max(position.values())
    # one split per row; cells are taken as written (the archive writes no spaces or quotes: a cell that has
    # them fails its parser and the row is quarantined, never silently altered)
    cells = lines.frame.select(pl.col(RAW).str.split_exact(",", width).alias("__cells")).unnest("__cells")
    frame = lines.frame.hstack(cells.select(pl.col(f"field_{i}").alias(name) for name, i in position.items()))
    short = pl.col(next(name for name, i in position.items() if i == need - 1)).is_null()
    n_fields = pl.col(RAW).str.count_matches(",", literal=True) + 1
    rejected = frame.filter(short).select(
        FILE, LINE, pl.format("expected at least {} fields, got {}", pl.lit(need), n_fields).alias("reason"),
        pl.col(RAW).alias("raw"))
    return frame.filter(~short).select(FILE, LINE, RAW, *position), rejected


def epoch_ns(column: str) -> pl.Expr:
    """An epoch integer in ms, µs or ns (judged per value by magnitude) as a UTC nanosecond datetime."""
    v = pl.col(column).cast(pl.Int64, strict=False)
    ns = (pl.when(v > NANOS_FROM).then(v).when(v > MICROS_FROM).then(v * 1_000).otherwise(v * 1_000_000))
    return ns.cast(pl.Datetime("ns", "UTC"))


def is_micros(column: str) -> pl.Expr:
    v = pl.col(column).cast(pl.Int64, strict=False)
    return (v > MICROS_FROM) & (v <= NANOS_FROM)


def number(column: str) -> pl.Expr:
    """A decimal, a bare integer (`42150`) or scientific notation (`1.0E-4`), always as Float64."""
    return pl.col(column).cast(pl.Float64, strict=False)


def flag(column: str) -> pl.Expr:
    """`true`/`True`/`false`/`False` as a boolean (anything else null)."""
    low = pl.col(column).str.to_lowercase()
    return pl.when(low == "true").then(True).when(low == "false").then(False).otherwise(None)


def date_time(column: str) -> pl.Expr:
    """`YYYY-MM-DD HH:MM:SS` (metrics, bookDepth) or an epoch integer, as a UTC nanosecond datetime."""
    text = pl.col(column).str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="ns", time_zone="UTC")
    return pl.coalesce(text, epoch_ns(column))


def typed(frame: pl.DataFrame, exprs: dict[str, pl.Expr], required: tuple[str, ...]) -> tuple[pl.DataFrame,
                                                                                             pl.DataFrame]:
    """Apply the parsers; rows where a required one gives null are rejected naming the column(s)."""
    out = frame.with_columns(**exprs)
    bad = [pl.when(pl.col(c).is_null()).then(pl.lit(c)) for c in required]
    out = out.with_columns(pl.concat_str(bad, separator=", ", ignore_nulls=True).alias("__bad"))
    is_bad = pl.col("__bad") != ""
    rejected = out.filter(is_bad).select(FILE, LINE, pl.format("unparseable {}", pl.col("__bad")).alias("reason"),
                                         pl.col(RAW).alias("raw"))
    return out.filter(~is_bad).drop("__bad"), rejected
