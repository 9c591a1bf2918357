"""`make bench`: how long the raw lake takes, and how much memory, on the default market.

Each stage runs in a fresh process so its peak RSS is its own. Prints a table; asserts
nothing (speed targets are read by people, not enforced by unit tests).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

START, END = date(2021, 3, 24), date(2024, 12, 31)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_simulate(lake: str) -> dict:
    from dvol_pipeline.contracts.tables import RAW_TABLES
    from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

    t0 = time.perf_counter()
    market = SimulatedMarket(SimConfig(), end=END)
    rows = {name: market.table(name, START, END).height for name in RAW_TABLES}
    return {"seconds": time.perf_counter() - t0, "rows": sum(rows.values()), "detail": rows}


def stage_ingest(lake: str) -> dict:
    os.environ["DVOL_LAKE"] = lake
    from dvol_pipeline.cli import run_materialize
    from dvol_pipeline.resources import MarketResource

    t0 = time.perf_counter()
    ok = run_materialize("group:raw", START, END, MarketResource()).success
    files = list(Path(lake, "raw").rglob("*.parquet"))
    return {
        "seconds": time.perf_counter() - t0,
        "ok": ok,
        "files": len(files),
        "mib_on_disk": sum(f.stat().st_size for f in files) / 2**20,
    }


def stage_warehouse(lake: str) -> dict:
    from dvol_pipeline.lake.warehouse import query
    from dvol_pipeline.pipeline.warehouse import refresh_warehouse as build_warehouse

    t0 = time.perf_counter()
    views = build_warehouse(Path(lake))
    refresh = time.perf_counter() - t0
    t1 = time.perf_counter()
    query(Path(lake), "SELECT asset, avg(mark_iv) FROM raw_option_chain GROUP BY ALL")
    return {"seconds": refresh, "views": len(views), "chain_scan_seconds": time.perf_counter() - t1}


def _child(stage, lake, queue) -> None:
    import logging

    logging.disable(logging.INFO)
    out = stage(lake)
    out["peak_rss_mib"] = _peak_mib()
    queue.put(out)


def run(stage, lake: str) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(stage, lake, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dvol-bench-") as lake:
        print(f"raw lake benchmark: BTC+ETH {START}..{END}, {os.cpu_count()} cores\n")
        sim = run(stage_simulate, lake)
        print(f"simulate all six tables      {sim['seconds']:7.1f} s  peak {sim['peak_rss_mib']:6.0f} MiB  "
              f"{sim['rows']:,} rows")
        for name, n in sim["detail"].items():
            print(f"    {name:<22} {n:>10,} rows")
        ing = run(stage_ingest, lake)
        print(f"ingest full range, one run   {ing['seconds']:7.1f} s  peak {ing['peak_rss_mib']:6.0f} MiB  "
              f"{ing['files']:,} partition files, {ing['mib_on_disk']:.0f} MiB  ok={ing['ok']}")
        wh = run(stage_warehouse, lake)
        print(f"warehouse refresh            {wh['seconds']:7.2f} s  peak {wh['peak_rss_mib']:6.0f} MiB  "
              f"{wh['views']} views; full option-chain scan {wh['chain_scan_seconds']:.2f} s")
    return 0 if ing["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
