"""`make bench`, part 2: the full walk-forward (2 coins x 3 horizons x every family), per family.

Pure computation on the default simulated market (no Dagster, no MLflow), so the numbers
are the models' cost; the Dagster run adds MLflow logging (~40 ms a run) and the event log.
Target (issue 11): the whole walk-forward (33 monthly folds 2022-04..2024-12 x 3 horizons x
every family, both coins) in <= 60 s of model time on 2 cores.

    python -m dvol_pipeline_tests.bench.bench_walkforward [--workers N] [--horizons 1,7,14]

`--workers N` (default: WalkForwardConfig().workers) fits each fold's families in a pool of
N processes, as the `oos_predictions` asset does; the per-family seconds are then summed
over the workers (they add up to more than the wall time).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import defaultdict
from datetime import date

import polars as pl

from dvol_pipeline.quant.dvol.features import build_features
from dvol_pipeline.quant.dvol.forecast import HORIZONS, run_fold
from dvol_pipeline.quant.evaluate.forecast import forecast_metrics
from dvol_pipeline.quant.learn.parallel import process_pool
from dvol_pipeline.quant.learn.folds import WalkForwardConfig, monthly_folds
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

START, END = date(2021, 3, 24), date(2024, 12, 31)
INPUTS = ("raw_dvol", "raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain")
TARGET_SECONDS = 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=WalkForwardConfig().workers)
    parser.add_argument("--horizons", default=",".join(map(str, HORIZONS)), help="e.g. 7 (default: 1,7,14)")
    args = parser.parse_args(argv)
    horizons = [int(h) for h in args.horizons.split(",")]
    market = SimulatedMarket(SimConfig(), end=END)
    tables = {name: market.table(name, START, END) for name in INPUTS}
    t0 = time.perf_counter()
    frame = build_features(tables).frame
    feature_seconds = time.perf_counter() - t0
    pool = process_pool(args.workers)
    if pool is not None:  # start the workers (imports) outside the timed part, as a warm Dagster step would
        list(pool.map(time.sleep, [1.0] * args.workers))
    per_family: dict[str, float] = defaultdict(float)
    preds = []
    t0, c0 = time.perf_counter(), time.process_time()
    folds = 0
    for h in horizons:
        past = None
        for fold in monthly_folds(START, END, h):
            result = run_fold(frame, fold, past_oos=past, executor=pool)
            folds += 1
            for family, seconds in result.fit_seconds.items():
                per_family[family] += seconds
            preds.append(result.predictions)
            past = pl.concat(preds)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    months = sorted({p["fold"][0] for p in preds if p.height})
    print(f"walk-forward benchmark: BTC+ETH {START}..{END}, {folds} fold x horizon fits "
          f"({len(months)} months {months[0]}..{months[-1]}), workers={args.workers}\n")
    print(f"features_daily build           {feature_seconds:7.1f} s")
    verdict = "ok" if total <= TARGET_SECONDS else "OVER"
    print(f"full walk-forward (model time) {total:7.1f} s  target <= {TARGET_SECONDS:.0f} s: {verdict}; "
          f"this process's CPU {cpu:.1f} s; peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    for family, seconds in sorted(per_family.items(), key=lambda kv: -kv[1]):
        print(f"    {family:<16} {seconds:7.1f} s fit+predict")
    allp = pl.concat(preds)
    print("\nout-of-sample RMSE / R² vs zero change (all folds, both coins):")
    for h in horizons:
        row = []
        for family in sorted(allp["family"].unique()):
            g = allp.filter((pl.col("horizon") == h) & (pl.col("family") == family))
            m = forecast_metrics(g["y"].to_numpy(), g["y_hat"].to_numpy())
            row.append(f"{family} {m.rmse:.3f}/{m.r2_oos:+.3f}")
        print(f"  h={h:<2} " + "  ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
