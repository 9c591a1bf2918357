"""Atomic, deterministic Parquet I/O for the lake, addressed through the table specs.

Every file is written to a temp file in its own folder, fsynced and renamed over the
target, so a killed run leaves either the old partition or the new one, never half of one.
Fixed compression and row order make a re-materialization byte-identical. A derived
table's frame is checked against its catalog contract before anything is written.

Which partitions a frame falls into, and which files a read of a range needs, the table's
spec says (`Table.split`, `Table.partition_files`): this module never spells a folder and
never asks which layout a table has, only what its layout can do.
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
from dvol_pipeline.lake import journal
from dvol_pipeline.lake.tables import TABLES, table
from dvol_pipeline.lake.tables.layouts import DATE_KEY
from dvol_pipeline.lake.tables.layouts import partition_date_expr as partition_date_expr  # the ingest's day
from dvol_pipeline.lake.tables.spec import Table

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


SYNC_ALL_FROM = 64
"""From this many files on, `write_many_atomic` syncs the whole disk twice instead of each file and folder."""


def _new_folders(folder: Path) -> list[Path]:
    """`folder` and the ancestors of it that do not exist yet, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    return missing[::-1]


def write_many_atomic(items: list[tuple[pl.DataFrame, Path]]) -> None:
    """Many files, each replaced whole, every byte durable before any rename and every rename after.

    Every temp file is written first; then their bytes are made durable, then the renames, then the
    renames (and any folder made for them) are made durable. A crash (or power loss) at any point
    leaves each target either its old file or its new one, as `write_parquet_atomic` does; an error
    while writing the temps replaces nothing. The barriers: below `SYNC_ALL_FROM` files, an fsync
    of each temp file and of each folder touched (an end-of-day writes a handful of one-day
    partitions in ~22 calls; two whole-disk `sync()`s a call, ~25 ms each, took 1.1 s of it); from
    it on, one `sync()` before the renames and one after (a range backfill writes thousands of
    partitions, and two fsyncs each cost more than the writes themselves).
    """
    per_file = len(items) < SYNC_ALL_FROM
    folders = {}  # every folder whose entries change, in order: new ones' parents first
    for _, target in items:
        for new in _new_folders(target.parent):
            folders.setdefault(new.parent, None)
        folders.setdefault(target.parent, None)
    with ThreadPoolExecutor(WRITE_THREADS) as pool:  # polars writes without the GIL
        futures = [(pool.submit(_write_temp, frame, target, per_file), target) for frame, target in items]
        failed = next((f.exception() for f, _ in futures if f.exception() is not None), None)
    tmps = [(f.result(), target) for f, target in futures if f.exception() is None]
    try:
        if failed is not None:
            raise failed
        if not per_file:
            os.sync()
        while tmps:
            tmp, target = tmps[-1]
            os.replace(tmp, target)
            tmps.pop()
    finally:
        for tmp, _ in tmps:
            Path(tmp).unlink(missing_ok=True)
    if per_file:
        for folder in folders:
            _fsync_dir(folder)
    else:
        os.sync()


@cache
def _schema(name: str) -> pa.DataFrameSchema:
    t = table(name)
    return derived_schema(t.name, t.columns, t.key, t.strict)


def check_contract(t: Table, frame: pl.DataFrame) -> None:
    """Derived tables only: raw rows were validated (and quarantined) on ingestion."""
    if t.raw is None and t.columns:
        registered = TABLES.get(t.name) is t  # a spec made elsewhere (a test's, a new lane's) is not cached
        check_derived(_schema(t.name) if registered else derived_schema(t.name, t.columns, t.key, t.strict), frame)


@dataclass(frozen=True)
class WrittenPartition:
    asset: str | None
    """The partition's coin: its `asset` key (or `symbol`, where the layout names coins so)."""
    day: date | None
    """Its UTC day (None where the layout has no day: one file per coin)."""
    path: Path
    rows: int
    key: tuple[tuple[str, object], ...] = ()
    """Every key of the partition, outermost first, e.g. (("venue", "binance"), ("symbol", "BTCUSDT"), ("date", day))."""

    @classmethod
    def of(cls, t: Table, values: tuple, path: Path, rows: int) -> WrittenPartition:
        key = dict(zip(t.keys, values, strict=True))
        return cls(key.get(t.coin_key) if t.coin_key else None, key.get(DATE_KEY), path, rows, tuple(key.items()))


def _name(t: Table | str) -> Table:
    return t if isinstance(t, Table) else table(t)


def write_partitions(root: Path, t: Table | str, frame: pl.DataFrame) -> list[WrittenPartition]:
    """Replace each partition present in `frame` whole, one atomic file each: an (asset, day), a
    (venue, symbol, day) of ticks, a coin's history ... whatever the table's layout keys it by. Every
    file or none is replaced (all temp files first, then the renames, two disk barriers)."""
    t = _name(t)
    check_contract(t, frame)
    parts = t.split(frame)
    written = [WrittenPartition.of(t, values, t.path(root, **dict(zip(t.keys, values, strict=True))), p.height)
               for values, p in parts.items()]
    write_many_atomic([(p, w.path) for p, w in zip(parts.values(), written, strict=True)])
    journal.record(root, t, [(w.path, w.rows) for w in written])
    return written


def write_symbols(root: Path, t: Table | str, frame: pl.DataFrame) -> list[Path]:
    """Replace each coin's file of a `symbol` table present in `frame` whole (`write_partitions`)."""
    t = _name(t)
    if t.keys != ("symbol",):
        raise ValueError(f"lake table {t.name} is keyed by {list(t.keys)}, not by symbol alone")
    return [w.path for w in write_partitions(root, t, frame)]


def write_fold(root: Path, t: Table | str, fold: str, frame: pl.DataFrame) -> Path:
    """Replace one walk-forward month of a `fold` table."""
    t = _name(t)
    check_contract(t, frame)
    path = t.fold_file(root, fold)
    write_parquet_atomic(frame.sort(list(t.sort_by), maintain_order=True) if t.sort_by else frame, path)
    journal.record(root, t, [(path, frame.height)])
    return path


def write_single(root: Path, t: Table | str, frame: pl.DataFrame, nan_as_null: bool = True) -> Path:
    """Replace a whole-table file. An undefined statistic (the Sharpe of a strategy that never
    traded) is stored as NULL, not NaN, by default: SQL sorts NaN above every number."""
    t = _name(t)
    check_contract(t, frame)
    path = t.file(root)
    write_parquet_atomic(frame.with_columns(pl.col(pl.Float64).fill_nan(None)) if nan_as_null else frame, path)
    journal.record(root, t, [(path, frame.height)])
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
    keep = [k for k in t.fold_keys(root) if before is None or k < before]
    if not keep:
        return pl.DataFrame(schema=schema or t.schema)
    return pl.concat([pl.read_parquet(t.fold_file(root, k)) for k in keep], how="diagonal_relaxed")


Where = dict[str, list[str] | tuple[str, ...] | set[str]]
"""Partition key -> the values to read, e.g. {"venue": ["binance"]}."""


def read_table(
    root: Path,
    t: Table | str,
    start: date | None = None,
    end: date | None = None,
    coins: list[str] | None = None,
    *,
    where: Where | None = None,
) -> pl.DataFrame:
    """Rows for days in [start, end] (inclusive) of `coins` (and the keys in `where`); a dated table
    is pruned by folder: only the partitions of the range are listed and scanned."""
    t = _name(t)
    if not t.keys:  # one file holds the table
        return read_single(root, t)
    if not t.dated:  # one file per coin holds its whole history: read the coins', then keep the range
        files = t.partition_files(root, where=_where(t, coins, where))
        if not files:
            raise FileNotFoundError(f"lake table {t.zone}/{t.name} has no coins under {root}; materialize it first")
        out = pl.read_parquet(files)
        day = pl.col(t.time_col)
        return out.filter((day >= start) if start else pl.lit(True)).filter((day <= end) if end else pl.lit(True))
    return _read_files(t, _partition_files(root, t, start, end, coins, where))


def scan_table(
    root: Path, t: Table | str, start: date | None = None, end: date | None = None, coins: list[str] | None = None,
    *, where: Where | None = None,
) -> pl.LazyFrame:
    """`read_table` as a lazy scan: a reader that needs a few columns of a big table (the option
    book, 8 of the chain's 13) reads only those, and never holds the rest in memory."""
    t = _name(t)
    files = _partition_files(root, t, start, end, coins, where)
    if t.strict:  # every partition holds exactly the spec's columns
        return pl.scan_parquet(files)
    return pl.scan_parquet(files, schema=_union_schema(files), missing_columns="insert")


def _union_schema(files: list[Path]) -> dict[str, pl.DataType]:
    """Every column of `files` in order of first appearance (each file's footer only)."""
    schema: dict[str, pl.DataType] = {}
    for f in files:
        for name, dtype in pl.read_parquet_schema(f).items():
            schema.setdefault(name, dtype)
    return schema


def _read_files(t: Table, files: list[Path]) -> pl.DataFrame:
    """One multi-threaded read of the partitions, not a read per file. A table that is not strict
    (features_daily gains the opt-in micro group once the micro lane has run, in the partitions
    rebuilt after it) may hold a column in some partitions only: it reads as null in the others,
    as DuckDB's `union_by_name` views show it. The footers are read only when the fast read fails."""
    try:
        return pl.read_parquet(files)
    except (pl.exceptions.SchemaError, pl.exceptions.ColumnNotFoundError):
        if t.strict:
            raise
        return pl.read_parquet(files, schema=_union_schema(files), missing_columns="insert")


def _where(t: Table, coins: list[str] | None, where: Where | None) -> Where | None:
    """`coins` as a filter on the table's coin key (asset or symbol), with the other keys' filters."""
    if coins is None:
        return where
    if t.coin_key is None:
        raise ValueError(f"lake table {t.name} has no coin key to select coins={coins} by")
    return {**(where or {}), t.coin_key: coins}


def _partition_files(root: Path, t: Table, start: date | None, end: date | None, coins: list[str] | None,
                     where: Where | None = None) -> list[Path]:
    base = t.base(root)
    if not base.exists():
        raise FileNotFoundError(f"lake table {t.zone}/{t.name} does not exist under {root}; materialize it first")
    files = t.partition_files(root, start, end, _where(t, coins, where))
    if not files:
        keys = f" {where}" if where else ""
        raise FileNotFoundError(f"no partitions of {t.zone}/{t.name} for {start}..{end} coins={coins}{keys} under {root}")
    return files


def read_table_or_none(root: Path, t: Table | str, start: date | None = None, end: date | None = None,
                       coins: list[str] | None = None, *, where: Where | None = None) -> pl.DataFrame | None:
    try:
        return read_table(root, t, start, end, coins, where=where)
    except FileNotFoundError:
        return None
