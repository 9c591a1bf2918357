"""Source batches -> contract -> lake: the whole ingestion of one raw table for a range.

Kept out of the Dagster asset so the CLI, tests and benchmarks run the same code, and so
the asset stays glue. Valid rows are merged into what their partitions already hold
(contracts.merge: new valid rows win, the lake's rows stay where the new batch has none or
quarantined them) and each partition is replaced atomically; `rebuild=True` writes the range from
the new rows only. Rejected rows go to quarantine with their reason; the report says what
happened in numbers.

The range is ingested batch by batch as the source delivers it (`sources.base.fetch_batches`):
a source that yields one partition at a time is validated, merged and written one partition at
a time, so the range never sits in memory; the daily tables' sources deliver their range as one
batch, because their contracts look across days (an outlier against its neighbours, gaps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.merge import MergeCounts, merge_rows
from dvol_pipeline.contracts.tables import TableSpec
from dvol_pipeline.contracts.validate import ContractReport, find_gaps, validate
from dvol_pipeline.lake.parquet import (
    WrittenPartition,
    partition_date_expr,
    read_table_or_none,
    write_partitions,
)
from dvol_pipeline.lake.catalog import table as catalog_table
from dvol_pipeline.lake.quarantine import replace_quarantine
from dvol_pipeline.sources.base import Source, SourceBatch, TableNotProvided, fetch_batches


@dataclass
class IngestReport:
    table: str
    source: str
    start: date
    end: date
    coins: list[str]
    rows_in: int
    contract: ContractReport
    written: list[WrittenPartition]
    outside_range: int
    """Valid rows the source returned for days or coins outside the run (not written)."""
    missing: list[tuple[str, date]]
    """(coin, day) partitions of the run for which the source had no valid row."""
    gaps: pl.DataFrame
    quarantined: list[Path]
    not_provided: str | None = None
    """Why the source has no such table (then nothing is written and nothing is wrong)."""
    time_min: str | None = None
    time_max: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)

    @property
    def rows_written(self) -> int:
        return sum(p.rows for p in self.written)

    def rows_per_coin(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.written:
            counts[p.asset] = counts.get(p.asset, 0) + p.rows
        return dict(sorted(counts.items()))


def days_in(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def merge_with_lake(
    spec: TableSpec, root: Path, frame: pl.DataFrame, rejected: pl.DataFrame | None
) -> tuple[pl.DataFrame, MergeCounts]:
    """`frame` plus the rows its partitions already hold in the lake (see contracts.merge).

    One merge over the whole range, not one per partition: the key holds the coin and the time,
    so rows of different partitions never meet, and only the partitions `frame` touches are read."""
    if frame.is_empty():
        return frame, MergeCounts()
    day = partition_date_expr(spec.time_col)
    touched = frame.select(pl.col("asset"), day.alias("__day")).unique()
    days, coins = touched["__day"], sorted(touched["asset"].unique())
    held = read_table_or_none(root, spec.name, days.min(), days.max(), coins)  # one scan, not a file each
    if held is not None:
        held = held.with_columns(day.alias("__day")).join(touched, on=["asset", "__day"], how="semi").drop("__day")
    return merge_rows(spec, spec.empty() if held is None else held, frame, rejected)


@dataclass
class _Ingested:
    """What one source batch gave: validated, merged and written."""

    source: str
    contract: ContractReport
    written: list[WrittenPartition]
    outside: int
    rows_in: int
    rows_new: int
    merge: MergeCounts
    gaps: pl.DataFrame
    time_min: object
    time_max: object
    files: dict[str, str]
    notes: dict


def _ingest_batch(
    spec: TableSpec, batch: SourceBatch, root: Path, start: date, end: date, coins: list[str], rebuild: bool,
) -> _Ingested:
    report = validate(spec, batch.frame)
    if batch.rejected is not None and batch.rejected.height:
        report.rejected = pl.concat([batch.rejected, report.rejected], how="diagonal_relaxed")
    day = partition_date_expr(spec.time_col)
    in_run = report.valid.filter(day.is_between(start, end) & pl.col("asset").is_in(coins))
    outside = report.valid.height - in_run.height
    fresh_rows = in_run.height
    merge = MergeCounts()
    if not rebuild:
        in_run, merge = merge_with_lake(spec, root, in_run, report.rejected)
    written = write_partitions(root, spec.name, in_run)
    empty = in_run.is_empty()
    return _Ingested(
        source=batch.source, contract=report, written=written, outside=outside,
        rows_in=batch.frame.height + (0 if batch.rejected is None else batch.rejected.height), rows_new=fresh_rows,
        merge=merge, gaps=find_gaps(spec, in_run), time_min=None if empty else in_run[spec.time_col].min(),
        time_max=None if empty else in_run[spec.time_col].max(), files=batch.files, notes=batch.notes,
    )


def _contract_of(spec: TableSpec, parts: list[_Ingested]) -> ContractReport:
    """One batch's report as it is; several batches' as one (counts, rejects and errors of all; `valid`
    holds the first batch's rows only, for the preview: a batched range is never held whole)."""
    if len(parts) == 1:
        return parts[0].contract
    reports = [p.contract for p in parts]
    return ContractReport(
        spec.name, reports[0].valid, pl.concat([r.rejected for r in reports], how="diagonal_relaxed"),
        [e for r in reports for e in r.batch_errors], n_rows=sum(r.n_rows for r in reports),
        tolerated_reasons=spec.tolerated_reasons, max_tolerated_share=spec.max_tolerated_share,
    )


def ingest_table(
    spec: TableSpec, source: Source, root: Path, start: date, end: date, coins: Sequence[str],
    rebuild: bool = False,
) -> IngestReport:
    """`rebuild`: replace the range's partitions with this batch alone (rows the lake holds for
    those days and coins are dropped); by default the batch is merged into them."""
    if end < start:
        raise ValueError(f"{spec.name}: end {end} is before start {start}")
    coins = list(coins)
    parts: list[_Ingested] = []
    not_provided = None
    try:
        for batch in fetch_batches(source, spec.name, start, end, coins):
            parts.append(_ingest_batch(spec, batch, root, start, end, coins, rebuild))
    except TableNotProvided as why:
        not_provided = str(why)
    if not parts:  # nothing from the source: the range is judged (and, on rebuild, cleared) as empty
        parts.append(_ingest_batch(spec, SourceBatch(spec.empty(), source.name), root, start, end, coins, rebuild))
    contract = _contract_of(spec, parts)
    written = [w for p in parts for w in p.written]
    covered = [(c, d) for c in coins for d in days_in(start, end)]
    done = {(p.asset, p.day) for p in written}
    if rebuild:
        for c, d in covered:
            if (c, d) not in done:
                catalog_table(spec.name).partition_file(root, c, d).unlink(missing_ok=True)
    quarantined = replace_quarantine(
        root, spec.name, contract.rejected, spec.time_col, covered, source=parts[0].source
    )
    lows = [p.time_min for p in parts if p.time_min is not None]
    highs = [p.time_max for p in parts if p.time_max is not None]
    gaps = parts[0].gaps if len(parts) == 1 else pl.concat([p.gaps for p in parts], how="diagonal_relaxed")
    rows_new = sum(p.rows_new for p in parts)
    merge = sum((p.merge for p in parts), MergeCounts())
    return IngestReport(
        table=spec.name,
        source=parts[0].source,
        start=start,
        end=end,
        coins=coins,
        rows_in=sum(p.rows_in for p in parts),
        contract=contract,
        written=written,
        outside_range=sum(p.outside for p in parts),
        missing=[k for k in covered if k not in done],
        gaps=gaps,
        not_provided=not_provided,
        quarantined=quarantined,
        time_min=str(min(lows)) if lows else None,
        time_max=str(max(highs)) if highs else None,
        files={k: v for p in parts for k, v in p.files.items()},
        notes={**{k: v for p in parts for k, v in p.notes.items()},
               "lake_merge": {"rebuild": True, "rows_new": rows_new} if rebuild else
               {**merge.as_dict(), "rows_new": rows_new}},
    )
