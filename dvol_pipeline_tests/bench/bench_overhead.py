"""`make bench`: what Dagster adds to a daily range backfill, as a ratio, on SQLite and PostgreSQL.

The same range (raw -> surface -> features, BTC and ETH, simulated market) is computed

  (i)  by the pipeline functions called directly, no Dagster: `ingest_table` per raw table,
       `build_surface_range` + `build_greeks_range`, features `build_range`;
  (ii) through Dagster, as ONE single-run backfill (`dg.materialize` with the range tags) on
       the default instance (SQLite, the repo's dagster.yaml) and on the production profile
       (PostgreSQL, deploy/dagster.postgres.yaml, on a throwaway server like the test's),
       each plain and with Dagster's two event-volume settings:
       DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=true (one "planned" event per asset for
       the range instead of one per partition) and DAGSTER_EVENT_BATCH_SIZE (batched writes of
       materialization events; PostgreSQL's event log overrides `store_event_batch`, and so does
       the project's SQLite storage, dvol_pipeline/event_log.py). The CLI sets both by default
       ("default" row); "stock" switches both off, Dagster's own behaviour.

Each measurement runs in a fresh process on a fresh lake; only the compute call is timed (imports,
server start and instance creation are not). overhead = dagster_s / compute_s - 1; the issue's
target is <= 50 %. Prints a table, asserts nothing.

    python -m dvol_pipeline_tests.bench.bench_overhead [--full] [--start D --end D] [--batch 500] [--pg-async]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from dvol_pipeline.cli import EVENT_BATCH_SIZE

START, END = date(2021, 3, 24), date(2021, 6, 30)  # 99 days: every row of the table in ~8 min on 2 cores
FULL_END = date(2024, 12, 31)  # the demo's range: ~1,380 days
SUBSET = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
BATCH = "DAGSTER_EVENT_BATCH_SIZE"
SELECTION = "group:raw or group:surface or group:features"


def compute_direct(lake: str, start: date, end: date, env: dict) -> dict:
    from dvol_pipeline.contracts.tables import RAW_TABLES
    from dvol_pipeline.pipeline.dvol.features import build_range
    from dvol_pipeline.pipeline.ingest import ingest_table
    from dvol_pipeline.pipeline.options.surface import build_greeks_range, build_surface_range
    from dvol_pipeline.resources import MarketResource
    from dvol_pipeline.settings import HISTORY_START

    root, market = Path(lake), MarketResource()
    t0 = time.perf_counter()
    source = market.open()
    coins = list(market.coins)
    for spec in RAW_TABLES.values():
        ingest_table(spec, source, root, start, end, coins)
    build_surface_range(root, start, end, coins)
    build_greeks_range(root, start, end, coins)
    build = build_range(root, date.fromisoformat(HISTORY_START), start, end, coins)
    return {"seconds": time.perf_counter() - t0, "ok": build.leakage.passed, "rows": build.rows.height}


def compute_dagster(lake: str, start: date, end: date, env: dict) -> dict:
    import dagster as dg

    os.environ.update(env)
    os.environ["DVOL_LAKE"] = lake
    from dvol_pipeline.cli import prepare_home
    from dvol_pipeline.definitions import defs
    from dvol_pipeline.resources import LakeResource, MarketResource

    prepare_home(Path(lake))
    with dg.DagsterInstance.get() as instance:
        storage = type(instance.event_log_storage).__name__
        t0 = time.perf_counter()
        result = dg.materialize(
            list(defs.assets or []), selection=SELECTION, instance=instance,
            resources={"lake": LakeResource(root=lake), "market": MarketResource()},
            tags={"dagster/asset_partition_range_start": str(start), "dagster/asset_partition_range_end": str(end)},
            raise_on_error=False,
        )
        seconds = time.perf_counter() - t0
        events = len(instance.get_records_for_run(result.run_id, limit=1_000_000).records)
        planned = len(instance.get_records_for_run(
            result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, limit=1_000_000).records)
    rows = len(list(Path(lake, "features").rglob("*.parquet")))
    return {"seconds": seconds, "ok": result.success, "events": events, "planned": planned, "storage": storage,
            "rows": rows}


def _child(fn, lake, start, end, env, queue) -> None:
    import logging
    import warnings

    logging.disable(logging.INFO)
    warnings.filterwarnings("ignore")
    try:
        queue.put(fn(lake, start, end, env))
    except Exception as err:  # noqa: BLE001 - reported in the table, the other rows still run
        queue.put({"seconds": float("nan"), "ok": False, "error": f"{type(err).__name__}: {err}"})


def measure(fn, start: date, end: date, env: dict | None = None) -> dict:
    """`fn` in a fresh process on a fresh lake (no warm caches, its own imports)."""
    with tempfile.TemporaryDirectory(prefix="dvol-overhead-") as lake:
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(fn, lake, start, end, env or {}, queue))
        proc.start()
        out = queue.get()
        proc.join()
        return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--start", type=date.fromisoformat, default=START)
    p.add_argument("--end", type=date.fromisoformat, default=None)
    p.add_argument("--full", action="store_true", help=f"the demo's range, {START}..{FULL_END} (~1,380 days)")
    p.add_argument("--batch", type=int, default=int(EVENT_BATCH_SIZE),
                   help=f"{BATCH} for the batched rows (default {EVENT_BATCH_SIZE}, the CLI's)")
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.add_argument("--no-variants", action="store_true", help="the CLI's default settings only")
    p.add_argument("--pg-async", action="store_true",
                   help="also PostgreSQL with synchronous_commit=off (is a row's time the WAL flush per commit?)")
    args = p.parse_args(argv)
    start, end = args.start, args.end or (FULL_END if args.full else END)
    days = (end - start).days + 1
    print(f"Dagster overhead benchmark: raw -> surface -> features, BTC+ETH, {start}..{end} ({days} days), "
          f"{os.cpu_count()} cores, one single-run backfill per row\n")

    direct = measure(compute_direct, start, end)
    base = direct["seconds"]
    print(f"{'pipeline functions, no Dagster':<58} {base:7.1f} s{'':>10}  ok={direct['ok']}\n")
    variants = [(f"default: A + batch {args.batch} (B)", {SUBSET: "true", BATCH: str(args.batch)})]
    if not args.no_variants:
        variants = [("stock (neither)", {SUBSET: "false", BATCH: "0"}),
                    ("planned subset (A)", {SUBSET: "true", BATCH: "0"}), *variants]
    backends = [("SQLite", {}, None)]
    if not args.no_postgres:
        backends.append(("PostgreSQL", {}, "postgres"))
        if args.pg_async:
            backends.append(("PostgreSQL synchronous_commit=off", {"synchronous_commit": "off"}, "postgres"))
    print(f"(A) {SUBSET}=true   (B) {BATCH}={args.batch}\n"
          "SQLite: the repo's dagster.yaml; PostgreSQL: deploy/dagster.postgres.yaml on a throwaway local server\n")
    header = f"{'Dagster single-run backfill':<58} {'dagster':>8} {'overhead':>9} {'events':>7} {'planned':>8}"
    print(header)
    rows = []
    for name, settings, kind in backends:
        for label, extra in variants:
            if kind == "postgres":
                from dvol_pipeline.settings import REPO_ROOT
                from dvol_pipeline_tests.pg_server import throwaway_postgres

                with throwaway_postgres(settings=settings) as server:  # a fresh server per row
                    out = measure(compute_dagster, start, end, {
                        **extra, **server.env,
                        "DVOL_DAGSTER_YAML": str(REPO_ROOT / "deploy" / "dagster.postgres.yaml")})
            else:
                out = measure(compute_dagster, start, end, extra)
            ratio = out["seconds"] / base - 1
            rows.append((name, label, out, ratio))
            tail = f"  ok={out['ok']}" + (f"  {out['error']}" if out.get("error") else "")
            print(f"{name + ', ' + label:<58} {out['seconds']:7.1f} s {ratio:+8.0%} {out.get('events', 0):>7}"
                  f" {out.get('planned', 0):>8}{tail}", flush=True)
    print(f"\noverhead = Dagster seconds / pipeline seconds - 1 (target <= +50 %); events = event-log records "
          f"of the run, planned = ASSET_MATERIALIZATION_PLANNED among them")
    return 0 if direct["ok"] and all(r[2]["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
