"""`make bench`, backtest part: the DVOL-futures backtest of every family x horizon x coin.

Reads oos_predictions and features_daily from the lake at $DVOL_BENCH_LAKE when set (e.g.
a finished demo lake), else from the lake at $DVOL_LAKE (default data_lake/; run
`make demo` first). Times the pure backtest (no Dagster, no IO): the core run, then the
whole result with the tau x cost sweep and the noise draws, and prints the headline net
Sharpe of both coins together per family and horizon. Then the whole `backtest` +
`model_promotion` + `tear_sheets` step as the pipeline runs it (lake IO, option book,
HTML), against a scratch copy so the bench never writes into your lake.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import polars as pl

from dvol_pipeline.pipeline.dvol.forecasts import read_features, read_predictions
from dvol_pipeline.quant.dvol.backtest import BacktestConfig, run_futures_backtest
from dvol_pipeline.settings import DEFAULT_COINS, lake_root


def main() -> int:
    root = Path(os.environ["DVOL_BENCH_LAKE"]) if os.environ.get("DVOL_BENCH_LAKE") else lake_root()
    predictions = read_predictions(root)
    if predictions.is_empty():
        # the backtest times the demo's forecasts: without them there is nothing to time
        print(f"backtest bench skipped: no oos_predictions under {root}; run `make demo` first "
              "(or set DVOL_BENCH_LAKE to a finished lake)")
        return 0
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
    pipeline_step(root)
    return 0


def pipeline_step(root: Path) -> None:
    """backtest + model_promotion + tear_sheets as the assets run them, in a scratch lake."""
    from dvol_pipeline.pipeline.dvol.backtest import promote_live, run_backtests, write_tables
    from dvol_pipeline.pipeline.tearsheet import write_tearsheets

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for zone in ("predictions", "features"):
            shutil.copytree(root / zone, scratch / zone)
        (scratch / "raw").mkdir()
        for table in ("raw_option_chain", "raw_ohlcv"):
            if (root / "raw" / table).exists():
                (scratch / "raw" / table).symlink_to(root / "raw" / table)
        coins = list(DEFAULT_COINS)
        t0 = time.perf_counter()
        run = run_backtests(scratch, coins)
        write_tables(scratch, run.tables())
        t1 = time.perf_counter()
        promote_live(scratch, coins)
        t2 = time.perf_counter()
        files = write_tearsheets(scratch, coins, "bench", "bench", [])
        t3 = time.perf_counter()
        print(f"\nbacktest asset (futures + {run.option_note}) {t1 - t0:6.2f} s")
        print(f"model_promotion                             {t2 - t1:6.2f} s")
        sizes = ", ".join(f"{f.asset} {f.path.stat().st_size / 1e6:.2f} MB" for f in files)
        print(f"tear sheets ({sizes})          {t3 - t2:6.2f} s")
        print(f"backtest + promotion + tear sheets          {t3 - t0:6.2f} s")


if __name__ == "__main__":
    sys.exit(main())
