"""`daily_rollup`: the main microstructure features per coin and UTC day (`micro_daily`).

The day of a bar is the day it covers: ts - 1 ns, so the bar closing at D+1 00:00:00 is D's
last bar. Every value of day D summarises bars closing at or before D+1 00:00, the DVOL
lane's cut-off of D: the roll-up joins `features_daily` without looking ahead. Per coin, each
venue's series (spot, perpetual) is summarised first and the venues are then averaged.
"""

from __future__ import annotations

import polars as pl

from .frames import coin_expr

MEANS = {"micro_spread_bps": "spread_mean", "micro_depth_imbalance_5": "depth_imb_5", "micro_vpin": "vpin",
         "micro_vpin_bvc": "vpin_bvc", "micro_kyle_lambda": "kyle_lambda", "micro_trade_imbalance": "trade_imb",
         "micro_basis_bps": "basis_bps", "micro_funding_bps": "funding_bps", "micro_premium_bps": "premium_bps",
         "micro_hurst": "hurst_300", "micro_jump_share": "jump_share_300", "micro_liq_intensity": "liq_notional",
         "micro_microprice_dev_bps": "microprice_dev_bps", "micro_depletion_rate": "depletion_rate",
         "micro_cancel_rate": "cancel_rate", "micro_btc_corr": "btc_corr"}
"""micro_daily column -> feature averaged over the day's bars."""
LASTS = {"micro_vpin_last": "vpin_bvc", "micro_basis_bps_last": "basis_bps", "micro_price_z_300_last": "price_z_300",
         "micro_btc_ratio_z_300_last": "btc_ratio_z_300"}
"""micro_daily column -> feature's value at the day's last bar that has one."""


def daily_rollup(features: pl.DataFrame, bar: str | None = None) -> pl.DataFrame:
    """micro_daily rows (date, asset, micro_*) from `build_features` output of one bar kind
    (`bar`; default the only one present, else 1m, 1s, 5m in that order).

    micro_rv is the day's realised vol in annualised vol points, sqrt(365 sum (ret_bps/100)^2)
    (DVOL's units); micro_ofi_z_abs the mean |ofi_z|; micro_liq_intensity the mean liquidation
    notional per bar; micro_bars the bars of the day (summed over venues)."""
    kinds = features["bar"].unique().to_list()
    if bar is None:
        bar = kinds[0] if len(kinds) == 1 else next((k for k in ("1m", "1s", "5m") if k in kinds), sorted(kinds)[0])
    f = features.filter(pl.col("bar") == bar).with_columns(
        date=(pl.col("ts") - pl.duration(nanoseconds=1)).dt.date(), asset=coin_expr("symbol"))
    per_series = (f.sort("ts").group_by(["date", "asset", "venue", "symbol"]).agg(
        *[pl.col(src).mean().alias(dst) for dst, src in MEANS.items()],
        *[pl.col(src).drop_nulls().last().alias(dst) for dst, src in LASTS.items()],
        pl.col("ofi_z").abs().mean().alias("micro_ofi_z_abs"),
        ((365 * (pl.col("ret_bps") / 100) ** 2).sum().sqrt()).alias("micro_rv"),
        pl.col("ret_bps").is_not_null().sum().alias("__n_ret"),
        pl.len().alias("micro_bars")))
    per_series = per_series.with_columns(
        pl.when(pl.col("__n_ret") > 0).then(pl.col("micro_rv")).alias("micro_rv"))
    value_cols = [*MEANS, *LASTS, "micro_ofi_z_abs", "micro_rv"]
    return (per_series.group_by(["date", "asset"]).agg(
        *[pl.col(c).mean() for c in value_cols], pl.col("micro_bars").sum())
        .select("date", "asset", "micro_spread_bps", "micro_ofi_z_abs", "micro_rv",
                *[c for c in value_cols if c not in ("micro_spread_bps", "micro_ofi_z_abs", "micro_rv")], "micro_bars")
        .sort(["asset", "date"]))
