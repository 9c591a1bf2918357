"""The strategies' trades priced by the shared dynamic cost model (quant/execution/costs_dynamic.py).

`dynamic_cost_fn(market)` is a `CostFn` like `simple_cost_fn`: each trade's entry and exit legs become
orders (the entry passive or aggressive as the trade was, the exit aggressive), priced against the
market state as of the leg (mid, spread, volatility, volume rate, Kyle's lambda, VPIN from the bars and
features), and the trade's cost is the two legs' total in bps, times `legs`. A passive entry that filled
is priced with a fill probability of 1 (the fill happened; its adverse selection remains); a missed one
costs nothing here (its opportunity cost is the P&L it did not make, which the run already shows).

`market_state(features, bars)` builds that state per (venue, symbol, bar close): `sigma` is the bar's
return std (a fraction, from `rv_60`), `volume_rate` the trailing mean volume per bar, both per bar, so
the model's `sigma_unit_s` is the bar's length in seconds.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from dvol_pipeline.quant.execution.costs_dynamic import CostConfig, order_costs
from dvol_pipeline.quant.micro.strategies.common import CostFn

VOLUME_WINDOW = 60
"""Bars in the trailing mean of the volume rate."""


def market_state(features: pl.DataFrame, bars: pl.DataFrame) -> pl.DataFrame:
    """(venue, symbol, ts) -> mid, spread (quote units), sigma and volume_rate per bar, kyle_lambda, vpin."""
    key = ["venue", "symbol", "ts"]
    b = bars.select(*key, pl.col("mid_close").alias("mid"), "spread_bps", "volume").sort(key)
    b = b.with_columns((pl.col("spread_bps") * pl.col("mid") / 1e4).alias("spread"),
                       pl.col("volume").rolling_mean(VOLUME_WINDOW, min_samples=1).over("venue", "symbol")
                       .alias("volume_rate"))
    f = features.select(*key, (pl.col("rv_60") / 60**0.5 / 1e4).alias("sigma"), "kyle_lambda", "vpin")
    out = b.join(f, on=key, how="left").with_columns(
        pl.col("kyle_lambda").fill_null(0.0).clip(0.0), pl.col("vpin").fill_null(0.5),
        pl.col("sigma").forward_fill().over("venue", "symbol"), pl.col("volume_rate").clip(1e-12))
    return out.drop_nulls(["mid", "spread", "sigma"]).select(*key, "mid", "spread", "sigma", "volume_rate",
                                                             "kyle_lambda", "vpin")


def dynamic_cost_fn(market: pl.DataFrame, bar_seconds: float, config: CostConfig = CostConfig()) -> CostFn:
    """A CostFn pricing each trade's two legs with `order_costs` against `market` (`market_state`)."""
    config = replace(config, sigma_unit_s=bar_seconds)

    def legs_of(trades: pl.DataFrame) -> pl.DataFrame:
        base = trades.with_row_index("__trade").filter(pl.col("exit_reason") != "missed")
        entry = base.select("__trade", pl.concat_str(pl.col("venue"), pl.lit("|"), pl.col("symbol")).alias("symbol"),
                            pl.col("entry_ts").alias("ts"), pl.col("side").cast(pl.Float64).alias("side"), "qty",
                            pl.col("execution").alias("style"), pl.lit(1.0).alias("fill_prob"))
        exit_leg = entry.with_columns(pl.col("__trade"), base["exit_ts"].alias("ts"), -pl.col("side"),
                                      pl.lit("aggressive").alias("style"))
        return pl.concat([entry, exit_leg])

    keyed = market.with_columns(pl.concat_str(pl.col("venue"), pl.lit("|"), pl.col("symbol")).alias("symbol"))

    def cost(trades: pl.DataFrame) -> pl.Series:
        out = pl.Series("cost_bps", [0.0] * trades.height, pl.Float64)
        orders = legs_of(trades)
        if orders.is_empty():
            return out
        priced = order_costs(orders.drop_nulls("ts"), keyed.drop("venue"), config)
        per_trade = priced.group_by("__trade").agg(pl.col("total_bps").sum())
        legs = trades.with_row_index("__trade").select("__trade", "legs")
        got = legs.join(per_trade, on="__trade", how="left").sort("__trade")
        return (got["total_bps"].fill_null(0.0) * got["legs"]).alias("cost_bps").cast(pl.Float64)

    return cost
