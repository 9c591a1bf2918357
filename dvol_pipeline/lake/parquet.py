"""Atomic, deterministic Parquet I/O for the hive-partitioned lake.

Every file is written to a temp file in its own folder, fsynced and renamed over the
target, so a killed run leaves either the old partition or the new one, never half of one.
Fixed compression and row order make a re-materialization byte-identical.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.paths import partition_file

COMPRESSION = "zstd"
COMPRESSION_LEVEL = 3


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_parquet_atomic(frame: pl.DataFrame, target: Path) -> None:
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
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def split_by_partition(frame: pl.DataFrame, time_col: str) -> dict[tuple[str, date], pl.DataFrame]:
    """(asset, day) -> that partition's rows, in the frame's order."""
    if frame.is_empty():
        return {}
    keyed = frame.with_columns(partition_date_expr(time_col).alias("__day"))
    parts = keyed.partition_by(["asset", "__day"], as_dict=True, maintain_order=True)
    return {(a, d): p.drop("__day") for (a, d), p in sorted(parts.items())}


def write_partitions(
    root: Path, zone: str, table: str, frame: pl.DataFrame, time_col: str, sort_by: list[str]
) -> list[WrittenPartition]:
    """Replace each (asset, day) partition present in `frame` whole, one atomic file each."""
    written = []
    for (asset, day), part in split_by_partition(frame, time_col).items():
        path = partition_file(root, zone, table, asset, day)
        write_parquet_atomic(part.sort(sort_by, maintain_order=True), path)
        written.append(WrittenPartition(asset, day, path, part.height))
    return written


def read_table(
    root: Path,
    zone: str,
    table: str,
    start: date | None = None,
    end: date | None = None,
    coins: list[str] | None = None,
) -> pl.DataFrame:
    """Rows of a lake table for days in [start, end] (inclusive), pruned by folder."""
    base = root / zone / table
    if not base.exists():
        raise FileNotFoundError(
            f"lake table {zone}/{table} does not exist under {root}; materialize it first"
        )
    files = []
    for asset_dir in sorted(base.glob("asset=*")):
        asset = asset_dir.name.split("=", 1)[1]
        if coins is not None and asset not in coins:
            continue
        for day_dir in sorted(asset_dir.glob("date=*")):
            day = date.fromisoformat(day_dir.name.split("=", 1)[1])
            if (start and day < start) or (end and day > end):
                continue
            files.extend(sorted(day_dir.glob("*.parquet")))
    if not files:
        raise FileNotFoundError(
            f"no partitions of {zone}/{table} for {start}..{end} coins={coins} under {root}"
        )
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical")
