"""Which coins the universe's models use, and why not the others.

A stablecoin is excluded (its "volatility" is peg noise, and a pooled model would learn
nothing from it): a known stablecoin ticker, or a coin whose close stays within 3 % of
1 USD with an annualised volatility under 5 %. A coin with under `min_days` bars is too
short to train or score. Every skipped coin is listed with its reason.
"""

from __future__ import annotations

import polars as pl

from dvol_pipeline.quant.stats import PERIODS_PER_YEAR

KNOWN_STABLECOINS = frozenset({"USDT", "USDC", "DAI", "BUSD", "TUSD", "USDP", "GUSD", "FDUSD", "PYUSD", "USDD", "UST",
                               "FRAX", "LUSD", "USDE", "EURT", "PAX", "HUSD", "SUSD"})
STABLE_PEG_BAND = 0.03
STABLE_MAX_VOL = 0.05
MIN_DAYS = 400
"""Bars a coin needs: a year of training history plus a quarter to score."""


def symbol_table(raw: pl.DataFrame, min_days: int = MIN_DAYS) -> pl.DataFrame:
    """One row per symbol: first/last day, listing/delisting inside the history, stablecoin flag,
    source, and whether the walk-forward uses it (skip_reason otherwise)."""
    if raw.is_empty():
        raise ValueError("raw_universe_daily holds no rows: ingest the universe first")
    first, last = raw["date"].min(), raw["date"].max()
    ret = pl.col("close").log().diff().over("symbol", order_by="date")
    out = (
        raw.with_columns(ret.alias("__r"))
        .group_by("symbol")
        .agg(pl.col("date").min().alias("first_day"), pl.col("date").max().alias("last_day"),
             pl.len().cast(pl.Int64).alias("n_days"), pl.col("source").first(),
             ((pl.col("close") - 1.0).abs().quantile(0.95)).alias("__peg"),
             (pl.col("__r").std() * PERIODS_PER_YEAR**0.5).alias("__vol"),
             pl.col("market_cap").drop_nulls().last().alias("last_market_cap"),
             pl.col("name").drop_nulls().first().alias("name"))
        .with_columns(
            (pl.col("first_day") > first).alias("listed_in_history"),
            (pl.col("last_day") < last).alias("delisted"),
            (pl.col("symbol").is_in(sorted(KNOWN_STABLECOINS))
             | ((pl.col("__peg") < STABLE_PEG_BAND) & (pl.col("__vol") < STABLE_MAX_VOL))).fill_null(False)
            .alias("stablecoin"),
        )
    )
    reason = (
        pl.when(pl.col("stablecoin")).then(pl.lit("stablecoin (near-zero volatility around its peg)"))
        .when(pl.col("n_days") < min_days)
        .then(pl.format(f"too little history: {{}} days of bars, {min_days} needed", pl.col("n_days")))
    )
    return out.with_columns(reason.alias("skip_reason")).with_columns(
        pl.col("skip_reason").is_null().alias("modelled")
    ).drop("__peg", "__vol").sort("symbol")
