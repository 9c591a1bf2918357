"""`make bench`, backtest part: the DVOL-futures backtest of every family x horizon x coin.

Reads oos_predictions and features_daily from the lake at $DVOL_BENCH_LAKE when set (e.g.
a finished demo lake), else from the lake at $DVOL_LAKE (default data_lake/; run
`make demo` first). Times the pure backtest (no Dagster, no IO): the core run, then the
whole result with the tau x cost sweep and the noise draws, and prints the headline net
Sharpe of both coins together per family and horizon.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.forecasts import read_features, read_predictions
from dvol_pipeline.quant.backtest import BacktestConfig, run_futures_backtest
from dvol_pipeline.settings import DEFAULT_COINS, lake_root


def main() -> int:
    root = Path(os.environ["DVOL_BENCH_LAKE"]) if os.environ.get("DVOL_BENCH_LAKE") else lake_root()
    predictions = read_predictions(root)
    if predictions.is_empty():
        print(f"no oos_predictions under {root}: run `make demo` or set DVOL_BENCH_LAKE", file=sys.stderr)
        return 1
    market = read_features(root, list(DEFAULT_COINS))
    config = BacktestConfig()
    t0 = time.perf_counter()
    run_futures_backtest(predictions, market, replace(config, run_sweep=False, run_robustness=False))
    core = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = run_futures_backtest(predictions, market, config)
    total = time.perf_counter() - t0
    n_strategies = predictions.select("family", "horizon", "asset").unique().height
    print(f"DVOL-futures backtest: {root}, {predictions['date'].min()}..{predictions['date'].max()}, "
          f"{n_strategies} strategies, {result.daily.height} strategy-days\n")
    print(f"core (taus, positions, controls, stats)   {core:6.2f} s")
    print(f"with sweep ({result.sweep.height} cells) + {config.robustness.draws} noise draws   {total:6.2f} s\n")
    headline = (
        result.metrics.filter(pl.col("asset") == "ALL")
        .pivot("horizon", index="family", values="sharpe", sort_columns=True)
        .sort("family")
    )
    print("net Sharpe, both coins together (columns: horizon in days):")
    with pl.Config(tbl_rows=20, float_precision=2, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        print(headline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
