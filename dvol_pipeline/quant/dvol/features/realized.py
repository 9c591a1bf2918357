"""Realised and range volatility from price bars (groups `rv` and `jump`).

Which bars: per (asset, day) the best series that covers the day is used, ranked
1h spot > 1h perpetual > 1d spot > 1d perpetual, ties broken by venue then instrument
name. The choice is made day by day from that day's own bars, so it never depends on
later data (a series that only starts next year cannot change today's row).

Intraday (1h) days: returns are close-to-close log returns of consecutive bars of the
series (the day's first return spans the previous day's last close), RV is their sum of
squares, bipower variation BV = pi/2 * n/(n-1) * sum |r_i||r_i-1| over pairs inside the
day, and Parkinson / Garman-Klass sum the per-bar range estimators. An hourly day needs at
least MIN_INTRADAY_BARS bars. Daily-bar days: RV is the squared daily return and the range
estimators use the daily OHLC; BV is undefined with one return a day, so `jump` is null
there (and the group is absent when no day has intraday bars).

Bars are stamped with their open time; a bar opened on day D belongs to D and closes at or
before the cut-off D+1 00:00 UTC.
"""

from __future__ import annotations

import math

import polars as pl

from ._frames import DAYS_PER_YEAR, ann_vol, complete_days, require_columns, require_utc, rmean

MIN_INTRADAY_BARS = 12
SERIES = ["asset", "venue", "instrument", "kind", "interval"]
_LN2 = math.log(2.0)


def _rank() -> pl.Expr:
    interval = pl.col("interval").replace_strict({"1h": 0, "1d": 1}, default=None, return_dtype=pl.Int32)
    kind = pl.when(pl.col("kind") == "spot").then(0).otherwise(1)
    return (2 * interval + kind).alias("rank")


def daily_price_stats(ohlcv: pl.DataFrame) -> pl.DataFrame:
    """One row per (asset, date): the chosen series' daily figures (variances are per day).

    Columns: asset, date, estimator ('hourly' | 'daily-ohlc'), series, close, ret (log),
    rv, bv (null for daily bars), park, gk.
    """
    require_columns("raw_ohlcv", ohlcv, ["ts", *SERIES, "open", "high", "low", "close"])
    require_utc("raw_ohlcv", ohlcv)
    bars = ohlcv.filter(pl.col("interval").is_in(["1h", "1d"])).sort(*SERIES, "ts")
    r = pl.col("close").log() - pl.col("close").shift(1).over(SERIES).log()
    bars = bars.with_columns(
        date=pl.col("ts").dt.date(),
        r=pl.coalesce(r, (pl.col("close") / pl.col("open")).log()),
        hl2=(pl.col("high") / pl.col("low")).log() ** 2,
        co2=(pl.col("close") / pl.col("open")).log() ** 2,
    ).with_columns(pair=pl.col("r").abs() * pl.col("r").abs().shift(1).over([*SERIES, "date"]))
    days = (
        bars.group_by([*SERIES, "date"])
        .agg(
            n=pl.len(),
            close=pl.col("close").last(),
            rv=(pl.col("r") ** 2).sum(),
            pair_sum=pl.col("pair").sum(),
            park=(pl.col("hl2") / (4.0 * _LN2)).sum(),
            gk=(0.5 * pl.col("hl2") - (2.0 * _LN2 - 1.0) * pl.col("co2")).sum(),
        )
        .with_columns(_rank())
    )
    hourly = pl.col("interval") == "1h"
    days = days.filter(pl.when(hourly).then(pl.col("n") >= MIN_INTRADAY_BARS).otherwise(pl.col("n") == 1))
    # the daily return of a series needs its own close of the previous day
    prev = days.select(*SERIES, (pl.col("date") + pl.duration(days=1)).alias("date"), pl.col("close").alias("prev"))
    days = days.join(prev, on=[*SERIES, "date"], how="left")
    ret = (pl.col("close") / pl.col("prev")).log()
    n = pl.col("n").cast(pl.Float64)
    days = days.with_columns(
        ret=ret,
        rv=pl.when(hourly).then(pl.col("rv")).otherwise(ret**2),
        bv=pl.when(hourly & (pl.col("n") > 1)).then(math.pi / 2 * n / (n - 1) * pl.col("pair_sum")),
        estimator=pl.when(hourly).then(pl.lit("hourly")).otherwise(pl.lit("daily-ohlc")),
        series=pl.format("{} {} {}@{}", "kind", "interval", "instrument", "venue"),
    )
    best = (
        days.sort("asset", "date", "rank", "venue", "instrument")
        .group_by("asset", "date", maintain_order=True)
        .first()
    )
    return best.select("asset", "date", "estimator", "series", "close", "ret", "rv", "bv", "park", "gk")


def realized_features(stats: pl.DataFrame) -> pl.DataFrame:
    """rv and jump features per (date, asset) from `daily_price_stats`."""
    g = complete_days(stats)
    jump_var = (pl.col("rv") - pl.col("bv")).clip(lower_bound=0.0)

    def logvar(v: pl.Expr) -> pl.Expr:
        return pl.when(v > 0).then((v * DAYS_PER_YEAR).log())

    rv5, rv22 = rmean(pl.col("rv"), 5), rmean(pl.col("rv"), 22)
    return g.with_columns(jump_var=jump_var).select(
        "date",
        "asset",
        ret_1d=pl.col("ret") * 100.0,
        rv_1d=ann_vol(pl.col("rv")),
        rv_5d=ann_vol(rv5),
        rv_22d=ann_vol(rv22),
        har_d=logvar(pl.col("rv")),
        har_w=logvar(rv5),
        har_m=logvar(rv22),
        park_1d=ann_vol(pl.col("park")),
        park_22d=ann_vol(rmean(pl.col("park"), 22)),
        gk_1d=ann_vol(pl.col("gk").clip(lower_bound=0.0)),
        gk_22d=ann_vol(rmean(pl.col("gk"), 22).clip(lower_bound=0.0)),
        bv_1d=ann_vol(pl.col("bv")),
        jump_1d=ann_vol(pl.col("jump_var")),
        jump_share_1d=pl.when(pl.col("rv") > 0).then(pl.col("jump_var") / pl.col("rv")),
        jump_22d=ann_vol(rmean(pl.col("jump_var"), 22)),
    )


def estimator_summary(stats: pl.DataFrame) -> dict[str, str]:
    """What the rv/jump features were computed from, for the asset metadata."""
    counts = stats.group_by("estimator").len().sort("estimator")
    kinds = dict(zip(counts["estimator"], counts["len"], strict=True))
    if len(kinds) == 1:
        rv = next(iter(kinds))
    else:
        rv = "mixed (" + ", ".join(f"{k} on {v} asset-days" for k, v in kinds.items()) + ")"
    series = stats.group_by("asset", "series").len().sort("asset", "len", "series", descending=[False, True, False])
    used = "; ".join(f"{a}: {s}" for a, s in series.group_by("asset", maintain_order=True).first().select("asset", "series").iter_rows())
    return {
        "realized_vol": rv,
        "range": "hourly bars (sum over the day)" if rv == "hourly" else ("daily OHLC" if rv == "daily-ohlc" else rv),
        "jump": "bipower variation of hourly returns" if "hourly" in kinds else "absent: needs intraday bars",
        "price_series": used,
    }
