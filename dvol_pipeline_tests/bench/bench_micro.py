"""The micro lane on the default simulated order book, step by step, and the plan's query.

`python -m dvol_pipeline_tests.bench.bench_micro [--days 1] [--intensity 1.0]`: simulates the days
for BTC, ETH and SOL on both simulated venues (spot, USDⓈ-M), then times each step of the lane
(pipeline/micro/run.py, no Dagster): the contract and the lake writes, the book rebuild with the
bars, the 1-minute features of every stream, the 1-second features of one symbol-day (the issue's
"features of one symbol-day in <= 10 s"), and the query the research plan cared about (one day of
one symbol's 1-second bars through the warehouse view, in a fresh DuckDB connection, best of 3).
Every wall time is also printed as a multiple of the reference loop.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from dvol_pipeline_tests.bench.reference import best_seconds, reference_line, reference_seconds

END = date(2024, 12, 31)
QUERY = ("SELECT ts, mid_close, spread_bps, ofi, buy_volume, sell_volume FROM micro_bars WHERE venue = 'sim_usdm' "
         "AND symbol = 'BTCUSDT' AND date = DATE '{day}' AND bar = '1s' ORDER BY ts")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--intensity", type=float, default=1.0)
    args = p.parse_args(argv)
    ref = reference_seconds()
    print(reference_line(ref))

    from dvol_pipeline.pipeline.micro import run as lane
    from dvol_pipeline.pipeline.warehouse import refresh_warehouse
    from dvol_pipeline.quant.micro.features import build_features
    from dvol_pipeline.sources.micro.read import read_ticks

    def line(what: str, seconds: float, extra: str = "") -> None:
        print(f"  {what:<52} {seconds:8.2f} s  {seconds / ref:6.2f}x ref  {extra}")

    start = END - timedelta(days=args.days - 1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        batch = read_ticks("simulated", start=start, end=END, seed=0, intensity=args.intensity)
        sim = time.perf_counter() - t0
        rows = {name: frame.height for name, frame in batch.tables.items()}
        print(f"simulated order book {start}..{END}, intensity {args.intensity}: "
              + ", ".join(f"{n} {r:,}" for n, r in rows.items()))
        line("simulate (3 coins x 2 venues)", sim, f"{sum(rows.values()) / sim / 1e6:.2f} M rows/s")
        t0 = time.perf_counter()
        ingest = lane.ingest_ticks(root, batch)
        line("contract + lake writes", time.perf_counter() - t0,
             f"{sum(ingest.rows_written.values()):,} rows, {sum(ingest.quarantined.values())} quarantined")
        del batch
        t0 = time.perf_counter()
        books = lane.build_books(root, ingest.streams)
        wall = time.perf_counter() - t0
        deltas = rows.get("raw_book_deltas", 0)
        line("books + quality + bars (1s, 1m, 5m, volume)", wall, f"{deltas / wall / 1e6:.2f} M delta rows/s end to end")
        q = books.quality
        print(f"    bbo_agreement min {q['bbo_agreement'].min():.4f}, crossed {int(q['crossed_states'].sum())}, "
              f"breaks {int(q['sequence_breaks'].sum())}")
        t0 = time.perf_counter()
        feats = lane.build_features(root, start, END)
        line("features, 1-minute bars, every stream", time.perf_counter() - t0,
             f"{feats.rows:,} rows x {feats.columns} cols; look-ahead "
             f"{'passed' if feats.leak.passed else 'FAILED'}")
        from dvol_pipeline.lake.parquet import read_table

        one = read_table(root, "micro_bars", END, END, where={"venue": ["sim_usdm"], "symbol": ["BTCUSDT"]})
        one = one.filter(pl.col("bar") == "1s")
        build_features(one.head(1000), bar="1s")  # numba compiles its kernels once (cached on disk after)
        t0 = time.perf_counter()
        f1 = build_features(one, bar="1s")
        line("features, 1-second bars, one symbol-day (goal <= 10 s)", time.perf_counter() - t0,
             f"{f1.height:,} rows")
        refresh_warehouse(root)
        wh = str(root / "warehouse.duckdb")

        def query() -> int:
            with duckdb.connect(wh, read_only=True) as con:
                return con.sql(QUERY.format(day=END)).pl().height

        n = query()
        line("query: one day of one symbol's 1-second bars", best_seconds(query), f"{n:,} rows (goal < 1 s)")


if __name__ == "__main__":
    main()
