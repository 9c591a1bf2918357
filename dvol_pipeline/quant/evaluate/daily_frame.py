"""The daily backtest frame, shared by the DVOL-futures and the option-strategy backtests.

One row per (strategy, family, asset, date). The P&L of the row dated t is earned by the
position decided at the close of t over the following day (t, t+1]; `equity_usd` is the
running sum of `net_usd` per strategy/family/asset and `drawdown_usd` is the distance
below the running peak of that equity (the peak starts at 0), so it is >= 0.
"""

from __future__ import annotations

import polars as pl

KEYS = ["strategy", "family", "horizon", "asset"]

DAILY_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date,
    "asset": pl.Utf8,
    "strategy": pl.Utf8,
    "family": pl.Utf8,
    "horizon": pl.Int32,
    "sample": pl.Utf8,
    "position": pl.Float64,
    "turnover": pl.Float64,
    "gross_usd": pl.Float64,
    "cost_usd": pl.Float64,
    "net_usd": pl.Float64,
    "equity_usd": pl.Float64,
    "drawdown_usd": pl.Float64,
}
"""Columns every backtest's daily frame has (the option backtest adds its own extras)."""

FUTURES_EXTRA_SCHEMA: dict[str, pl.DataType] = {
    "gross_vol": pl.Float64,
    "cost_vol": pl.Float64,
    "net_vol": pl.Float64,
    "tau": pl.Float64,
    "signal": pl.Int8,
    "y_hat": pl.Float64,
    "guardrail": pl.Boolean,
    "stopped": pl.Boolean,
    "killed": pl.Boolean,
    "contract_expiry": pl.Date,
    "futures_price": pl.Float64,
    "roll": pl.Boolean,
}

FUTURES_DAILY_SCHEMA: dict[str, pl.DataType] = {**DAILY_SCHEMA, **FUTURES_EXTRA_SCHEMA}

DAILY_DOCS = {
    "date": "UTC day t; the position is decided at its close and earns the move to t+1",
    "asset": "coin",
    "strategy": "e.g. dvol_futures_7d",
    "family": "forecast model family behind the signal",
    "horizon": "forecast horizon in days",
    "sample": "oos: traded on walk-forward out-of-sample forecasts",
    "position": "units held over (t, t+1] after every risk control (1 unit = contracts_per_unit contracts)",
    "turnover": "|position_t - position_{t-1}| (units traded at the close of t)",
    "gross_usd": "P&L before costs, USD",
    "cost_usd": "fees + half-spread + slippage of the day's trade, USD",
    "net_usd": "gross_usd - cost_usd",
    "equity_usd": "cumulative net_usd of this strategy/family/asset",
    "drawdown_usd": "running peak of equity (from 0) minus equity, >= 0",
    "gross_vol": "gross P&L in vol points per contract-unit",
    "cost_vol": "cost in vol points",
    "net_vol": "net P&L in vol points",
    "tau": "threshold in force (chosen on folds before this one)",
    "signal": "today's raw signal: +1 long, -1 short, 0 flat",
    "y_hat": "today's forecast DVOL change over the horizon (vol points); null without a forecast",
    "guardrail": "size scaled down today (jump or funding spike above its trailing quantile)",
    "stopped": "flat today because yesterday's net loss breached the daily stop",
    "killed": "flat today because the drawdown kill-switch fired",
    "contract_expiry": "expiry of the DVOL future held over (t, t+1] (null: the index model, or not yet listed)",
    "futures_price": "that contract's price at t's close (vol points; the index itself in the index model)",
    "roll": "the position moved into the next contract at t's close (both legs paid costs)",
}


def validate_daily(frame: pl.DataFrame, schema: dict[str, pl.DataType] = DAILY_SCHEMA) -> None:
    """Raise ValueError naming every broken rule: missing columns, wrong types, duplicate
    keys, an equity that is not the running sum of net, or a negative drawdown."""
    problems = []
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        problems.append(f"missing columns {missing}")
    wrong = [f"{c}: {frame.schema[c]} (want {t})" for c, t in schema.items()
             if c in frame.columns and frame.schema[c] != t]
    if wrong:
        problems.append(f"wrong dtypes {wrong}")
    if not problems:
        keys = [k for k in KEYS if k != "horizon"] + ["date"]
        dupes = frame.height - frame.select(keys).unique().height
        if dupes:
            problems.append(f"{dupes} duplicate (strategy, family, asset, date) rows")
        check = frame.sort("date").with_columns(
            (pl.col("net_usd").cum_sum().over(keys[:-1]) - pl.col("equity_usd")).abs().alias("__gap")
        )
        if check.height and check["__gap"].max() > 1e-6 * max(1.0, float(frame["net_usd"].abs().sum())):
            problems.append("equity_usd is not the running sum of net_usd per strategy/family/asset")
        if frame.height and frame["drawdown_usd"].min() < -1e-9:
            problems.append("drawdown_usd has negative values")
        if frame.select(pl.col("net_usd").is_null().any()).item():
            problems.append("net_usd has nulls")
    if problems:
        raise ValueError("daily backtest frame is invalid: " + "; ".join(problems))


FUTURES_STRATEGY = pl.format("dvol_futures_{}d", pl.col("horizon"))
"""The futures strategy name of a row with a `horizon` column, e.g. dvol_futures_7d."""
