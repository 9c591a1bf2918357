"""Strategy statistics per strategy x regime (ALL too) x coin (ALL too) x cost multiplier.

Regime is the trade's entry regime; a (strategy, regime) subset's daily P&L is the sum of
its trades' day rows by date over every day of the out-of-sample window (0 when flat), so
the Sharpe (of net / capital, 365 days a year) and the drawdown (additive, in USD) of
`quant.evaluate.strategy.daily_pnl_metrics` read as "trading only in that regime". The
trade counts, hit rate (share of trades with net > 0), P&L sums and greeks are per trade.
Costs are linear: net(m) = gross − m x unit cost, for each m in `cost_mults`.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from dvol_pipeline.quant.evaluate.strategy import daily_pnl_metrics
from dvol_pipeline.quant.evaluate.classification import roc_auc

from .config import IVRankConfig
from .trades import GREEKS

ALL = "ALL"
METRIC_SCHEMA = {
    "strategy": pl.Utf8, "regime": pl.Utf8, "asset": pl.Utf8, "cost_mult": pl.Float64, "n_trades": pl.Int64,
    "hit_rate": pl.Float64, "gross_usd": pl.Float64, "cost_usd": pl.Float64, "net_usd": pl.Float64,
    "sharpe": pl.Float64, "max_drawdown_usd": pl.Float64, **{g: pl.Float64 for g in GREEKS}, "n_days": pl.Int64,
}


def _calendar(first: date, last: date) -> np.ndarray:
    return np.arange(np.datetime64(first, "D"), np.datetime64(last + timedelta(days=1), "D"))


def strategy_metrics(trades: pl.DataFrame, days: pl.DataFrame, first: date, last: date,
                     cfg: IVRankConfig) -> pl.DataFrame:
    """trades: strategy, asset, regime, gross_usd, unit_cost_usd, greeks (one row per trade taken);
    days: strategy, asset, regime, date, gross_usd, unit_cost_usd (the trades' day rows)."""
    if trades.is_empty():
        return pl.DataFrame(schema=METRIC_SCHEMA)
    cal = _calendar(first, last)
    assets = sorted(trades["asset"].unique().to_list())
    rows = []
    for strategy in sorted(trades["strategy"].unique().to_list()):
        t_s, d_s = trades.filter(pl.col("strategy") == strategy), days.filter(pl.col("strategy") == strategy)
        regimes = [ALL] + sorted(t_s["regime"].drop_nulls().unique().to_list())
        for regime in regimes:
            for asset in [*assets, ALL]:
                t, d = t_s, d_s
                if regime != ALL:
                    t, d = t.filter(pl.col("regime") == regime), d.filter(pl.col("regime") == regime)
                if asset != ALL:
                    t, d = t.filter(pl.col("asset") == asset), d.filter(pl.col("asset") == asset)
                capital = cfg.capital_usd * (len(assets) if asset == ALL else 1)
                per_day = d.group_by("date").agg(pl.col("gross_usd", "unit_cost_usd").sum())
                idx = np.searchsorted(cal, per_day["date"].to_numpy().astype("datetime64[D]"))
                keep = (idx < cal.size)
                g_day, c_day = np.zeros(cal.size), np.zeros(cal.size)
                np.add.at(g_day, idx[keep], per_day["gross_usd"].to_numpy()[keep])
                np.add.at(c_day, idx[keep], per_day["unit_cost_usd"].to_numpy()[keep])
                gross_t, cost_t = t["gross_usd"].to_numpy(), t["unit_cost_usd"].to_numpy()
                greek = {g: float(t[g].sum()) for g in GREEKS}
                for m in cfg.cost_mults:
                    net_day = g_day - m * c_day
                    net_t = gross_t - m * cost_t
                    day = daily_pnl_metrics(net_day, capital)
                    s = day["sharpe"]
                    rows.append({
                        "strategy": strategy, "regime": regime, "asset": asset, "cost_mult": float(m),
                        "n_trades": t.height, "hit_rate": float(np.mean(net_t > 0)) if t.height else None,
                        "gross_usd": float(gross_t.sum()), "cost_usd": float(m * cost_t.sum()),
                        "net_usd": float(net_t.sum()), "sharpe": float(s) if np.isfinite(s) else None,
                        "max_drawdown_usd": float(day["max_drawdown_pnl"]), **greek, "n_days": day["n_days"],
                    })
    return pl.DataFrame(rows, schema=METRIC_SCHEMA)


def pooled_gate_auc(trades: pl.DataFrame) -> tuple[float | None, int]:
    """(AUC of the gate's out-of-sample probabilities against "net > 0" over every predicted
    candidate of every fold, how many); None when nothing was predicted."""
    oos = trades.filter(pl.col("prob").is_not_null())
    if oos.is_empty():
        return None, 0
    auc = roc_auc((oos["net_usd"] > 0).to_numpy(), oos["prob"].to_numpy())
    return (float(auc) if np.isfinite(auc) else None), oos.height
