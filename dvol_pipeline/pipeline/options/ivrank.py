"""IV-rank strategies in the lake: read the chain (lazily, one coin at a time), the perpetual,
vol_regimes, surface_features and features_daily; run quant/execution/options/ivrank; write
its five `backtest`-zone tables, each replaced whole and atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.parquet import read_table, read_table_or_none, scan_table, write_single
from dvol_pipeline.quant.execution.options import perp_closes
from dvol_pipeline.quant.options.ivrank import IVRankConfig, IVRankResult, run_ivrank
from dvol_pipeline.quant.options.ivrank.gate import FEATURES

SKIPPED = "ivrank: not run ({why}); it needs raw_option_chain, raw_ohlcv with perpetual bars and vol_regimes"


@dataclass
class IVRankRun:
    result: IVRankResult | None  # None: the lake lacks an input (a lake without option chains)
    sizes: dict[str, int]
    note: str


def run_ivrank_tables(root: Path, coins: list[str], cfg: IVRankConfig = IVRankConfig()) -> IVRankRun:
    """Run the lane and write its tables; a lake without option chains (CSV imports of DVOL and
    prices only) or without vol_regimes skips it with a note, as the option book does."""
    try:
        regimes = read_table(root, "vol_regimes", coins=coins)
        ohlcv = scan_table(root, "raw_ohlcv", coins=coins)
        chain = scan_table(root, "raw_option_chain", coins=coins)
    except FileNotFoundError as err:
        return IVRankRun(None, {}, SKIPPED.format(why=err))
    perp = perp_closes(ohlcv)
    if perp.is_empty():
        return IVRankRun(None, {}, SKIPPED.format(why="raw_ohlcv has no perpetual bars for the hedge"))
    surface = read_table_or_none(root, "surface_features", coins=coins)
    features = read_table_or_none(root, "features_daily", coins=coins)
    if features is not None:  # only the entry-day columns the gate uses (never the labels y_*)
        features = features.select("date", "asset", *[c for c in FEATURES if c in features.columns])
    result = run_ivrank(chain, perp, regimes, surface, features, cfg)
    sizes = {}
    for name, frame in result.tables().items():
        write_single(root, name, frame)
        sizes[name] = frame.height
    folds = result.folds
    note = (f"ivrank: {sizes['ivrank_trades']:,} candidates, {folds.height} gate folds"
            + (f" {folds['fold'].min()}..{folds['fold'].max()}" if folds.height else " (too little history)"))
    return IVRankRun(result, sizes, note)


def headline(result: IVRankResult) -> pl.DataFrame:
    """Net Sharpe per strategy x regime, both coins, costs x1."""
    return (
        result.metrics.filter((pl.col("asset") == "ALL") & (pl.col("cost_mult") == 1.0))
        .select("strategy", "regime", "n_trades", pl.col("hit_rate").round(3), pl.col("net_usd").round(0),
                pl.col("sharpe").round(2))
        .sort("strategy", "regime")
    )
