"""Atomic, deterministic Parquet I/O for the lake, addressed through the catalog.

Every file is written to a temp file in its own folder, fsynced and renamed over the
target, so a killed run leaves either the old partition or the new one, never half of one.
Fixed compression and row order make a re-materialization byte-identical. A derived
table's frame is checked against its catalog contract before anything is written.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import pandera.polars as pa
import polars as pl

from dvol_pipeline.contracts.derived import check_derived, derived_schema
from dvol_pipeline.lake.catalog import ASSET_DATE, FOLD, SINGLE, SYMBOL, Table, table

COMPRESSION = "zstd"
COMPRESSION_LEVEL = 3
WRITE_THREADS = min(4, os.cpu_count() or 1)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(frame: pl.DataFrame, target: Path, fsync: bool) -> str:
    """`frame` as a hidden temp file beside `target`; the caller renames it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            frame.write_parquet(
                fh,
                compression=COMPRESSION,
                compression_level=COMPRESSION_LEVEL,
                statistics=True,
                row_group_size=256_000,
            )
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def write_parquet_atomic(frame: pl.DataFrame, target: Path) -> None:
    tmp = _write_temp(frame, target, fsync=True)
    try:
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def write_many_atomic(items: list[tuple[pl.DataFrame, Path]]) -> None:
    """Many files, each replaced whole, with two disk barriers instead of two per file.

    Every temp file is written first, then one `sync()` makes all their bytes durable before any
    rename, then the renames, then one more `sync()`. A crash (or power loss) at any point leaves
    each target either its old file or its new one, as `write_parquet_atomic` does; an error while
    writing the temps replaces nothing. Why: a range backfill writes thousands of one-day
    partitions and two fsyncs each cost more than the writes themselves (9 of 72 s, demo range).
    """
    with ThreadPoolExecutor(WRITE_THREADS) as pool:  # polars writes without the GIL
        futures = [(pool.submit(_write_temp, frame, target, False), target) for frame, target in items]
        failed = next((f.exception() for f, _ in futures if f.exception() is not None), None)
    tmps = [(f.result(), target) for f, target in futures if f.exception() is None]
    try:
        if failed is not None:
            raise failed
        os.sync()
        while tmps:
            tmp, target = tmps[-1]
            os.replace(tmp, target)
            tmps.pop()
    finally:
        for tmp, _ in tmps:
            Path(tmp).unlink(missing_ok=True)
    os.sync()


@cache
def _schema(name: str) -> pa.DataFrameSchema:
    t = table(name)
    return derived_schema(t.name, t.columns, t.key, t.strict)


def check_contract(t: Table, frame: pl.DataFrame) -> None:
    """Derived tables only: raw rows were validated (and quarantined) on ingestion."""
    if t.raw is None and t.columns:
        check_derived(_schema(t.name), frame)


@dataclass(frozen=True)
class WrittenPartition:
    asset: str
    day: date
    path: Path
    rows: int


def partition_date_expr(time_col: str) -> pl.Expr:
    """The UTC calendar day a row belongs to (its partition)."""
    col = pl.col(time_col)
    return col if time_col == "date" else col.dt.date()


def split_by_partition(
    frame: pl.DataFrame, time_col: str, sort_by: tuple[str, ...] = ()
) -> dict[tuple[str, date], pl.DataFrame]:
    """(asset, day) -> that partition's rows, sorted by `sort_by` (stable; else the frame's order).

    One sort of the whole frame and zero-copy slices, not a partition_by + sort per partition:
    per-partition frame operations were most of a range backfill's time in polars."""
    if frame.is_empty():
        return {}
    day = partition_date_expr(time_col).alias("__day")
    ordered = frame.with_columns(day).sort(["asset", "__day", *sort_by], maintain_order=True)
    keys = ordered.select("asset", "__day")
    starts = (
        keys.with_row_index("__i")
        .filter((pl.col("asset") != pl.col("asset").shift()) | (pl.col("__day") != pl.col("__day").shift())
                | (pl.col("__i") == 0))
    )
    rows = ordered.drop("__day")
    offsets = [*starts["__i"].to_list(), rows.height]
    return {
        (a, d): rows.slice(lo, hi - lo)
        for (a, d, lo, hi) in zip(starts["asset"], starts["__day"], offsets[:-1], offsets[1:], strict=True)
    }


def _name(t: Table | str) -> Table:
    return t if isinstance(t, Table) else table(t)


def write_partitions(root: Path, t: Table | str, frame: pl.DataFrame) -> list[WrittenPartition]:
    """Replace each (asset, day) partition present in `frame` whole, one atomic file each."""
    t = _name(t)
    t._expect(ASSET_DATE)
    check_contract(t, frame)
    parts = split_by_partition(frame, t.time_col, tuple(t.sort_by))
    written = [WrittenPartition(a, d, t.partition_file(root, a, d), p.height) for (a, d), p in parts.items()]
    write_many_atomic([(parts[(w.asset, w.day)], w.path) for w in written])
    return written


def write_symbols(root: Path, t: Table | str, frame: pl.DataFrame) -> list[Path]:
    """Replace each coin's file of a `symbol` table present in `frame` whole (as `write_partitions`:
    one sort, every file or none replaced, two disk barriers)."""
    t = _name(t)
    t._expect(SYMBOL)
    check_contract(t, frame)
    ordered = frame.sort(list(t.sort_by), maintain_order=True) if t.sort_by else frame
    parts = sorted(ordered.partition_by("symbol", as_dict=True, maintain_order=True).items())
    items = [(part, t.symbol_file(root, symbol)) for (symbol,), part in parts]
    write_many_atomic(items)
    return [path for _, path in items]


def write_fold(root: Path, t: Table | str, fold: str, frame: pl.DataFrame) -> Path:
    """Replace one walk-forward month of a `fold` table."""
    t = _name(t)
    check_contract(t, frame)
    path = t.fold_file(root, fold)
    write_parquet_atomic(frame.sort(list(t.sort_by), maintain_order=True) if t.sort_by else frame, path)
    return path


def write_single(root: Path, t: Table | str, frame: pl.DataFrame, nan_as_null: bool = True) -> Path:
    """Replace a whole-table file. An undefined statistic (the Sharpe of a strategy that never
    traded) is stored as NULL, not NaN, by default: SQL sorts NaN above every number."""
    t = _name(t)
    check_contract(t, frame)
    path = t.file(root)
    write_parquet_atomic(frame.with_columns(pl.col(pl.Float64).fill_nan(None)) if nan_as_null else frame, path)
    return path


def read_single(root: Path, t: Table | str, hint: str | None = None) -> pl.DataFrame:
    t = _name(t)
    path = t.file(root)
    if not path.exists():
        raise FileNotFoundError(hint or f"{path} does not exist; materialize `{t.name}` first")
    return pl.read_parquet(path)


def read_single_or_none(root: Path, t: Table | str, start: date | None = None,
                        end: date | None = None) -> pl.DataFrame | None:
    """A whole-table file (None when it does not exist); with `start` / `end`, only its rows
    whose `time_col` day is in [start, end], filtered while the file is scanned."""
    t = _name(t)
    path = t.file(root)
    if not path.exists():
        return None
    if start is None and end is None:
        return pl.read_parquet(path)
    day = partition_date_expr(t.time_col)
    return pl.scan_parquet(path).filter((day >= start) if start else pl.lit(True)).filter(
        (day <= end) if end else pl.lit(True)).collect()


def read_folds(root: Path, t: Table | str, before: str | None = None, schema: dict | None = None) -> pl.DataFrame:
    """Every fold of a `fold` table (those before `before` only, when given)."""
    t = _name(t)
    t._expect(FOLD)
    keep = [k for k in t.fold_keys(root) if before is None or k < before]
    if not keep:
        return pl.DataFrame(schema=schema or t.schema)
    return pl.concat([pl.read_parquet(t.fold_file(root, k)) for k in keep], how="diagonal_relaxed")


def read_table(
    root: Path,
    t: Table | str,
    start: date | None = None,
    end: date | None = None,
    coins: list[str] | None = None,
) -> pl.DataFrame:
    """Rows of an `asset_date` table for days in [start, end] (inclusive), pruned by folder."""
    t = _name(t)
    if t.layout == SINGLE:
        return read_single(root, t)
    if t.layout == SYMBOL:
        files = [t.symbol_file(root, s) for s in t.symbols(root) if coins is None or s in coins]
        if not files:
            raise FileNotFoundError(f"lake table {t.zone}/{t.name} has no coins under {root}; materialize it first")
        out = pl.read_parquet(files)
        day = pl.col(t.time_col)
        return out.filter((day >= start) if start else pl.lit(True)).filter((day <= end) if end else pl.lit(True))
    return pl.read_parquet(_partition_files(root, t, start, end, coins))  # one multi-threaded scan: ~4x faster


def scan_table(
    root: Path, t: Table | str, start: date | None = None, end: date | None = None, coins: list[str] | None = None,
) -> pl.LazyFrame:
    """`read_table` as a lazy scan: a reader that needs a few columns of a big table (the option
    book, 8 of the chain's 13) reads only those, and never holds the rest in memory."""
    return pl.scan_parquet(_partition_files(root, _name(t), start, end, coins))


def _partition_files(root: Path, t: Table, start: date | None, end: date | None, coins: list[str] | None) -> list[Path]:
    base = t.base(root)
    if not base.exists():
        raise FileNotFoundError(f"lake table {t.zone}/{t.name} does not exist under {root}; materialize it first")
    files = []
    for asset, day_text, day_dir in t.partition_dirs(root):
        if coins is not None and asset not in coins:
            continue
        day = date.fromisoformat(day_text)
        if (start and day < start) or (end and day > end):
            continue
        files.extend(sorted(day_dir.glob("*.parquet")))
    if not files:
        raise FileNotFoundError(f"no partitions of {t.zone}/{t.name} for {start}..{end} coins={coins} under {root}")
    return files


def read_table_or_none(root: Path, t: Table | str, start: date | None = None, end: date | None = None,
                       coins: list[str] | None = None) -> pl.DataFrame | None:
    try:
        return read_table(root, t, start, end, coins)
    except FileNotFoundError:
        return None
