"""`make bench`: the universe lane end to end (raw -> features -> walk-forward -> report), per step.

60 simulated coins x 4 years (2021-01-01..2024-12-31) by default, the pipeline functions
the Dagster assets call (no Dagster run, MLflow on), in a throwaway lake. Target (issue 12):
<= 5 min on 2 cores. Prints the headline: pooled HAR against every family for R²_oos,
QLIKE and macro-F1 at 7 and 14 days.

    python -m dvol_pipeline_tests.bench.bench_universe [--coins 60] [--start 2021-01-01] [--end 2024-12-31]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.pipeline.universe import run as lane
from dvol_pipeline.quant.universe.walkforward import UniverseWalkForwardConfig

TARGET_SECONDS = 300.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--coins", type=int, default=60)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2021, 1, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2024, 12, 31))
    parser.add_argument("--trials", type=int, default=UniverseWalkForwardConfig().n_trials)
    args = parser.parse_args(argv)
    steps: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        ingest = lane.ingest_universe(root, "simulated", args.start, args.end, n_coins=args.coins)
        steps.append(("raw (simulate + contract + write)", time.perf_counter() - t,
                      f"{ingest.rows_written:,} rows, {ingest.rows_quarantined} quarantined"))
        t = time.perf_counter()
        features, leak = lane.build_features(root)
        steps.append(("features (GARCH fits, look-ahead check)", time.perf_counter() - t,
                      f"{features.height:,} rows; {leak.summary()}"))
        t = time.perf_counter()
        out = lane.build_forecasts(root, UniverseWalkForwardConfig(n_trials=args.trials), track=True)
        steps.append(("walk-forward + metrics + MLflow", time.perf_counter() - t,
                      f"{out.predictions.height:,} forecasts, {out.predictions['fold'].n_unique()} folds"))
        t = time.perf_counter()
        lane.build_strategy(root)
        steps.append(("strategy", time.perf_counter() - t, ""))
        t = time.perf_counter()
        path, _ = lane.build_report(root, "bench")
        steps.append(("report (HTML + MLflow)", time.perf_counter() - t, f"{path.stat().st_size / 1e6:.1f} MB"))
    total = sum(s for _, s, _ in steps)
    print(f"universe lane: {args.coins} coins, {args.start}..{args.end}")
    for name, seconds, what in steps:
        print(f"  {name:<38} {seconds:7.1f} s  {what}")
    print(f"  {'total':<38} {total:7.1f} s  (target <= {TARGET_SECONDS:.0f} s on 2 cores)")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    with pl.Config(tbl_rows=30, tbl_cols=-1, tbl_width_chars=160, float_precision=4):
        print(out.headline.select("horizon", "family", "r2_oos", "qlike", "f1_macro", "auc_high"))
        print("cross-symbol validation (pooled models; held_out: coins they never trained on):")
        fm = out.forecast_metrics.filter(pl.col("family").is_in(["har_pooled", "lgbm"]) & (
            ((pl.col("scope") == "overall") & (pl.col("split") == "held_out")) | (pl.col("scope") == "held_out_coins")))
        print(fm.select("horizon", "family", "split", "n", "r2_oos", "qlike").sort("horizon", "family", "split"))
    return 0 if total <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
