"""A lake of simulated `features_daily` for walk-forward tests, the folds run one after another in
one process (the oracle of the tests that spread folds over processes or workers), and a digest of
what the walk-forward writes."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.parquet import write_partitions
from dvol_pipeline.pipeline.dvol.forecasts import read_fold_features, run_month
from dvol_pipeline.quant.dvol.features import build_features
from dvol_pipeline.quant.learn.folds import WalkForwardConfig
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

FIRST = date(2021, 3, 24)
COINS = ["BTC", "ETH"]
INPUTS = ("raw_dvol", "raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain")


def simulated_features(end: date) -> pl.DataFrame:
    """features_daily of the simulated market (the default seed) from the first day through `end`."""
    market = SimulatedMarket(SimConfig(), end=end)
    return build_features({name: market.table(name, FIRST, end) for name in INPUTS}).frame


def write_features(root: Path, features: pl.DataFrame) -> None:
    write_partitions(root, "features_daily", features)


def run_in_turn(root: Path, keys: list[str], config: WalkForwardConfig = WalkForwardConfig()) -> None:
    """The folds `keys` oldest first in this process, as one run's single step ran them before the
    folds became steps: one read of their feature days, then `run_month` per fold."""
    features = read_fold_features(root, COINS, keys, FIRST, config)
    for i, key in enumerate(keys):
        run_month(root, features, key, FIRST, config, newest=i == len(keys) - 1)


def walk_forward_digest(root: Path) -> dict[str, str]:
    """sha256 of every file the walk-forward writes (tables and models), not Dagster's folder, the write
    journal or MLflow's store (its run ids are random by design)."""
    skip = {".dagster", ".journal", "mlflow"}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and not skip & set(p.relative_to(root).parts)}
