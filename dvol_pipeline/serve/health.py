"""`/health`: is the lake there, how old is each table, what did the last runs and checks do.

Partition ages come from `lake/freshness.py` (folder names, the same rule as the `fresh`
checks); whole-table files report when they were written. Runs and failed checks are read
from Dagster's SQLite storage under `<lake>/.dagster` opened read-only (`mode=ro`), so the
service never takes a lock the pipeline waits on; with another storage (PostgreSQL) the
section says it is unavailable instead of guessing.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

from dvol_pipeline.lake.catalog import QUARANTINE, TABLES, report_file
from dvol_pipeline.lake.freshness import freshness_report
from dvol_pipeline.settings import dagster_home, dagster_ui_url

RUNS_SHOWN = 10
FAILED_CHECKS_SHOWN = 20


def _mtime(path: Path) -> str | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    except FileNotFoundError:
        return None


def table_freshness(root: Path, today: date, max_age_days: int) -> list[dict]:
    """Tables of one partition per (coin, day) by coin, from the freshness report; every other table
    by its newest partition in time (a fold) and when that was written, or, where its files hold whole
    histories (one file, one per coin), when the newest of them was written."""
    daily = [t for t in TABLES.values() if t.per_coin_day and t.zone != QUARANTINE]
    report = freshness_report(root, [t.name for t in daily], today, max_age_days)
    layouts = {t.name: t.layout for t in daily}
    out = [{"table": t, "layout": layouts[t], "asset": a, "newest": n.isoformat() if n else None, "age_days": age,
            "stale": s, "missing": n is None} for t, a, n, age, s in report.iter_rows()]
    for t in TABLES.values():
        if t.per_coin_day:
            continue
        parts = t.partitions(root, with_file=True)
        entry: dict = {"table": t.name, "layout": t.layout}
        if t.time_key:
            newest = max((v[t.time_key] for v, _ in parts), default=None)
            parts = [(v, d) for v, d in parts if v[t.time_key] == newest]
            entry["newest"] = newest
        stamps = [m for v, _ in parts if (m := _mtime(t.path(root, **v))) is not None]
        out.append({**entry, "written_at": max(stamps) if stamps else None, "stale": False, "missing": not stamps})
    return out


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.5)


def dagster_activity(root: Path) -> dict:
    """Newest runs and newest failed check executions, or why they cannot be read."""
    history = dagster_home(root) / "history"
    runs_db, index_db = history / "runs.db", history / "runs" / "index.db"
    if not runs_db.is_file():
        return {"available": False, "why": f"no Dagster SQLite run storage at {runs_db} (no run yet, or another "
                                           "storage such as PostgreSQL: see the Dagster UI)"}
    try:
        with _ro(runs_db) as con:
            runs = [dict(zip(("run_id", "job", "status", "started", "ended"), r, strict=True)) for r in con.execute(
                "SELECT run_id, pipeline_name, status, start_time, end_time FROM runs ORDER BY id DESC LIMIT ?",
                (RUNS_SHOWN,))]
        failed = []
        if index_db.is_file():
            with _ro(index_db) as con:
                failed = [dict(zip(("asset", "check", "partition", "run_id", "at"), r, strict=True)) for r in con.execute(
                    "SELECT asset_key, check_name, partition, run_id, create_timestamp FROM asset_check_executions "
                    "WHERE execution_status = 'FAILED' ORDER BY id DESC LIMIT ?", (FAILED_CHECKS_SHOWN,))]
    except sqlite3.Error as err:
        return {"available": False, "why": f"Dagster storage unreadable: {err}"}
    for r in runs:
        for k in ("started", "ended"):
            r[k] = datetime.fromtimestamp(r[k], UTC).isoformat(timespec="seconds") if r[k] else None
        r["url"] = f"{dagster_ui_url()}/runs/{r['run_id']}"
    return {"available": True, "runs": runs, "failed_checks": failed}


def tear_sheets(root: Path, coins: list[str]) -> list[dict]:
    """Links (under /reports/) to the newest run's tear sheet of each coin that has one."""
    base = report_file(root, "latest", "X").parent.parent
    out = []
    for coin in coins:
        path = report_file(root, "latest", coin)
        if path.is_file():
            out.append({"asset": coin, "url": "/reports/" + path.relative_to(base).as_posix(),
                        "written_at": _mtime(path)})
    return out


def health(root: Path, today: date, max_age_days: int, coins: list[str]) -> dict:
    found = Path(root).is_dir()
    tables = table_freshness(root, today, max_age_days) if found else []
    stale = sorted({t["table"] for t in tables if t["stale"] and not t["missing"]})
    missing = sorted({t["table"] for t in tables if t["missing"]})
    return {
        "lake": str(root), "lake_found": found, "today": today.isoformat(), "max_age_days": max_age_days,
        "status": "ok" if found and not stale else ("no lake" if not found else "stale"),
        "stale_tables": stale, "missing_tables": missing, "tables": tables,
        "dagster": dagster_activity(root) if found else {"available": False, "why": "lake not found"},
        "dagster_ui": dagster_ui_url(), "tear_sheets": tear_sheets(root, coins) if found else [],
    }
