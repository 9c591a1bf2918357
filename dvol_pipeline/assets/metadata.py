"""What a user sees in the UI for a raw asset: counts, ranges, lineage, failures."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

from dvol_pipeline.lake.catalog import table
from dvol_pipeline.pipeline.ingest import IngestReport

PREVIEW_ROWS = 10


def catalog_metadata(name: str) -> dict[str, dg.RawMetadataValue]:
    """The UI's column schema and key of a lake table, from the catalog (the one declaration)."""
    t = table(name)
    schema = dg.TableSchema(columns=[dg.TableColumn(c.name, str(c.dtype), description=c.doc) for c in t.columns])
    return {"dagster/column_schema": schema, "key": list(t.key), "lake_zone": t.zone, "layout": t.layout}


def markdown(frame: pl.DataFrame, rows: int = PREVIEW_ROWS) -> dg.MetadataValue:
    with pl.Config(tbl_formatting="MARKDOWN", tbl_hide_column_data_types=True, tbl_hide_dataframe_shape=True,
                   tbl_rows=rows, tbl_cols=-1, fmt_str_lengths=80, tbl_width_chars=10_000):
        return dg.MetadataValue.md(str(frame.head(rows)))


def ingest_metadata(report: IngestReport, root: Path) -> dict[str, dg.RawMetadataValue]:
    per_coin = pl.DataFrame(
        {"coin": list(report.rows_per_coin()), "rows": list(report.rows_per_coin().values())}
    )
    meta: dict[str, dg.RawMetadataValue] = {
        "dagster/row_count": report.rows_written,
        "source": report.source,
        "date_range": f"{report.start}..{report.end}",
        "coins": ", ".join(report.coins),
        "partitions_written": len(report.written),
        "rows_from_source": report.rows_in,
        "rows_quarantined": report.contract.rejected.height,
        "rows_outside_run": report.outside_range,
        "time_min": report.time_min or "",
        "time_max": report.time_max or "",
        "rows_per_coin": markdown(per_coin),
        "lake_path": dg.MetadataValue.path(str(table(report.table).base(root))),
    }
    if report.not_provided:
        meta["not_provided"] = report.not_provided
    if report.notes:
        meta["source_notes"] = dg.MetadataValue.json(report.notes)
    if report.files:
        meta["source_files_sha256"] = dg.MetadataValue.json(report.files)
    if report.written:
        meta["preview"] = markdown(report.contract.valid.head(PREVIEW_ROWS))
    return meta


def contract_metadata(report: IngestReport, root: Path) -> dict[str, dg.RawMetadataValue]:
    meta: dict[str, dg.RawMetadataValue] = {
        "rows_checked": report.rows_in,
        "rows_quarantined": report.contract.rejected.height,
    }
    if report.contract.batch_errors:
        meta["batch_errors"] = dg.MetadataValue.json(report.contract.batch_errors)
    if not report.contract.rejected.is_empty():
        meta["reasons"] = dg.MetadataValue.json(report.contract.reason_counts())
        meta["rejected_rows"] = markdown(report.contract.rejected)
        meta["quarantine_path"] = dg.MetadataValue.path(str(table(report.table).quarantine().base(root)))
    return meta


def gap_metadata(report: IngestReport) -> dict[str, dg.RawMetadataValue]:
    missing = pl.DataFrame(
        {"coin": [c for c, _ in report.missing], "day": [d for _, d in report.missing]},
        schema={"coin": pl.Utf8, "day": pl.Date},
    )
    return {
        "gaps": report.gaps.height,
        "missing_partitions": len(report.missing),
        "gap_list": markdown(report.gaps),
        "missing_list": markdown(missing),
    }
