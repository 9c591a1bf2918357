"""Rejected rows, kept where a user can read them: `quarantine/<table>/asset=/date=/`.

A partition's quarantine file describes its latest materialization: it is replaced when
the partition is written again and removed when the new batch had nothing to reject.
Rows whose coin or day cannot be read go under `asset=unknown` / `date=unknown`, in a file
named after their content so no later run overwrites them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.lake import journal
from dvol_pipeline.lake.catalog import table as catalog_table
from dvol_pipeline.lake.parquet import write_parquet_atomic

UNKNOWN = "unknown"


def _partition_keys(rejected: pl.DataFrame, time_col: str) -> pl.DataFrame:
    day_text = pl.col(time_col).str.slice(0, 10) if time_col in rejected.columns else pl.lit(None, pl.Utf8)
    day = day_text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Utf8).fill_null(UNKNOWN)
    asset = (
        pl.col("asset").str.to_uppercase().fill_null(UNKNOWN)
        if "asset" in rejected.columns
        else pl.lit(UNKNOWN)
    )
    asset = pl.when(asset.str.contains(r"^[A-Z0-9]{2,10}$")).then(asset).otherwise(pl.lit(UNKNOWN))
    return rejected.with_columns(asset.alias("__asset"), day.alias("__day"))


def replace_quarantine(
    root: Path,
    table: str,
    rejected: pl.DataFrame,
    time_col: str,
    covered: Iterable[tuple[str, date]],
    source: str,
) -> list[Path]:
    """Write this batch's rejected rows per partition; clear stale files of `covered` ones."""
    written: list[Path] = []
    counts: list[int] = []
    where = catalog_table(table).quarantine()
    keyed = _partition_keys(rejected.with_columns(pl.lit(source).alias("source")), time_col)
    groups = keyed.partition_by(["__asset", "__day"], as_dict=True, maintain_order=True) if keyed.height else {}
    for (asset, day), rows in sorted(groups.items()):
        rows = rows.drop("__asset", "__day")
        if UNKNOWN in (asset, day):
            digest = hashlib.sha256(rows.write_csv().encode()).hexdigest()[:12]
            target = where.partition_file(root, asset, day, part=digest)
        else:
            target = where.partition_file(root, asset, day)
        write_parquet_atomic(rows, target)
        written.append(target)
        counts.append(rows.height)
    touched = {(a, d) for a, d in groups}
    removed = [where.partition_file(root, asset, day) for asset, day in covered if (asset, str(day)) not in touched]
    _remove(root, where, removed)
    journal.record(root, where, [(p, n) for p, n in zip(written, counts, strict=True)])
    return written


def _remove(root: Path, where, stale: list[Path]) -> None:
    """Delete the stale quarantine files that exist, and say so in the lake's journal."""
    gone = [p for p in stale if p.exists()]
    for path in gone:
        path.unlink(missing_ok=True)
    journal.record(root, where, removed=gone)


def replace_tick_quarantine(root: Path, table: str, rejected: pl.DataFrame,
                            covered: Iterable[tuple[str, str, date]]) -> list[Path]:
    """Tick data's rejected rows (with their `__file`, `__line` and `reason`) per (venue, symbol,
    day) partition of the local clock; the `covered` partitions' stale files are removed. Rows
    whose venue, symbol or day cannot be read go under `unknown`, in a file named after their
    content so no later run overwrites them."""
    where = catalog_table(table).quarantine()
    written: list[Path] = []
    counts: list[int] = []
    if rejected.height:
        ts = pl.col("ts_local") if "ts_local" in rejected.columns else pl.lit(None, pl.Utf8)
        day = ts.cast(pl.Utf8).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).cast(pl.Utf8).fill_null(UNKNOWN)
        keyed = rejected.with_columns(
            *((pl.col(k).cast(pl.Utf8).fill_null(UNKNOWN) if k in rejected.columns else pl.lit(UNKNOWN)).alias(f"__{k}")
              for k in ("venue", "symbol")), day.alias("__day"))
        groups = keyed.partition_by(["__venue", "__symbol", "__day"], as_dict=True, maintain_order=True)
        for (venue, symbol, day_text), rows in sorted(groups.items()):
            rows = rows.drop("__venue", "__symbol", "__day")
            part = "0"
            if UNKNOWN in (venue, symbol, day_text):
                part = hashlib.sha256(rows.write_csv().encode()).hexdigest()[:12]
            target = where.path(root, part, venue=venue, symbol=symbol, date=day_text)
            write_parquet_atomic(rows, target)
            written.append(target)
            counts.append(rows.height)
    touched = {str(p) for p in written}
    stale = (where.path(root, venue=venue, symbol=symbol, date=day) for venue, symbol, day in covered)
    _remove(root, where, [p for p in stale if str(p) not in touched])
    journal.record(root, where, [(p, n) for p, n in zip(written, counts, strict=True)])
    return written
