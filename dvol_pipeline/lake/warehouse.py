"""The analysts' DuckDB file: a view per lake table over its hive-partitioned Parquet.

It is rebuilt into a new file and renamed over the old one, so an analyst holding the
old file open read-only never blocks a run (and a run never fails because of them);
they see the new views on their next connect. Views read the Parquet live, so the file
stays tiny and a refresh takes well under a second.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from dvol_pipeline.contracts.tables import RAW_TABLES

WAREHOUSE_FILE = "warehouse.duckdb"
ZONES = ("raw", "features", "surface", "predictions", "backtest", "signals", "quarantine")


@dataclass(frozen=True)
class WarehouseView:
    name: str
    zone: str
    table: str
    rows: int
    partitions: int


def warehouse_path(root: Path) -> Path:
    return root / WAREHOUSE_FILE


def _view_name(zone: str, table: str) -> str:
    return f"quarantine_{table}" if zone == "quarantine" else table


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _lake_tables(root: Path) -> list[tuple[str, str]]:
    found = []
    for zone in ZONES:
        base = root / zone
        if base.is_dir():
            found += [(zone, t.name) for t in sorted(base.iterdir()) if t.is_dir() and any(t.rglob("*.parquet"))]
    return found


def _docs(table: str) -> tuple[str, dict[str, str]] | None:
    """(table description, column -> description) for the tables the project documents."""
    if table in RAW_TABLES:
        spec = RAW_TABLES[table]
        return spec.doc, {c.name: c.doc for c in spec.columns}
    if table == "features_daily":
        from dvol_pipeline.quant.features import FEATURES, LABELS

        cols = {f.name: f"[{f.group}] {f.definition} (from {f.source_table}, lag {f.lag_days} d)" for f in FEATURES}
        cols.update({name: f"label: DVOL close at date + {h} d minus DVOL close at date" for h, name in LABELS.items()})
        return "Daily DVOL features and labels, one row per (date, asset); no row uses data after its cut-off.", cols
    if table in PREDICTION_DOCS:
        return PREDICTION_DOCS[table], {}
    from dvol_pipeline.lake.backtest import TABLE_DOCS as BACKTEST_DOCS
    from dvol_pipeline.lake.signals import SIGNAL_DOCS, SIGNALS_TABLE
    from dvol_pipeline.lake.surfaces import TABLE_DOCS as SURFACE_DOCS

    if table == SIGNALS_TABLE:
        return "End-of-day signals per (date, coin) from the promoted models.", SIGNAL_DOCS
    if table == "surface_features":
        from dvol_pipeline.quant.features import FEATURES

        return SURFACE_DOCS[table], {f.name: f.definition for f in FEATURES if f.group == "surface"}
    if table in SURFACE_DOCS:
        return SURFACE_DOCS[table], {}
    if table in BACKTEST_DOCS:
        return BACKTEST_DOCS[table], {}
    return None


PREDICTION_DOCS = {
    "oos_predictions": "Walk-forward out-of-sample forecasts: date, asset, horizon, family, fold, y_hat, y (ΔDVOL).",
    "forecast_metrics": "Forecast metrics by scope (overall/fold/regime), family, horizon and asset, "
    "with Diebold-Mariano vs HAR.",
    "feature_importance": "LightGBM mean |SHAP| per feature on each fold's test month.",
    "ablations": "LightGBM test RMSE when one feature group is dropped and the model refitted (delta vs all groups).",
}


def _describe(con: duckdb.DuckDBPyConnection, view: str, zone: str, table: str) -> None:
    docs = _docs(table)
    if docs is None:
        return
    doc, columns = docs
    if zone == "quarantine":
        doc = f"Rows of {table} rejected by its contract, with a reason."
    con.execute(f"COMMENT ON VIEW {view} IS {_sql_str(doc)}")
    if zone == "quarantine":
        return
    present = {r[0] for r in con.execute(f"SELECT column_name FROM duckdb_columns() WHERE table_name = '{view}'").fetchall()}
    for name, text in columns.items():
        if name in present:
            con.execute(f"COMMENT ON COLUMN {view}.{name} IS {_sql_str(text)}")


def build_warehouse(root: Path) -> list[WarehouseView]:
    """Write `warehouse.duckdb` anew (temp file + rename) with a view per lake table."""
    target = warehouse_path(root)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    views: list[WarehouseView] = []
    try:
        with duckdb.connect(str(tmp)) as con:
            for zone, table in _lake_tables(root):
                name = _view_name(zone, table)
                glob = str(root / zone / table / "**" / "*.parquet")
                con.execute(
                    f"CREATE VIEW {name} AS SELECT * FROM read_parquet({_sql_str(glob)}, "
                    "hive_partitioning = true, union_by_name = true)"
                )
                _describe(con, name, zone, table)
                rows = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
                parts = sum(1 for _ in (root / zone / table).rglob("*.parquet"))
                views.append(WarehouseView(name, zone, table, int(rows), parts))
            con.execute(
                "CREATE TABLE lake_catalog (view_name VARCHAR, zone VARCHAR, lake_table VARCHAR, "
                "row_count BIGINT, partition_count BIGINT)"
            )
            con.executemany(
                "INSERT INTO lake_catalog VALUES (?, ?, ?, ?, ?)",
                [(v.name, v.zone, v.table, v.rows, v.partitions) for v in views],
            )
            con.execute("COMMENT ON TABLE lake_catalog IS 'Every view in this file, with its size when built.'")
            con.execute("CHECKPOINT")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
    return views


def query(root: Path, sql: str) -> pl.DataFrame:
    """Run one read-only query on the warehouse (what `python -m dvol_pipeline query` does)."""
    path = warehouse_path(root)
    if not path.exists():
        raise FileNotFoundError(
            f"no warehouse at {path}; run `make demo` or materialize the `warehouse` asset first"
        )
    with duckdb.connect(str(path), read_only=True) as con:
        return con.sql(sql).pl()
