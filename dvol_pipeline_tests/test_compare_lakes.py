"""compare_lakes on two hand-made warehouses: identical, moved in the last bits, really different, missing."""

from __future__ import annotations

import io
import re
from pathlib import Path

import duckdb

from dvol_pipeline_tests.bench.compare_lakes import WAREHOUSE_FILE, compare_lakes, main

SAME = "INSERT INTO same VALUES (1, 'a', 1.5), (2, NULL, NULL), (3, 'c', 'nan'::DOUBLE), (4, 'd', 1e300)"


def _lake(root: Path, sql: str) -> Path:
    root.mkdir()
    with duckdb.connect(str(root / WAREHOUSE_FILE)) as con:
        con.execute("CREATE TABLE same (id INTEGER, name VARCHAR, x DOUBLE)")
        con.execute(SAME)
        con.execute("CREATE VIEW same_view AS SELECT id, x FROM same")
        con.execute("CREATE TABLE moved (k VARCHAR, x DOUBLE, y FLOAT)")
        con.execute("CREATE TABLE changed (k VARCHAR, x DOUBLE)")
        con.execute("CREATE TABLE runs (run_id VARCHAR, x DOUBLE)")
        con.execute("CREATE TABLE paths (p VARCHAR)")
        con.execute(f"INSERT INTO paths VALUES ('{root}/reports/latest.html')")
        con.execute(sql)
    return root


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    before = _lake(tmp_path / "before", """
        INSERT INTO moved VALUES ('a', 1.0, 1), ('a', 2.0, 2), ('b', 1e6, 3),
                                 ('c', 1.0, 5), ('c', 1.0000000000000002, 3);
        INSERT INTO changed VALUES ('a', 1.0), ('b', 2.0), ('c', 3.0);
        INSERT INTO runs VALUES ('run-1', 1.0);
        CREATE TABLE gone (x INTEGER); INSERT INTO gone VALUES (1);
    """)
    # the same rows in another order; 'a' has two rows whose x moves in the last bits (the
    # rows must stay aligned), 'b' moves by 1e-12 relative; in 'c' the last-bit moves swap the
    # rows' order by exact x, which must not pair y=5 with y=3 (x is sorted rounded first);
    # `changed` has one float beyond tol and one key that is not there before
    after = _lake(tmp_path / "after", """
        INSERT INTO moved VALUES ('b', 1e6 * (1 + 1e-12), 3), ('a', 2.0 + 1e-13, 2), ('a', 1.0 - 1e-13, 1),
                                 ('c', 1.0000000000000004, 5), ('c', 1.0, 3);
        INSERT INTO changed VALUES ('a', 1.0), ('b', 2.5), ('z', 3.0);
        INSERT INTO runs VALUES ('run-2', 1.0);
    """)
    return before, after


def _verdicts(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        m = re.match(r"(\w+)\s+\S+ rows\s+(identical|within tol|DIFFERENT|ERROR)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def test_verdicts_and_exit_code(tmp_path: Path) -> None:
    before, after = _pair(tmp_path)
    buf = io.StringIO()
    status = compare_lakes(before, after, tol=1e-9, ignore=[r"runs\.run_id"], out=buf)
    text = buf.getvalue()
    assert status == 1, text
    assert _verdicts(text) == {"same": "identical", "same_view": "identical", "moved": "within tol",
                               "changed": "DIFFERENT", "runs": "identical", "paths": "identical"}, text
    moved = next(line for line in text.splitlines() if line.startswith("moved"))
    assert "5 cells moved (x 5)" in moved, moved
    changed = next(line for line in text.splitlines() if line.startswith("changed"))
    assert "1 rows only in before, 1 only in after" in changed and "k (1/1)" in changed, changed
    assert "x (1 rows)" in changed, changed
    assert "x: 2.0 vs 2.5 at k='b'" in text
    assert "only in before: k='c', x=3.0" in text and "only in after: k='z', x=3.0" in text
    assert "MISSING in after (only in before): gone" in text
    assert "ignored columns skipped (1): runs.run_id" in text


def test_tolerance_ignores_and_clean_exit(tmp_path: Path, capsys) -> None:
    before, after = _pair(tmp_path)
    # a tolerance below the moves turns them into differences; without the ignore, run_id differs
    assert main([str(before), str(after), "--tol", "1e-15", "--no-default-ignores", "--only", "moved|runs"]) == 1
    assert _verdicts(capsys.readouterr().out) == {"moved": "DIFFERENT", "runs": "DIFFERENT"}
    # only the tables that agree: exit 0
    assert main([str(before), str(after), "--ignore-column", "run_id", "--only", "^(same|moved|runs|paths)"]) == 0
    assert set(_verdicts(capsys.readouterr().out).values()) == {"identical", "within tol"}
    # each lake's folder in text reads as <LAKE>, unless asked not to
    assert main([str(before), str(after), "--keep-paths", "--only", "paths"]) == 1
    assert main([str(before), before.as_posix()]) == 0
