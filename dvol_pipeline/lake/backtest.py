"""Backtests in the lake: futures and option strategies of every fold, promotion, and tables.

Why one module: the backtest, the walk-forward promotion and the option strategy must see
the same predictions and the same market, and their tables land together in
`<lake>/backtest/<table>/part-0.parquet` (views of the same names in the warehouse).

Walk-forward all the way: each fold's threshold and each fold's promoted family are chosen
on P&L realised before the fold (quant/backtest), and the option strategy trades the
signal of the family promoted as of each fold, so no number here saw its own month.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from dvol_pipeline.lake.forecasts import read_features, read_predictions
from dvol_pipeline.lake.parquet import read_table, write_parquet_atomic
from dvol_pipeline.quant.backtest import BacktestConfig, BacktestResult, promote, run_futures_backtest
from dvol_pipeline.quant.backtest.promotion import fold_start
from dvol_pipeline.quant.option_strategies import (
    OptionBacktestConfig,
    OptionBacktestResult,
    perp_closes,
    run_option_backtest,
)

ZONE = "backtest"
OPTION_HORIZON = 7
"""The option book trades the 7-day forecast: its straddles hold 7-21 days to expiry."""

TABLE_DOCS = {
    "backtest_daily": "Daily P&L of every strategy (DVOL futures per family and horizon, and the option book), "
    "net of costs; row t holds the position decided at t's close and what it earns until t+1.",
    "strategy_metrics": "Net-of-cost statistics per strategy, family and coin (ALL = both coins).",
    "metrics_by_year": "Strategy statistics per calendar year.",
    "metrics_by_regime": "Strategy statistics per DVOL regime (terciles from past data only).",
    "cost_sensitivity": "Net P&L, Sharpe and drawdown with every cost scaled by cost_mult (0.5x to 3x).",
    "risk_control_effects": "Each risk control switched off in turn: what it changed.",
    "thresholds": "The threshold tau of each fold, chosen on the folds before it (in-sample Sharpe shown).",
    "tau_cost_sweep": "Net Sharpe over a grid of fixed tau and cost multipliers (robustness heatmap).",
    "noise_robustness": "Strategy statistics under small Gaussian noise on DVOL and funding (mean, p5, p95).",
    "kill_events": "Days the drawdown kill-switch fired.",
    "option_trades": "Every option and hedge trade of the option book, at bid/ask with Deribit fees.",
    "option_cost_sensitivity": "The option book's net P&L and Sharpe with costs scaled by cost_mult.",
    "promotion_history": "The family promoted for each horizon as of each fold (decided on earlier folds).",
    "promotion_evidence": "Why: each family's past net Sharpe and drawdown against HAR's, as of the newest fold.",
    "model_promotion": "The live decision per coin and horizon: promoted family, its threshold, past hit-rate, "
    "and the primary horizon that sets the signal's direction.",
}


def table_path(root: Path, name: str) -> Path:
    return root / ZONE / name / "part-0.parquet"


def read_backtest_table(root: Path, name: str) -> pl.DataFrame:
    path = table_path(root, name)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; materialize the `backtest` asset first")
    return pl.read_parquet(path)


def read_promotion(root: Path) -> pl.DataFrame:
    path = table_path(root, "model_promotion")
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: signals need a promoted model; materialize model_promotion "
            "(the monthly job, or `python -m dvol_pipeline materialize --select group:backtest`)"
        )
    return pl.read_parquet(path)


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


def market_frame(features: pl.DataFrame) -> pl.DataFrame:
    """What the futures backtest reads from features_daily; absent groups become nulls."""
    cols = {"jump_1d": pl.Float64, "jump_share_1d": pl.Float64, "funding_mean": pl.Float64}
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in cols.items() if c not in features.columns]
    return features.with_columns(missing).select("date", "asset", "dvol", *cols)


def promotion_history(daily: pl.DataFrame, folds: list[str]) -> pl.DataFrame:
    """promote() as of every fold: which family each horizon would have traded that month."""
    rows = []
    futures = daily.filter(pl.col("strategy").str.starts_with("dvol_futures"))
    for fold in folds:
        decisions, _ = promote(futures, fold)
        rows.append(decisions.with_columns(fold=pl.lit(fold)))
    if not rows:
        return pl.DataFrame(schema={"horizon": pl.Int32, "promoted_family": pl.Utf8, "reason": pl.Utf8, "fold": pl.Utf8})
    return pl.concat(rows).select("fold", "horizon", "promoted_family", "reason")


def option_signals(daily: pl.DataFrame, history: pl.DataFrame, horizon: int = OPTION_HORIZON) -> pl.DataFrame:
    """date, asset, signal: the futures signal of the family promoted as of each day's fold."""
    promoted = history.filter(pl.col("horizon") == horizon).select("fold", family="promoted_family")
    return (
        daily.filter(pl.col("strategy").str.starts_with("dvol_futures") & (pl.col("horizon") == horizon))
        .with_columns(fold=pl.col("date").dt.strftime("%Y-%m"))
        .join(promoted, on=["fold", "family"], how="semi")
        .select("date", "asset", signal=pl.col("signal").fill_null(0.0).sign().cast(pl.Int8))
        .sort("asset", "date")
    )


def run_backtests(
    root: Path, coins: list[str], config: BacktestConfig = BacktestConfig(),
    option_config: OptionBacktestConfig | None = None, with_options: bool = True,
) -> BacktestRun:
    predictions = read_predictions(root)
    predictions = predictions.filter(pl.col("asset").is_in(coins))
    if predictions.is_empty():
        raise FileNotFoundError(f"no oos_predictions for {coins} under {root}; materialize oos_predictions first")
    market = market_frame(read_features(root, coins))
    futures = run_futures_backtest(predictions, market, config)
    folds = sorted(predictions["fold"].unique().to_list())
    history = promotion_history(futures.daily, folds)
    options, note = None, "option book: not run"
    if with_options:
        options, note = _run_options(root, coins, futures.daily, history, option_config)
    return BacktestRun(futures, options, note, history, predictions)


def _run_options(root, coins, daily, history, option_config) -> tuple[OptionBacktestResult | None, str]:
    signals = option_signals(daily, history)
    if signals.is_empty():
        return None, "option book: no 7-day signals"
    first, last = signals["date"].min(), signals["date"].max()
    try:
        chain = read_table(root, "raw", "raw_option_chain", first, last, coins)
        ohlcv = read_table(root, "raw", "raw_ohlcv", first, last, coins)
    except FileNotFoundError as err:
        return None, f"option book: not run ({err})"
    perp = perp_closes(ohlcv)
    if perp.is_empty():
        return None, "option book: not run (raw_ohlcv has no perpetual bars for the hedge)"
    config = option_config or OptionBacktestConfig(family="promoted walk-forward", horizon=OPTION_HORIZON)
    return run_option_backtest(chain, perp, signals, config), f"option book: {first}..{last}, {chain.height:,} quotes"


def live_promotion(
    daily: pl.DataFrame, thresholds: pl.DataFrame, predictions: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(model_promotion per coin and horizon, evidence) as of the newest fold."""
    newest = max(predictions["fold"].unique().to_list())
    futures_daily = daily.filter(pl.col("strategy").str.starts_with("dvol_futures"))
    decisions, evidence = promote(futures_daily, newest)
    start = fold_start(newest)
    rows = []
    for asset in sorted(predictions["asset"].unique().to_list()):
        for horizon, family, reason in decisions.select("horizon", "promoted_family", "reason").iter_rows():
            tau = thresholds.filter(
                (pl.col("family") == family) & (pl.col("horizon") == horizon)
                & (pl.col("asset") == asset) & (pl.col("fold") == newest)
            )["tau"]
            tau_value = float(tau[0]) if tau.len() else float("nan")
            past = predictions.filter(
                (pl.col("family") == family) & (pl.col("horizon") == horizon) & (pl.col("asset") == asset)
                & (pl.col("date") < start - pl.duration(days=horizon)) & pl.col("y").is_not_null()
            )
            rows.append({
                "asset": asset, "horizon": int(horizon), "promoted_family": family, "reason": reason,
                "tau": tau_value, "hit_rate_active": _active_hit_rate(past, tau_value), "as_of_fold": newest,
                "past_net_sharpe": _sharpe(evidence, horizon, family),
            })
    table = pl.DataFrame(rows).with_columns(pl.col("horizon").cast(pl.Int32))
    best = (
        table.sort("past_net_sharpe", "horizon", descending=[True, False], nulls_last=True)
        .group_by("asset", maintain_order=True).first().select("asset", primary_horizon="horizon")
    )
    table = table.join(best, on="asset").with_columns(primary=pl.col("horizon") == pl.col("primary_horizon"))
    return table.drop("primary_horizon").sort("asset", "horizon"), evidence


def _active_hit_rate(past: pl.DataFrame, tau: float) -> float | None:
    if not np.isfinite(tau):
        return None
    active = past.filter(pl.col("y_hat").abs() >= tau)
    if active.is_empty():
        return None
    return float((np.sign(active["y_hat"].to_numpy()) == np.sign(active["y"].to_numpy())).mean())


def _sharpe(evidence: pl.DataFrame, horizon: int, family: str) -> float | None:
    row = evidence.filter((pl.col("horizon") == horizon) & (pl.col("family") == family))["net_sharpe"]
    return None if row.len() == 0 or row[0] is None else float(row[0])


def write_tables(root: Path, tables: dict[str, pl.DataFrame]) -> dict[str, int]:
    """Each table replaced whole (atomic): a backtest is always of every fold at once.

    An undefined statistic (the Sharpe of a strategy that never traded) is stored as NULL,
    not NaN: SQL sorts NaN above every number, NULL where `NULLS LAST` puts it."""
    for name, frame in tables.items():
        write_parquet_atomic(frame.with_columns(pl.col(pl.Float64).fill_nan(None)), table_path(root, name))
    return {name: frame.height for name, frame in tables.items()}
