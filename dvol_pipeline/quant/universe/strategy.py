"""Volatility targeting per coin, against buy-and-hold and a trailing-vol rule, net of costs.

The weight decided at D's close earns the coin's simple return of D+1. Rules:

* `buy_hold`: weight 1 every day;
* `trailing_vol`: target_vol / trailing 30-day realised vol, capped at `max_weight`;
* `vol_target`: target_vol / the forecast 7-day vol of the chosen family (the ensemble by
  default), capped, and 0 (cash) on days the LightGBM classifier predicts the High regime.

Costs: |change of weight| x the coin's cost in bps, larger for smaller coins (tier). The
statistics are `quant.evaluate.strategy.daily_pnl_metrics` of the daily net return
(capital 1: Sharpe over 365 days, compounded max drawdown, turnover the mean daily |change
of weight|); ALL is the equal-weight book of the coins that day.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from dvol_pipeline.quant.evaluate.strategy import daily_pnl_metrics


@dataclass(frozen=True)
class StrategyConfig:
    target_vol: float = 0.5
    max_weight: float = 1.0
    family: str = "ensemble"
    horizon: int = 7
    cost_bps_large: float = 10.0
    cost_bps_mid: float = 25.0
    cost_bps_small: float = 50.0


def strategy_daily(features: pl.DataFrame, preds: pl.DataFrame, cfg: StrategyConfig = StrategyConfig()) -> pl.DataFrame:
    """Per (strategy, symbol, date): weight, gross and net return, over the days with a forecast."""
    reg = preds.filter((pl.col("split") == "all") & (pl.col("family") == cfg.family) & (pl.col("horizon") == cfg.horizon))
    cls = preds.filter((pl.col("split") == "all") & (pl.col("family") == "lgbm_class") & (pl.col("horizon") == cfg.horizon))
    px = features.select("symbol", "date", "ret_std_30", "tier",
                         (pl.col("ret").shift(-1).over("symbol", order_by="date").exp() - 1).alias("next_ret"))
    base = reg.select("symbol", "date", "y_hat").join(cls.select("symbol", "date", "class_hat"), on=["symbol", "date"],
                                                       how="left").join(px, on=["symbol", "date"], how="left")
    base = base.filter(pl.col("next_ret").is_not_null()).sort("symbol", "date")
    cap = lambda e: pl.min_horizontal(e, pl.lit(cfg.max_weight)).fill_null(0.0)  # noqa: E731
    weights = {
        "buy_hold": pl.lit(1.0),
        "trailing_vol": cap(cfg.target_vol / pl.col("ret_std_30")),
        "vol_target": pl.when(pl.col("class_hat") == "high").then(0.0).otherwise(cap(cfg.target_vol / pl.col("y_hat"))),
    }
    cost = pl.when(pl.col("tier") == "large").then(cfg.cost_bps_large).when(pl.col("tier") == "mid").then(
        cfg.cost_bps_mid).otherwise(cfg.cost_bps_small) / 1e4
    out = []
    for name, w in weights.items():
        f = base.with_columns(w.cast(pl.Float64).alias("weight"))
        f = f.with_columns((pl.col("weight") - pl.col("weight").shift(1).over("symbol").fill_null(0.0)).abs().alias("turnover"))
        out.append(f.select("date", "symbol", pl.lit(name).alias("strategy"), "weight", "turnover",
                            (pl.col("weight") * pl.col("next_ret")).alias("gross"),
                            (pl.col("weight") * pl.col("next_ret") - pl.col("turnover") * cost).alias("net")))
    return pl.concat(out).sort("strategy", "symbol", "date")


def strategy_metrics(daily: pl.DataFrame) -> pl.DataFrame:
    book = daily.group_by("strategy", "date").agg(pl.col("net").mean(), pl.col("turnover").mean(),
                                                  pl.col("weight").mean()).with_columns(pl.lit("ALL").alias("symbol"))
    rows = []
    both = pl.concat([daily.select("strategy", "symbol", "date", "net", "turnover", "weight"),
                      book.select("strategy", "symbol", "date", "net", "turnover", "weight")])
    for (strategy, symbol), g in both.sort("date").group_by("strategy", "symbol", maintain_order=True):
        m = daily_pnl_metrics(g["net"].to_numpy(), turnover=g["turnover"].to_numpy())
        rows.append({"strategy": strategy, "symbol": symbol, "days": m["n_days"],
                     "annual_return": m["ann_return"], "annual_vol": m["ann_vol"], "sharpe": m["sharpe"],
                     "max_drawdown": m["max_drawdown"], "turnover": m["turnover"],
                     "mean_weight": float(g["weight"].mean())})
    return pl.DataFrame(rows).sort("symbol", "strategy")
