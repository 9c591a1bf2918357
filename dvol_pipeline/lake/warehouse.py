"""The analysts' DuckDB file: a view per lake table over its hive-partitioned Parquet.

Views read the Parquet live, so a new partition of a table that already has a view needs nothing
here. What a refresh maintains is `lake_files`, a manifest of every table file with its row count
(what `lake_catalog` sums), and the set of views: a table's first file creates its view, its last
file's removal drops it. A refresh applies the lake's write journal (lake/journal.py: every table
write says which files it wrote, with their rows) to the manifest, so its work is the run's writes,
not the lake's size; a full build (`full=True`, the first build, or a file from before the manifest)
walks the lake and reads every file's footer instead.

It is written into a new file (a copy of the old one, for a refresh) and renamed over the old one,
so an analyst holding the old file open read-only never blocks a run (and a run never fails because
of them); they see the new views on their next connect.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from dvol_pipeline.lake import journal
from dvol_pipeline.lake.catalog import QUARANTINE, TABLES, ZONE_ORDER, Table, warehouse_file

ColumnDocs = dict[str, dict[str, str]]
"""table -> column -> description, for columns the catalog leaves to the code computing them."""

MANIFEST = "lake_files"
CATALOG = "lake_catalog"


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
    found += [(journal.view_name(t.quarantine()), t.quarantine()) for t in ordered
              if t.raw is not None and t.quarantine().files(root)]
    return found


def _table_of(view: str, name: str, zone: str) -> Table:
    return TABLES[name].quarantine() if zone == QUARANTINE else TABLES[name]


def _describe(con: duckdb.DuckDBPyConnection, view: str, t: Table, extra: dict[str, str]) -> None:
    con.execute(f"COMMENT ON VIEW {view} IS {_sql_str(t.doc)}")
    if t.zone == QUARANTINE:
        return
    columns = {**extra, **t.column_docs()}
    present = {r[0] for r in con.execute(f"SELECT column_name FROM duckdb_columns() WHERE table_name = '{view}'").fetchall()}
    for name, text in columns.items():
        if name in present:
            con.execute(f"COMMENT ON COLUMN {view}.{name} IS {_sql_str(text)}")


def _create_manifest(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE TABLE {MANIFEST} (view_name VARCHAR, zone VARCHAR, lake_table VARCHAR, path VARCHAR PRIMARY KEY, "
                "row_count BIGINT)")
    con.execute(f"COMMENT ON TABLE {MANIFEST} IS 'Every Parquet file of the lake (path under the lake root) with its "
                "rows: kept current by each refresh from the lake''s write journal.'")
    con.execute(f"CREATE VIEW {CATALOG} AS SELECT view_name, zone, lake_table, sum(row_count)::BIGINT AS row_count, "
                f"count(*)::BIGINT AS partition_count FROM {MANIFEST} GROUP BY ALL")
    con.execute(f"COMMENT ON VIEW {CATALOG} IS 'Every view in this file, with its rows and files.'")


def _walk(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """The manifest from the lake itself: every table's files and their footers' row counts."""
    prefix = str(root.resolve()) + os.sep
    for view, t in _lake_tables(root):
        glob = str(t.base(root).resolve() / "**" / "*.parquet")
        rows = con.execute(f"SELECT file_name, num_rows FROM parquet_file_metadata({_sql_str(glob)})").fetchall()
        con.executemany(f"INSERT INTO {MANIFEST} VALUES (?, ?, ?, ?, ?)",
                        [(view, t.zone, t.name, f.removeprefix(prefix).replace(os.sep, "/"), int(n)) for f, n in rows])


def _apply(con: duckdb.DuckDBPyConnection, entries: list[journal.Entry]) -> None:
    """The journal's lines on the manifest: each file's last line wins (written: its rows; removed: gone)."""
    last = {e.path: e for e in entries}
    if not last:
        return
    # one statement each, not one per file: a DELETE per path scanned the whole manifest (~37k rows
    # on the demo lake) each time, 0.2-0.4 s of an eod's ~70 files; unnest keeps the list's order
    con.execute(f"DELETE FROM {MANIFEST} WHERE path IN (SELECT unnest(?::VARCHAR[]))", [list(last)])
    added = [e for e in last.values() if e.added]
    if added:
        con.execute(f"INSERT INTO {MANIFEST} SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
                    "unnest(?::VARCHAR[]), unnest(?::BIGINT[])",
                    [[e.view for e in added], [e.zone for e in added], [e.table for e in added],
                     [e.path for e in added], [int(e.rows) for e in added]])


def _sync_views(con: duckdb.DuckDBPyConnection, root: Path, column_docs: ColumnDocs) -> None:
    """A view for every table the manifest holds files of, none for the others."""
    have = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()} - {CATALOG}
    want = {r[0]: (r[1], r[2]) for r in con.execute(
        f"SELECT DISTINCT view_name, lake_table, zone FROM {MANIFEST} ORDER BY view_name").fetchall()}
    for view in sorted(have - set(want)):
        con.execute(f"DROP VIEW {view}")
    for view in sorted(set(want) - have):
        name, zone = want[view]
        t = _table_of(view, name, zone)
        glob = str(t.base(root) / "**" / "*.parquet")
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet({_sql_str(glob)}, "
                    "hive_partitioning = true, union_by_name = true)")
        _describe(con, view, t, column_docs.get(name, {}))


def _views(con: duckdb.DuckDBPyConnection) -> list[WarehouseView]:
    rank = {z: i for i, z in enumerate(ZONE_ORDER)}
    rows = con.execute(f"SELECT view_name, zone, lake_table, row_count, partition_count FROM {CATALOG}").fetchall()
    views = [WarehouseView(v, z, t, int(n), int(f)) for v, z, t, n, f in rows]
    return sorted(views, key=lambda v: (v.zone == QUARANTINE, rank.get(v.zone, len(rank)), v.name))


def _has_manifest(path: Path) -> bool:
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [MANIFEST]).fetchone()[0])
    except duckdb.Error:
        return False


def build_warehouse(root: Path, column_docs: ColumnDocs | None = None, full: bool = False) -> list[WarehouseView]:
    """Refresh `warehouse.duckdb` (temp file + rename): the journal's writes since the last refresh
    applied, or (`full`, or no usable file yet) the whole lake walked. `column_docs` adds comments
    for columns the catalog does not declare (features)."""
    target = warehouse_path(root)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    claimed = journal.claim(root)  # before the walk: a write after it is applied next time (idempotent)
    incremental = not full and target.exists() and _has_manifest(target)
    try:
        if incremental:
            shutil.copyfile(target, tmp)
        with duckdb.connect(str(tmp)) as con:
            if incremental:
                _apply(con, journal.read(claimed))
            else:
                _create_manifest(con)
                _walk(con, root)
            _sync_views(con, root, column_docs or {})
            views = _views(con)
            con.execute("CHECKPOINT")
        os.replace(tmp, target)
    except BaseException:
        journal.unclaim(claimed)
        raise
    finally:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
    journal.release(claimed)
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
