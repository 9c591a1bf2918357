"""The lake's catalog, as every module imports it: the table registry and the paths that are not tables.

The tables are declared per lane in `lake/tables/` (`core`: the raw market data, then `dvol`,
`options`, `universe`), each with its lane, zone, layout, key, columns and time unit; their
paths are built by their layout (`lake/tables/layouts.py`) and nowhere else. This module
re-exports those names so `from dvol_pipeline.lake.catalog import table` keeps working.
"""

from __future__ import annotations

from dvol_pipeline.lake.tables import LANES, TABLES, ZONE_ORDER, in_lane, in_zone, table
from dvol_pipeline.lake.tables.files import (
    MLFLOW,
    MODELS,
    REPORTS,
    WAREHOUSE_FILE,
    family_models_dir,
    micro_report_file,
    mlflow_dir,
    model_dir,
    report_file,
    universe_horizon_file,
    universe_report_file,
    universe_walkforward_dir,
    warehouse_file,
)
from dvol_pipeline.lake.tables.layouts import LAYOUTS, VENUE_SYMBOL_DATE, Layout, partition_date_expr
from dvol_pipeline.lake.tables.spec import (
    ASSET,
    ASSET_DATE,
    BACKTEST,
    CORE,
    DATE,
    FAMILY,
    FEATURES,
    FOLD,
    FOLD_KEY,
    HORIZON,
    PAPER,
    PART_FILE,
    PREDICTIONS,
    QUARANTINE,
    RAW,
    SIGNALS,
    SINGLE,
    STRATEGY,
    SURFACE,
    SYMBOL,
    SYMBOL_COL,
    UNIVERSE,
    Table,
)

__all__ = [
    "ASSET", "ASSET_DATE", "BACKTEST", "CORE", "DATE", "FAMILY", "FEATURES", "FOLD", "FOLD_KEY", "HORIZON", "LANES",
    "LAYOUTS", "Layout", "MLFLOW", "MODELS", "PAPER", "PART_FILE", "PREDICTIONS", "QUARANTINE", "RAW", "REPORTS",
    "SIGNALS", "SINGLE", "STRATEGY", "SURFACE", "SYMBOL", "SYMBOL_COL", "TABLES", "Table", "UNIVERSE",
    "VENUE_SYMBOL_DATE", "WAREHOUSE_FILE", "ZONE_ORDER", "family_models_dir", "in_lane", "in_zone", "mlflow_dir",
    "micro_report_file", "model_dir", "partition_date_expr", "report_file", "table", "universe_horizon_file",
    "universe_report_file", "universe_walkforward_dir",
    "warehouse_file",
]
