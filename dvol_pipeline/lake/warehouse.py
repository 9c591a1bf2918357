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

from dvol_pipeline.lake.catalog import QUARANTINE, TABLES, ZONE_ORDER, Table, warehouse_file

ColumnDocs = dict[str, dict[str, str]]
"""table -> column -> description, for columns the catalog leaves to the code computing them."""


@dataclass(frozen=True)
class WarehouseView:
    name: str
    zone: str
    table: str
    rows: int
    partitions: int


def warehouse_path(root: Path) -> Path:
    return warehouse_file(root)


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _lake_tables(root: Path) -> list[tuple[str, Table]]:
    """(view name, table) for every catalog table with data, then every quarantine with rows."""
    ordered = sorted(TABLES.values(), key=lambda t: t.name)
    found = [(t.name, t) for zone in ZONE_ORDER for t in ordered if t.zone == zone and t.files(root)]
    found += [(f"quarantine_{t.name}", t.quarantine()) for t in ordered
              if t.raw is not None and t.quarantine().files(root)]
    return found


def _describe(con: duckdb.DuckDBPyConnection, view: str, t: Table, extra: dict[str, str]) -> None:
    con.execute(f"COMMENT ON VIEW {view} IS {_sql_str(t.doc)}")
    if t.zone == QUARANTINE:
        return
    columns = {**extra, **t.column_docs()}
    present = {r[0] for r in con.execute(f"SELECT column_name FROM duckdb_columns() WHERE table_name = '{view}'").fetchall()}
    for name, text in columns.items():
        if name in present:
            con.execute(f"COMMENT ON COLUMN {view}.{name} IS {_sql_str(text)}")


def build_warehouse(root: Path, column_docs: ColumnDocs | None = None) -> list[WarehouseView]:
    """Write `warehouse.duckdb` anew (temp file + rename) with a view per lake table.

    `column_docs` adds comments for columns the catalog does not declare (features)."""
    target = warehouse_path(root)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    views: list[WarehouseView] = []
    try:
        with duckdb.connect(str(tmp)) as con:
            for name, t in _lake_tables(root):
                glob = str(t.base(root) / "**" / "*.parquet")
                con.execute(
                    f"CREATE VIEW {name} AS SELECT * FROM read_parquet({_sql_str(glob)}, "
                    "hive_partitioning = true, union_by_name = true)"
                )
                _describe(con, name, t, (column_docs or {}).get(t.name, {}))
                # rows and files from the footers DuckDB reads anyway (a count(*) over the view held
                # the whole chain in memory; a second glob in Python slowed every eod)
                rows, files = con.execute(
                    f"SELECT coalesce(sum(num_rows), 0), count(DISTINCT file_name) "
                    f"FROM parquet_file_metadata({_sql_str(glob)})"
                ).fetchone()
                views.append(WarehouseView(name, t.zone, t.name, int(rows), int(files)))
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
