"""Strategy statistics, net of costs.

`daily_pnl_metrics` is the one definition of a strategy's statistics from its daily P&L
series; every lane calls it (the DVOL-futures backtest below, the IV-rank strategies, the
universe's vol targeting) and keeps only its own framing: how its trades or weights become
a daily P&L series, which groups it reports, and under which column names. Every statistic
is the one defined in `dvol_pipeline.quant.stats` (365 periods a year: crypto trades every
day): annualised return (compounded), volatility, Sharpe, Sortino, max drawdown in the
P&L's units (additive, running peak from 0) and as a fraction of wealth (compounded), hit
rate (`win_rate`: share of the days in a position that made money net, over such days with
a nonzero P&L), turnover (mean |Δposition| a day) and exposure (share of days in a position).

The DVOL-futures tables: returns are net_usd / capital (capital per strategy and coin; the
both-coins "ALL" rows use capital x coins); on top, the tail on jump days (mean and 5 %
quantile of net_usd on days whose P&L is earned on a jump day, see risk.jump_days).
The array version (many variants at once: sweeps, noise draws) uses the same `sharpe` and
`max_drawdown` on (strategies, days) arrays.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dvol_pipeline.quant.evaluate.daily_frame import KEYS
from dvol_pipeline.quant.evaluate import regime_labels
from dvol_pipeline.quant.evaluate.forecast import regimes_by_fold
from dvol_pipeline.quant.stats import (
    PERIODS_PER_YEAR, annual_return, annual_volatility, max_drawdown, sharpe, sortino, win_rate,
)  # fmt: skip

ALL_ASSETS = "ALL"

# The capital a strategy is measured against when the caller names none (the DVOL-futures
# backtest's default, `BacktestConfig.capital_usd`, is this number).
DEFAULT_CAPITAL_USD = 250_000.0


def daily_pnl_metrics(net, capital: float = 1.0, periods_per_year: int = PERIODS_PER_YEAR, *, position=None,
                      turnover=None) -> dict[str, float]:
    """The statistics of one strategy's daily P&L series, one value a day in date order.

    `net`: the day's net P&L, in currency (then `capital` is what it is a return on) or
    already a return (capital 1). Returns are net / capital. Keys:

    * n_days, pnl (the sum of net);
    * ann_return (compounded), ann_vol, sharpe, sortino: of the returns, annualised with
      `periods_per_year`;
    * max_drawdown_pnl: additive, in net's units, the running peak starting at 0;
    * max_drawdown: compounded, of the returns: the largest fall of wealth prod(1 + r) from
      its running peak, as a fraction (x 100 for a percentage);
    * with `position` (the day's position, nonzero = in the market): exposure (share of days
      in a position) and hit_rate (`quant.stats.win_rate`);
    * with `turnover` (the day's |Δposition|): turnover, its mean.

    Lanes report the subset they need under their own column names.
    """
    net = np.asarray(net, float)
    returns = net / capital
    out = {
        "n_days": len(net),
        "pnl": float(net.sum()),
        "ann_return": annual_return(returns, periods_per_year),
        "ann_vol": annual_volatility(returns, periods_per_year),
        "sharpe": sharpe(returns, periods_per_year),
        "sortino": sortino(returns, periods_per_year),
        "max_drawdown_pnl": max_drawdown(net),
        "max_drawdown": max_drawdown(returns, compounded=True),
    }
    if turnover is not None:
        out["turnover"] = float(np.mean(np.asarray(turnover, float)))
    if position is not None:
        position = np.asarray(position, float)
        out["exposure"] = float((position != 0).mean())
        out["hit_rate"] = win_rate(net, position)
    return out


def combine_assets(keys: pl.DataFrame, arrays: dict[str, np.ndarray], active: np.ndarray):
    """Add asset="ALL" rows: arrays summed over coins per the other keys, active if any coin is."""
    others = [c for c in keys.columns if c != "asset"]
    groups = keys.with_row_index("__i").group_by(others, maintain_order=True).agg(pl.col("__i"))
    out_keys = groups.drop("__i").with_columns(asset=pl.lit(ALL_ASSETS)).select(keys.columns)
    gid = np.empty(keys.height, int)
    for g, idx in enumerate(groups["__i"].to_list()):
        gid[idx] = g
    summed = {}
    for name, arr in arrays.items():
        acc = np.zeros((groups.height, arr.shape[1]))
        np.add.at(acc, gid, arr)
        summed[name] = acc
    act = np.zeros((groups.height, active.shape[1]), bool)
    np.logical_or.at(act, gid, active)
    return (pl.concat([keys, out_keys]), {k: np.vstack([arrays[k], summed[k]]) for k in arrays},
            np.vstack([active, act]))


def array_summary(keys: pl.DataFrame, net: np.ndarray, active: np.ndarray, annualization: int = PERIODS_PER_YEAR,
                  all_assets: bool = True) -> pl.DataFrame:
    """keys + net_usd, sharpe, max_drawdown_usd, n_days per row of (strategies, days) arrays."""
    if all_assets and "asset" in keys.columns:
        keys, arrays, active = combine_assets(keys, {"net": net}, active)
        net = arrays["net"]
    net = np.where(active, net, 0.0)
    return keys.with_columns(
        net_usd=pl.Series(net.sum(axis=1)),
        sharpe=pl.Series(sharpe(net, annualization, where=active)).fill_nan(None),
        max_drawdown_usd=pl.Series(max_drawdown(net)),
        n_days=pl.Series(active.sum(axis=1).astype(np.int64)),
    )


def _combined_daily(frame: pl.DataFrame, group_by: list[str], n_assets: int) -> pl.DataFrame:
    others = [c for c in group_by if c != "asset"]
    return (
        frame.group_by([*others, "date"]).agg(
            pl.col("gross_usd", "cost_usd", "net_usd", "turnover").sum(),
            pl.col("position").abs().sum(), pl.col("jump_day").any(),
        ).with_columns(asset=pl.lit(ALL_ASSETS), __capital=pl.lit(n_assets, pl.Float64))
    )


def _one(net: np.ndarray, position: np.ndarray, turnover: np.ndarray, jump: np.ndarray, capital: float,
         annualization: int) -> dict[str, float]:
    m = daily_pnl_metrics(net, capital, annualization, position=position, turnover=turnover)
    tail = net[jump]
    return {
        "n_days": m["n_days"],
        "net_usd": m["pnl"],
        **{k: m[k] for k in ("ann_return", "ann_vol", "sharpe", "sortino")},
        "max_drawdown_pct": 100.0 * m["max_drawdown"],
        "max_drawdown_usd": m["max_drawdown_pnl"],
        **{k: m[k] for k in ("turnover", "exposure", "hit_rate")},
        "jump_days": int(jump.sum()),
        "jump_tail_mean_usd": float(tail.mean()) if len(tail) else np.nan,
        "jump_tail_p5_usd": float(np.quantile(tail, 0.05)) if len(tail) else np.nan,
    }



def strategy_metrics(
    daily: pl.DataFrame, group_by: list[str] | None = None, *, capital_usd: float = DEFAULT_CAPITAL_USD,
    annualization: int = PERIODS_PER_YEAR, jump_days: pl.DataFrame | None = None, all_assets: bool = True,
) -> pl.DataFrame:
    """The DVOL-futures table: one row of `daily_pnl_metrics` per group of the daily frame
    (default strategy, family, horizon, asset; plus asset="ALL" rows for both coins
    together). `capital_usd` defaults to the backtest's (`BacktestConfig.capital_usd` is DEFAULT_CAPITAL_USD).
    `jump_days` (date, asset, jump_day) feeds the jump-day tail; without it the tail columns
    are null."""
    group_by = list(group_by or KEYS)
    frame = daily.with_columns(__capital=pl.lit(1.0))
    if jump_days is None:
        frame = frame.with_columns(jump_day=pl.lit(False))
    else:
        frame = frame.join(jump_days.select("date", "asset", "jump_day"), on=["date", "asset"], how="left")
        frame = frame.with_columns(pl.col("jump_day").fill_null(False))
    if all_assets and "asset" in group_by:
        combined = _combined_daily(frame, group_by, frame["asset"].n_unique())
        frame = pl.concat([frame.select(combined.columns), combined])
    rows = []
    groups = frame.sort("date").group_by(group_by, maintain_order=True).agg(
        pl.col("net_usd", "position", "turnover", "jump_day", "gross_usd", "cost_usd"), pl.col("__capital").first()
    )
    for g in groups.iter_rows(named=True):
        stats = _one(np.array(g["net_usd"], float), np.array(g["position"], float), np.array(g["turnover"], float),
                     np.array(g["jump_day"], bool), capital_usd * g["__capital"], annualization)
        rows.append({**{k: g[k] for k in group_by}, **stats, "gross_usd": float(np.sum(g["gross_usd"])),
                     "cost_usd": float(np.sum(g["cost_usd"]))})
    out = pl.DataFrame(rows, infer_schema_length=None)
    if jump_days is None and out.height:
        out = out.with_columns(pl.lit(None, pl.Float64).alias(c) for c in ("jump_tail_mean_usd", "jump_tail_p5_usd"))
    return out.sort(group_by) if out.height else out


def by_year(daily: pl.DataFrame, group_by: list[str] | None = None, **kwargs) -> pl.DataFrame:
    framed = daily.with_columns(year=pl.col("date").dt.year())
    return strategy_metrics(framed, [*(group_by or KEYS), "year"], **kwargs)


def regime_of_days(days: pl.DataFrame, market: pl.DataFrame) -> pl.DataFrame:
    """date, asset, regime (low / mid / high DVOL, terciles of the coin's DVOL before the
    month began; "unknown" with under 30 past days)."""
    unique = days.select("date", "asset").unique().sort("asset", "date").with_columns(
        fold=pl.col("date").dt.strftime("%Y-%m")
    )
    labels = regimes_by_fold(unique, market.select("date", "asset", "dvol"))
    return unique.with_columns(labels.fill_null("unknown")).drop("fold")


def by_regime(daily: pl.DataFrame, market: pl.DataFrame, group_by: list[str] | None = None, **kwargs) -> pl.DataFrame:
    """Per coin and regime (regimes are per coin, so no both-coins rows), under two schemes in
    the `scheme` column: `dvol_tercile` (low / mid / high, `regime_of_days`) and, when the
    market carries features_daily's `regime_code`, `vol_regime` (quant/dvol/regimes.py's labels
    as of each day's close, "unknown" before a year of history)."""
    keys = [*(group_by or KEYS), "regime"]
    framed = daily.join(regime_of_days(daily, market), on=["date", "asset"], how="left")
    out = [strategy_metrics(framed, keys, all_assets=False, **kwargs).with_columns(scheme=pl.lit("dvol_tercile"))]
    if "regime_code" in market.columns and market["regime_code"].drop_nulls().len():
        labels = market.select("date", "asset", regime=regime_labels.decode(pl.col("regime_code")).fill_null("unknown"))
        framed = daily.join(labels, on=["date", "asset"], how="left").with_columns(pl.col("regime").fill_null("unknown"))
        out.append(strategy_metrics(framed, keys, all_assets=False, **kwargs).with_columns(scheme=pl.lit("vol_regime")))
    out = [o for o in out if o.height]
    return pl.concat(out, how="diagonal_relaxed") if out else pl.DataFrame()
