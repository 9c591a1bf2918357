"""`make bench`: out-of-sample R² of every family against HAR on the simulated market's walk-forward.

Issue 23, item 7: the machine-learning families (LightGBM, LSTM) and the ensemble must not be
worse than HAR, the regression they are compared with. This runs the walk-forward of
bench_walkforward (default simulated market, BTC+ETH, monthly folds 2022-04..2024-12, expanding
window, every family, the ensemble weighted from earlier folds) and prints R²_oos (vs zero
change, over all folds and both coins) per family x horizon, each family's gap to HAR, and
the residual families' shrinkage λ per fold (how many folds' windows chose λ > 0, how many kept
it after the track record of earlier folds). Nothing is tuned here: every choice is made
inside each fold's training window or on earlier folds.

    python -m dvol_pipeline_tests.bench.bench_ml_vs_har [--horizons 1,7,14] [--every 1]

`--every k` keeps every k-th monthly fold (a quicker, noisier look); the note's table uses 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from datetime import date

import numpy as np
import polars as pl

from dvol_pipeline.quant.dvol.features import build_features
from dvol_pipeline.quant.dvol.forecast import HORIZONS, run_fold
from dvol_pipeline.quant.evaluate.forecast import forecast_metrics
from dvol_pipeline.quant.learn.folds import monthly_folds
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

START, END = date(2021, 3, 24), date(2024, 12, 31)
INPUTS = ("raw_dvol", "raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain")
ORDER = ("zero", "mean_reversion", "har", "garch", "lightgbm", "lstm", "ensemble")


def simulated_features() -> pl.DataFrame:
    market = SimulatedMarket(SimConfig(), end=END)
    return build_features({name: market.table(name, START, END) for name in INPUTS}).frame


def walk_forward(frame: pl.DataFrame, horizon: int, every: int = 1
                 ) -> tuple[pl.DataFrame, dict[str, list[tuple[float, float]]]]:
    """(every fold's predictions, (window λ, λ used after the track record) per fold of each
    family that has one)."""
    preds, shrink, past = [], defaultdict(list), None
    for i, fold in enumerate(monthly_folds(START, END, horizon)):
        if i % every:
            continue
        result = run_fold(frame, fold, past_oos=past)
        for family, model in result.models.items():
            state = getattr(model, "state", {})
            if "shrinkage" in state:
                used = float(state["shrinkage"])
                shrink[family].append((float(state.get("window_shrinkage", used)), used))
        preds.append(result.predictions)
        past = pl.concat(preds)
    return pl.concat(preds), shrink


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--horizons", default=",".join(map(str, HORIZONS)))
    parser.add_argument("--every", type=int, default=1)
    args = parser.parse_args(argv)
    horizons = [int(h) for h in args.horizons.split(",")]
    frame = simulated_features()
    t0 = time.perf_counter()
    r2: dict[tuple[str, int], float] = {}
    shrinks: dict[int, dict[str, list[float]]] = {}
    for h in horizons:
        allp, shrinks[h] = walk_forward(frame, h, args.every)
        for (family,), g in allp.group_by("family"):
            r2[family, h] = forecast_metrics(g["y"].to_numpy(), g["y_hat"].to_numpy()).r2_oos
    print(f"R²_oos vs zero change, simulated market {START}..{END}, every {args.every} monthly fold(s), "
          f"both coins ({time.perf_counter() - t0:.0f} s)\n")
    print("| family | " + " | ".join(f"h={h}" for h in horizons) + " | " +
          " | ".join(f"h={h} − HAR" for h in horizons) + " |")
    print("|---" * (1 + 2 * len(horizons)) + "|")
    for family in [f for f in ORDER if any((f, h) in r2 for h in horizons)]:
        cells = [f"{r2.get((family, h), np.nan):+.4f}" for h in horizons]
        gaps = [f"{r2.get((family, h), np.nan) - r2.get(('har', h), np.nan):+.4f}" for h in horizons]
        print(f"| {family} | " + " | ".join(cells) + " | " + " | ".join(gaps) + " |")
    for h in horizons:
        for family, values in sorted(shrinks[h].items()):
            window, used = np.array(values).T
            print(f"h={h:<2} {family:<9} λ per fold: window > 0 in {int((window > 0).sum())}/{window.size} folds, "
                  f"used (after the track record) > 0 in {int((used > 0).sum())}, mean used {used.mean():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
