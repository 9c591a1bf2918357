"""`micro_strategy_metrics`: each run's statistics at several cost multipliers, overall and per regime.

How bar P&L becomes the shared statistics: a bar's net P&L (bps of the notional, with cost x
cost_mult) is summed per UTC day of the bar (the day of ts - 1 ns: a bar closing at midnight belongs
to the day it covers) and divided by 1e4, a daily return on one notional of capital; the days are
every day the series has bars (flat days count as 0). `quant.evaluate.strategy.daily_pnl_metrics`
then gives sharpe, sortino, annual_return (compounded), max_drawdown (compounded, a fraction),
turnover (mean per day of sum |Δposition|, in notionals) and net_return is the sum of the daily
returns. Trade-level: hit_rate is the share of filled trades with net_bps > 0 (at that cost_mult),
avg_holding_minutes their mean holding, trades their count (missed passive orders excluded).
Regime rows (regime != "all") use only the bars, and the trades entered on bars, of that regime
(the `regime` column the caller put on the features).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from dvol_pipeline.quant.evaluate.strategy import daily_pnl_metrics

from .common import StrategyRun

KEYS = ["strategy", "execution", "venue", "symbol"]
METRIC_COLUMNS = ("strategy", "execution", "venue", "symbol", "regime", "cost_mult", "sharpe", "sortino",
                  "net_return", "annual_return", "max_drawdown", "turnover", "hit_rate", "avg_holding_minutes",
                  "trades")
ALL = "all"


def daily_returns(bar_pnl: pl.DataFrame, cost_mult: float = 1.0) -> pl.DataFrame:
    """KEYS, date, ret (net bps / 1e4 with costs x cost_mult), turnover (sum |Δposition|), position
    (mean |position|) per UTC day of the bars."""
    return (bar_pnl.sort(*KEYS, "ts")
            .with_columns(__net=pl.col("gross_bps") + pl.col("funding_bps") - cost_mult * pl.col("cost_bps"),
                          __dpos=pl.col("position").diff().over(KEYS).fill_null(pl.col("position")).abs(),
                          date=(pl.col("ts") - pl.duration(nanoseconds=1)).dt.date())
            .group_by(*KEYS, "date", maintain_order=True)
            .agg(ret=pl.col("__net").sum() / 1e4, turnover=pl.col("__dpos").sum(), position=pl.col("position").abs()
                 .mean()))


def _rows(bar_pnl: pl.DataFrame, trades: pl.DataFrame, regime: str, cost_mults: Iterable[float]) -> list[dict]:
    out = []
    filled = trades.filter(pl.col("exit_reason") != "missed")
    for mult in cost_mults:
        daily = daily_returns(bar_pnl, mult)
        by_key = {k: g for k, g in daily.partition_by(KEYS, as_dict=True, maintain_order=True).items()}
        for key, g in by_key.items():
            m = daily_pnl_metrics(g["ret"].to_numpy(), 1.0, position=g["position"].to_numpy(),
                                  turnover=g["turnover"].to_numpy())
            t = filled.filter(*(pl.col(c) == v for c, v in zip(KEYS, key)))
            net = (t["gross_bps"] + t["funding_bps"] - mult * t["cost_bps"]).to_numpy()
            out.append({**dict(zip(KEYS, key)), "regime": regime, "cost_mult": float(mult), "sharpe": m["sharpe"],
                        "sortino": m["sortino"], "net_return": m["pnl"], "annual_return": m["ann_return"],
                        "max_drawdown": m["max_drawdown"], "turnover": m["turnover"],
                        "hit_rate": float((net > 0).mean()) if net.size else np.nan,
                        "avg_holding_minutes": float(t["holding_minutes"].mean()) if t.height else np.nan,
                        "trades": t.height})
    return out


def strategy_metrics_table(runs: Iterable[StrategyRun], cost_mults=(0.5, 1.0, 1.5, 2.0, 3.0)) -> pl.DataFrame:
    """Rows of `micro_strategy_metrics` (METRIC_COLUMNS) for every run, series, regime ("all" plus
    each label of the bars' `regime` column) and cost multiplier. NaN statistics are null."""
    rows: list[dict] = []
    for run in runs:
        rows += _rows(run.bar_pnl, run.trades, ALL, cost_mults)
        if "regime" in run.bar_pnl.columns:
            for label in sorted(run.bar_pnl["regime"].drop_nulls().unique().to_list()):
                rows += _rows(run.bar_pnl.filter(pl.col("regime") == label),
                              run.trades.filter(pl.col("regime") == label), label, cost_mults)
    schema = {c: pl.Utf8 for c in (*KEYS, "regime")} | {c: pl.Float64 for c in METRIC_COLUMNS[5:-1]} | {
        "trades": pl.Int64}
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return frame.select(METRIC_COLUMNS).with_columns(pl.col(pl.Float64).fill_nan(None))
