"""Backtests: read every fold's predictions and the market, run quant/dvol/backtest, write the tables.

The futures backtest, the per-fold promotion and the option book see the same predictions
and the same market; their tables land together in the `backtest` zone (one file each,
replaced whole: a backtest is always of every fold at once). Every decision (thresholds,
promotion, what the option book trades) is made in quant/, on P&L realised before each fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.catalog import table
from dvol_pipeline.lake.parquet import read_single, read_table, scan_table, write_single
from dvol_pipeline.pipeline.dvol.forecasts import read_features, read_predictions
from dvol_pipeline.progress import phased, step
from dvol_pipeline.quant.dvol.backtest import BacktestConfig, BacktestResult, run_futures_backtest
from dvol_pipeline.quant.dvol.backtest.live import (
    OPTION_HORIZON,
    live_promotion,
    market_frame,
    option_signals,
    promotion_history,
)
from dvol_pipeline.quant.execution.options import (
    OptionBacktestConfig,
    OptionBacktestResult,
    perp_closes,
    run_option_backtest,
)

PROMOTION_MISSING = (
    "{path} does not exist: signals need a promoted model; materialize model_promotion "
    "(the monthly job, or `python -m dvol_pipeline materialize --select group:backtest`)"
)


def read_backtest_table(root: Path, name: str) -> pl.DataFrame:
    return read_single(root, name)


def read_promotion(root: Path) -> pl.DataFrame:
    return read_single(root, "model_promotion", hint=PROMOTION_MISSING.format(path=table("model_promotion").file(root)))


@dataclass
class BacktestRun:
    futures: BacktestResult
    options: OptionBacktestResult | None
    option_note: str
    promotion_history: pl.DataFrame
    predictions: pl.DataFrame

    def tables(self) -> dict[str, pl.DataFrame]:
        f = self.futures
        daily = f.daily
        if self.options is not None and not self.options.daily.is_empty():
            daily = pl.concat([daily, self.options.daily], how="diagonal_relaxed")
        out = {
            "backtest_daily": daily.sort("strategy", "family", "asset", "date"),
            "strategy_metrics": f.metrics, "metrics_by_year": f.by_year, "metrics_by_regime": f.by_regime,
            "cost_sensitivity": f.cost_sensitivity, "risk_control_effects": f.risk_effects,
            "thresholds": f.thresholds, "tau_cost_sweep": f.sweep, "noise_robustness": f.robustness,
            "kill_events": f.kill_events, "promotion_history": self.promotion_history,
        }
        if self.options is not None:
            out["option_trades"] = self.options.trades
            out["option_cost_sensitivity"] = self.options.cost_sensitivity
        return out


@phased("backtests", total=3)
def run_backtests(
    root: Path, coins: list[str], config: BacktestConfig = BacktestConfig(),
    option_config: OptionBacktestConfig | None = None, with_options: bool = True,
) -> BacktestRun:
    predictions = read_predictions(root).filter(pl.col("asset").is_in(coins))
    if predictions.is_empty():
        raise FileNotFoundError(f"no oos_predictions for {coins} under {root}; materialize oos_predictions first")
    step("read predictions and features")
    market = market_frame(read_features(root, coins))
    step(f"futures backtest of {predictions.height:,} predictions (tau x cost sweep, noise draws)")
    futures = run_futures_backtest(predictions, market, config)
    folds = sorted(predictions["fold"].unique().to_list())
    history = promotion_history(futures.daily, folds)
    options, note = None, "option book: not run"
    if with_options:
        step("option book")
        options, note = _run_options(root, coins, futures.daily, history, option_config)
    return BacktestRun(futures, options, note, history, predictions)


def _run_options(root, coins, daily, history, option_config) -> tuple[OptionBacktestResult | None, str]:
    signals = option_signals(daily, history)
    if signals.is_empty():
        return None, f"option book: no {OPTION_HORIZON}-day signals"
    first, last = signals["date"].min(), signals["date"].max()
    try:
        chain = scan_table(root, "raw_option_chain", first, last, coins)
        ohlcv = read_table(root, "raw_ohlcv", first, last, coins)
    except FileNotFoundError as err:
        return None, f"option book: not run ({err})"
    perp = perp_closes(ohlcv)
    if perp.is_empty():
        return None, "option book: not run (raw_ohlcv has no perpetual bars for the hedge)"
    config = option_config or OptionBacktestConfig(family="promoted walk-forward", horizon=OPTION_HORIZON)
    quotes = chain.select(pl.len()).collect().item()
    return run_option_backtest(chain, perp, signals, config), f"option book: {first}..{last}, {quotes:,} quotes"


def write_tables(root: Path, tables: dict[str, pl.DataFrame]) -> dict[str, int]:
    """Each table replaced whole (atomic); undefined statistics stored as NULL."""
    for name, frame in tables.items():
        write_single(root, name, frame)
    return {name: frame.height for name, frame in tables.items()}


def promote_live(root: Path, coins: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """model_promotion and promotion_evidence as of the newest fold, written."""
    predictions = read_predictions(root).filter(pl.col("asset").is_in(coins))
    table, evidence = live_promotion(
        read_backtest_table(root, "backtest_daily"), read_backtest_table(root, "thresholds"), predictions
    )
    write_tables(root, {"model_promotion": table, "promotion_evidence": evidence})
    return table, evidence
