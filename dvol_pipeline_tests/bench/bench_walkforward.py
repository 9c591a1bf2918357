"""`make bench`, part 2: the full walk-forward (2 coins x 3 horizons x every family), per family.

Pure computation on the default simulated market (no Dagster, no MLflow), so the numbers
are the models' cost; the Dagster run adds MLflow logging (~40 ms a run) and the event log.
"""

from __future__ import annotations

import resource
import sys
import time
from collections import defaultdict
from datetime import date

import polars as pl

from dvol_pipeline.quant.features import build_features
from dvol_pipeline.quant.forecast import HORIZONS, run_fold
from dvol_pipeline.quant.metrics import forecast_metrics
from dvol_pipeline.quant.walkforward import monthly_folds
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

START, END = date(2021, 3, 24), date(2024, 12, 31)
INPUTS = ("raw_dvol", "raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain")


def main() -> int:
    market = SimulatedMarket(SimConfig(), end=END)
    tables = {name: market.table(name, START, END) for name in INPUTS}
    t0 = time.perf_counter()
    frame = build_features(tables).frame
    feature_seconds = time.perf_counter() - t0
    per_family: dict[str, float] = defaultdict(float)
    preds = []
    t0 = time.perf_counter()
    folds = 0
    for h in HORIZONS:
        past = None
        for fold in monthly_folds(START, END, h):
            result = run_fold(frame, fold, past_oos=past)
            folds += 1
            for family, seconds in result.fit_seconds.items():
                per_family[family] += seconds
            preds.append(result.predictions)
            past = pl.concat(preds)
    total = time.perf_counter() - t0
    print(f"walk-forward benchmark: BTC+ETH {START}..{END}, {folds} fold x horizon fits\n")
    print(f"features_daily build           {feature_seconds:7.1f} s")
    print(f"full walk-forward              {total:7.1f} s  peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    for family, seconds in sorted(per_family.items(), key=lambda kv: -kv[1]):
        print(f"    {family:<16} {seconds:7.1f} s fit+predict")
    allp = pl.concat(preds)
    print("\nout-of-sample R² vs zero change (all folds, both coins):")
    for h in HORIZONS:
        row = []
        for family in sorted(allp["family"].unique()):
            g = allp.filter((pl.col("horizon") == h) & (pl.col("family") == family))
            row.append(f"{family} {forecast_metrics(g['y'].to_numpy(), g['y_hat'].to_numpy()).r2_oos:+.3f}")
        print(f"  h={h:<2} " + "  ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
