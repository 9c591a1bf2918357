"""Jobs: the raw lake for a date range (one run), and the warehouse refresh."""

from __future__ import annotations

import dagster as dg

raw_ingest_job = dg.define_asset_job(
    "raw_ingest_job",
    selection=dg.AssetSelection.groups("raw"),
    description="Ingest, contract-check and write every raw table for a day or a range (one run).",
)

warehouse_job = dg.define_asset_job(
    "warehouse_job", selection=dg.AssetSelection.groups("warehouse"), description="Rebuild warehouse.duckdb."
)
