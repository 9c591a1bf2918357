"""Compare every view and table of two lakes' warehouses: do users see the same results?

    python -m dvol_pipeline_tests.bench.compare_lakes BEFORE_LAKE AFTER_LAKE [--tol 1e-9]
        [--ignore-column REGEX ...] [--no-default-ignores] [--only REGEX] [--sample N]

Opens `<lake>/warehouse.duckdb` of both lakes read-only (ATTACHed to one in-memory DuckDB) and,
for every view or table present in both:

* column names, order and types (a column whose type differs is reported and not compared);
* row counts;
* the rows. Non-float columns (after dropping ignored ones) are the key: rows are matched on
  equal keys (NULL matches NULL) and, inside a group of equal keys, by their rank when sorted on
  the float columns rounded to ~6 significant digits, then on the exact floats. Rounding first
  keeps a value that moved in its last bit from swapping rows; only rows whose floats all agree
  to ~1e-6 relative yet differ exactly, inside one key group, can still be misaligned. A row
  whose key is only on one side is a difference (and each key column's value counts are compared
  to say which column it is). Float cells of matched rows are bit-identical (`=`, so NaN equals
  NaN and 0.0 equals -0.0), within tol (|a-b| <= tol * max(1, |a|, |b|), both finite), or
  different. All of it is DuckDB SQL: no Python loop over rows or cells.

VARCHAR cells have each lake's own folder replaced by `<LAKE>` before comparing, so a path into
the lake (a tear sheet's file) compares equal between lakes in different folders
(`--keep-paths` turns that off).

Prints one line per table (name, rows, identical / within tol / DIFFERENT with details), the
tables present in one lake only, the ignored columns that were skipped, and a summary. Exit
status 1 if anything is DIFFERENT, failed to read, or present in one lake only; else 0.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

WAREHOUSE_FILE = "warehouse.duckdb"  # dvol_pipeline.lake.catalog.WAREHOUSE_FILE
FLOAT_TYPES = ("FLOAT", "DOUBLE")
SIG_DIGITS = 6  # floats are sorted on this many significant digits before their exact value

DEFAULT_IGNORES: dict[str, str] = {
    # pattern (re.fullmatch against `column` and `table.column`) -> why it differs between runs.
    #
    # Empty on purpose. Two `python -m dvol_pipeline demo` lakes built from the same commit
    # (ea6e23d, into two folders) have no column that differs beyond float noise: the warehouse
    # holds no run id, wall-clock timestamp or MLflow id (those stay in Dagster's metadata and the
    # reports), and no VARCHAR cell holds the lake's folder (tear sheet paths are not in a table;
    # the <LAKE> rewrite below covers it should one appear). Add a column here only when two runs
    # of the same code show it differing.
}

NOISY_BETWEEN_RUNS = frozenset({
    # Tables whose floats moved in the last bits (max rel diff 5e-12, all within tol 1e-9) between
    # those two runs of the same code (the cause is not traced; probably sums whose order depends
    # on threads: chain_exposures' per-expiry sums, ivrank's running means, the universe lane's
    # models and metrics). A
    # "within tol" verdict for one of these is expected; for any other table it means the new
    # code computes in another order (harmless at 1e-9, but worth knowing).
    "chain_exposures", "ivrank_regime_choices", "universe_calibration", "universe_forecast_metrics",
    "universe_predictions", "universe_strategy_daily", "universe_strategy_metrics",
})

A, B = "lake_a", "lake_b"  # the ATTACH aliases of the before and after warehouses


@dataclass
class Column:
    name: str
    type: str

    @property
    def is_float(self) -> bool:
        return self.type in FLOAT_TYPES


@dataclass
class Result:
    name: str
    kind: str
    rows_a: int | None = None
    rows_b: int | None = None
    status: str = "identical"  # identical | within tol | DIFFERENT | ERROR
    detail: str = ""
    lines: list[str] = field(default_factory=list)  # indented lines printed under the table's line
    ignored: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status in ("DIFFERENT", "ERROR")

    def fail(self, what: str) -> None:
        self.status = "DIFFERENT"
        self.detail = f"{self.detail}; {what}" if self.detail else what

    def line(self) -> str:
        if self.rows_a is None or self.rows_b is None:
            rows = "?"
        else:
            rows = f"{self.rows_a:,}" if self.rows_a == self.rows_b else f"{self.rows_a:,} vs {self.rows_b:,}"
        text = f"{self.name:<34} {rows:>13} rows  {self.status}"
        text += f": {self.detail}" if self.detail else ""
        if self.status == "within tol" and self.name in NOISY_BETWEEN_RUNS:
            text += " (moves between two runs of the same code too)"
        return text


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def objects(con: duckdb.DuckDBPyConnection, db: str) -> dict[str, tuple[str, str]]:
    """name -> (kind, qualified SQL name) for every user table and view of an attached database."""
    rows = con.execute(
        "SELECT schema_name, table_name, 'table' FROM duckdb_tables() WHERE database_name = ? AND NOT internal "
        "UNION ALL SELECT schema_name, view_name, 'view' FROM duckdb_views() WHERE database_name = ? AND NOT internal",
        [db, db],
    ).fetchall()
    out = {}
    for schema, name, kind in rows:
        key = name if schema == "main" else f"{schema}.{name}"
        out[key] = (kind, f"{db}.{q(schema)}.{q(name)}")
    return out


def columns(con: duckdb.DuckDBPyConnection, qualified: str) -> list[Column]:
    """The columns as a user's `SELECT *` sees them (a view over Parquet is bound against the files now)."""
    return [Column(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {qualified}").fetchall()]


def rounded(expr: str) -> str:
    """`expr` (a float) rounded to SIG_DIGITS significant digits, for sorting; non-finite and
    denormal-small values as they are."""
    x = f"({expr})::DOUBLE"
    return (f"CASE WHEN isfinite({x}) AND abs({x}) > 1e-290 "
            f"THEN round({x}, ({SIG_DIGITS - 1} - floor(log10(abs({x}))))::INTEGER) ELSE {x} END")


def value_expr(col: Column, lake_dirs: list[str]) -> str:
    expr = q(col.name)
    if col.type == "VARCHAR":
        for d in lake_dirs:
            expr = f"replace({expr}, {lit(d)}, '<LAKE>')"
    return expr


def lake_dirs(root: Path, keep_paths: bool) -> list[str]:
    if keep_paths:
        return []
    dirs = {str(root.absolute()), str(root.resolve())}
    return sorted(dirs, key=len, reverse=True)  # the longer first, when one contains the other


def ignored(patterns: list[re.Pattern], table: str, column: str) -> bool:
    return any(p.fullmatch(column) or p.fullmatch(f"{table}.{column}") for p in patterns)


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def compare_table(con: duckdb.DuckDBPyConnection, name: str, qa: str, qb: str, kind: str, tol: float,
                  patterns: list[re.Pattern], dirs_a: list[str], dirs_b: list[str], sample: int) -> Result:
    res = Result(name, kind)
    try:
        # one scan of each side (a view reads thousands of Parquet files): everything below reads these
        con.execute(f"CREATE OR REPLACE TEMP TABLE raw_a AS SELECT * FROM {qa}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE raw_b AS SELECT * FROM {qb}")
        _compare(con, res, tol, patterns, dirs_a, dirs_b, sample)
    finally:
        for tmp in ("raw_a", "raw_b", "cmp_a", "cmp_b"):
            con.execute(f"DROP TABLE IF EXISTS {tmp}")
    return res


def _compare(con: duckdb.DuckDBPyConnection, res: Result, tol: float, patterns: list[re.Pattern],
             dirs_a: list[str], dirs_b: list[str], sample: int) -> None:
    name = res.name
    qa, qb = "raw_a", "raw_b"
    cols_a, cols_b = columns(con, qa), columns(con, qb)
    res.rows_a = con.execute(f"SELECT count(*) FROM {qa}").fetchone()[0]
    res.rows_b = con.execute(f"SELECT count(*) FROM {qb}").fetchone()[0]
    if res.rows_a != res.rows_b:
        res.fail(f"row count {res.rows_a:,} vs {res.rows_b:,}")

    # --- schema
    by_a, by_b = {c.name: c for c in cols_a}, {c.name: c for c in cols_b}
    only_a = [c for c in by_a if c not in by_b]
    only_b = [c for c in by_b if c not in by_a]
    if only_a or only_b:
        res.fail(f"columns only in before {only_a}, only in after {only_b}")
    common = [c for c in by_a if c in by_b]
    if not (only_a or only_b) and [c.name for c in cols_a] != [c.name for c in cols_b]:
        res.fail("column order differs")
        res.lines.append(f"before: {[c.name for c in cols_a]}")
        res.lines.append(f"after:  {[c.name for c in cols_b]}")
    compared: list[Column] = []
    for c in common:
        if by_a[c].type != by_b[c].type:
            res.fail(f"type of {c} {by_a[c].type} vs {by_b[c].type} (values not compared)")
        elif ignored(patterns, name, c):
            res.ignored.append(c)
        else:
            compared.append(by_a[c])
    keys = [c for c in compared if not c.is_float]
    floats = [c for c in compared if c.is_float]
    nested = [c.name for c in keys if any(t in c.type for t in FLOAT_TYPES)]
    if nested:
        res.lines.append(f"note: nested columns holding floats are compared exactly: {nested}")
    if not compared:
        return

    # --- rows: each side numbered inside its key group, then matched on (key, number)
    def side(qualified: str, dirs: list[str], tmp: str) -> None:
        sel = [f"{value_expr(c, dirs)} AS k{i}" for i, c in enumerate(keys)]
        sel += [f"{q(c.name)} AS f{i}" for i, c in enumerate(floats)]
        part = ("PARTITION BY " + ", ".join(f"k{i}" for i in range(len(keys)))) if keys else ""
        order = [rounded(f"f{i}") for i in range(len(floats))] + [f"f{i}" for i in range(len(floats))]
        order_by = ("ORDER BY " + ", ".join(order)) if order else ""
        con.execute(f"CREATE OR REPLACE TEMP TABLE {tmp} AS SELECT *, row_number() OVER ({part} {order_by}) AS rn "
                    f"FROM (SELECT {', '.join(sel)} FROM {qualified})")

    side(qa, dirs_a, "cmp_a")
    side(qb, dirs_b, "cmp_b")
    on = " AND ".join([f"a.k{i} IS NOT DISTINCT FROM b.k{i}" for i in range(len(keys))] + ["a.rn = b.rn"])
    matched = "a.rn IS NOT NULL AND b.rn IS NOT NULL"
    aggs = ["count(*) FILTER (WHERE a.rn IS NULL)", "count(*) FILTER (WHERE b.rn IS NULL)"]
    for i in range(len(floats)):
        fa, fb = f"a.f{i}", f"b.f{i}"
        neq = f"{matched} AND NOT ({fa} IS NOT DISTINCT FROM {fb})"
        finite = f"isfinite({fa}) AND isfinite({fb})"
        within = f"{finite} AND abs({fa} - {fb}) <= {tol!r} * greatest(1, abs({fa}), abs({fb}))"
        aggs += [
            f"count(*) FILTER (WHERE {neq} AND {within})",  # moved, within tol
            f"count(*) FILTER (WHERE {neq} AND NOT coalesce({within}, false))",  # different
            f"max(abs({fa} - {fb})) FILTER (WHERE {neq} AND {finite})",
            f"max(abs({fa} - {fb}) / greatest(abs({fa}), abs({fb}))) FILTER (WHERE {neq} AND {finite})",
        ]
    join = f"cmp_a a FULL OUTER JOIN cmp_b b ON {on}"
    got = con.execute(f"SELECT {', '.join(aggs)} FROM {join}").fetchone()
    only_rows_a, only_rows_b = got[1], got[0]
    moved, bad = {}, {}
    max_abs = max_rel = None
    for i, c in enumerate(floats):
        n_moved, n_bad, d_abs, d_rel = got[2 + 4 * i: 6 + 4 * i]
        if n_moved:
            moved[c.name] = n_moved
        if n_bad:
            bad[c.name] = n_bad
        if d_abs is not None:
            max_abs = d_abs if max_abs is None else max(max_abs, d_abs)
        if d_rel is not None:
            max_rel = d_rel if max_rel is None else max(max_rel, d_rel)

    if only_rows_a or only_rows_b:
        # which key columns: those whose multiset of values differs between the sides
        which = []
        for i, c in enumerate(keys):
            n_a, n_b = con.execute(
                f"SELECT (SELECT count(*) FROM (SELECT k{i} FROM cmp_a EXCEPT ALL SELECT k{i} FROM cmp_b)), "
                f"(SELECT count(*) FROM (SELECT k{i} FROM cmp_b EXCEPT ALL SELECT k{i} FROM cmp_a))").fetchone()
            if n_a or n_b:
                which.append(f"{c.name} ({n_a}/{n_b})")
        res.fail(f"{only_rows_a:,} rows only in before, {only_rows_b:,} only in after (unmatched on the "
                 f"non-float columns; value counts differ in: {', '.join(which) or 'no single column'})")
        names = [c.name for c in keys] + [c.name for c in floats]
        for label, this, other in (("before", "cmp_a", "cmp_b"), ("after", "cmp_b", "cmp_a")):
            rows = con.execute(
                f"SELECT * EXCLUDE (rn) FROM {this} a ANTI JOIN {other} b ON {on} ORDER BY ALL LIMIT {sample}"
            ).fetchall()
            for r in rows:
                res.lines.append(f"only in {label}: " + short(dict(zip(names, r, strict=True))))
    if bad:
        res.fail("float columns beyond tol: " + ", ".join(f"{k} ({v:,} rows)" for k, v in bad.items())
                 + f"; max abs diff {fmt(max_abs)}, max rel diff {fmt(max_rel)}")
        key_names = ", ".join(f"a.k{i}" for i in range(len(keys)))
        for i, c in enumerate(floats):
            if c.name not in bad:
                continue
            fa, fb = f"a.f{i}", f"b.f{i}"
            cond = (f"NOT ({fa} IS NOT DISTINCT FROM {fb}) AND NOT coalesce(isfinite({fa}) AND isfinite({fb}) "
                    f"AND abs({fa} - {fb}) <= {tol!r} * greatest(1, abs({fa}), abs({fb})), false)")
            sel = f"{key_names + ', ' if keys else ''}{fa}, {fb}"
            rows = con.execute(f"SELECT {sel} FROM cmp_a a JOIN cmp_b b ON {on} WHERE {cond} "
                               f"ORDER BY ALL LIMIT {sample}").fetchall()
            for r in rows:
                key = dict(zip([k.name for k in keys], r[:-2], strict=True))
                res.lines.append(f"{c.name}: {r[-2]!r} vs {r[-1]!r} at {short(key)}")
    if not res.failed and moved:
        res.status = "within tol"
        res.detail = (f"max abs diff {fmt(max_abs)}, max rel diff {fmt(max_rel)}, {sum(moved.values()):,} cells "
                      "moved (" + ", ".join(f"{k} {v:,}" for k, v in moved.items()) + ")")
    elif res.failed and moved:
        res.lines.append("float cells moved within tol: " + ", ".join(f"{k} {v:,}" for k, v in moved.items()))


def short(row: dict, width: int = 220) -> str:
    text = ", ".join(f"{k}={v!r}" if isinstance(v, str | float) else f"{k}={v}" for k, v in row.items())
    return text if len(text) <= width else text[: width - 3] + "..."


def compare_lakes(before: Path, after: Path, tol: float = 1e-9, ignore: list[str] | None = None,
                  keep_paths: bool = False, only: str | None = None, sample: int = 3,
                  out=None) -> int:
    """Print the comparison (to `out`, default stdout); return the exit status (1 if anything
    differs or is missing, 2 if a warehouse is not there). `ignore` is the whole list of column
    patterns: `main` puts DEFAULT_IGNORES in it unless --no-default-ignores."""
    out = out or sys.stdout
    patterns = [re.compile(p) for p in (ignore or [])]
    files = []
    for lake in (before, after):
        path = Path(lake) / WAREHOUSE_FILE
        if not path.is_file():
            print(f"error: no warehouse at {path}", file=out)
            return 2
        files.append(path)
    con = duckdb.connect()
    con.execute("SET parquet_metadata_cache = true")
    con.execute(f"ATTACH {lit(str(files[0]))} AS {A} (READ_ONLY)")
    con.execute(f"ATTACH {lit(str(files[1]))} AS {B} (READ_ONLY)")
    obj_a, obj_b = objects(con, A), objects(con, B)
    names = sorted(set(obj_a) | set(obj_b))
    if only:
        names = [n for n in names if re.search(only, n)]
    print(f"before: {files[0]} ({len(obj_a)} views and tables)\nafter:  {files[1]} ({len(obj_b)} views and "
          f"tables)\ntol {tol:g}; ignored column patterns: {[p.pattern for p in patterns] or 'none'}"
          f"{'' if keep_paths else '; lake folders in VARCHAR cells read as <LAKE>'}\n", file=out)
    results: list[Result] = []
    for name in names:
        if name not in obj_a or name not in obj_b:
            continue
        t0 = time.perf_counter()
        try:
            res = compare_table(con, name, obj_a[name][1], obj_b[name][1], obj_a[name][0], tol, patterns,
                                lake_dirs(Path(before), keep_paths), lake_dirs(Path(after), keep_paths), sample)
        except duckdb.Error as err:
            res = Result(name, obj_a[name][0], status="ERROR", detail=str(err).splitlines()[0])
        results.append(res)
        print(res.line() + f"  [{time.perf_counter() - t0:.1f} s]", file=out, flush=True)
        for line in res.lines:
            print(f"    {line}", file=out)
    missing_b = [n for n in names if n in obj_a and n not in obj_b]
    missing_a = [n for n in names if n in obj_b and n not in obj_a]
    con.close()

    print("", file=out)
    skipped = [f"{r.name}.{c}" for r in results for c in r.ignored]
    print(f"ignored columns skipped ({len(skipped)}): {', '.join(skipped) or 'none'}", file=out)
    if missing_b:
        print(f"MISSING in after (only in before): {', '.join(missing_b)}", file=out)
    if missing_a:
        print(f"MISSING in before (only in after): {', '.join(missing_a)}", file=out)
    counts = {s: sum(r.status == s for r in results) for s in ("identical", "within tol", "DIFFERENT", "ERROR")}
    failed = [r.name for r in results if r.failed]
    print(f"summary: {len(results)} compared: {counts['identical']} identical, {counts['within tol']} within tol, "
          f"{counts['DIFFERENT']} DIFFERENT, {counts['ERROR']} ERROR; {len(missing_b)} only in before, "
          f"{len(missing_a)} only in after" + (f"; failing: {', '.join(failed)}" if failed else ""), file=out)
    return 1 if failed or missing_a or missing_b else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dvol_pipeline_tests.bench.compare_lakes",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("before", type=Path, help="the lake folder before (holds warehouse.duckdb)")
    p.add_argument("after", type=Path, help="the lake folder after")
    p.add_argument("--tol", type=float, default=1e-9,
                   help="float tolerance: |a-b| <= tol * max(1, |a|, |b|) (default 1e-9)")
    p.add_argument("--ignore-column", action="append", default=[], metavar="REGEX",
                   help="skip columns whose name or table.name fully matches REGEX (repeatable), "
                        "on top of the defaults")
    p.add_argument("--no-default-ignores", action="store_true",
                   help="compare the columns known to differ between two runs of the same code too")
    p.add_argument("--keep-paths", action="store_true", help="do not read each lake's folder as <LAKE> in text")
    p.add_argument("--only", metavar="REGEX", help="compare only the views/tables whose name matches REGEX")
    p.add_argument("--sample", type=int, default=3, help="differing rows shown per table and column (default 3)")
    args = p.parse_args(argv)
    ignore = ([] if args.no_default_ignores else list(DEFAULT_IGNORES)) + args.ignore_column
    return compare_lakes(args.before, args.after, args.tol, ignore, args.keep_paths, args.only, args.sample)


if __name__ == "__main__":
    sys.exit(main())
