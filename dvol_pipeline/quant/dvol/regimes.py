"""Volatility regimes per (date, coin): where DVOL sits in its past year, and how realised vol
compares with it.

A desk sizes and chooses option structures by regime: sell premium when implied vol is rich
against its history and against what the coin has realised, buy it when cheap. Every
statistic of day D uses closes up to D only (D's DVOL close is known at the cut-off):

* `dvol_rank`: (DVOL(D) - min) / (max - min) over the `window_days` closes ending at D
  (IV rank; null with fewer than `min_history_days` closes in the window, or max == min);
* `dvol_pct`: share of those closes strictly below DVOL(D) (IV percentile);
* `rv_iv_ratio`: `rv_window_days`-day realised vol (sqrt(365 x mean daily realised variance),
  vol points) over DVOL(D);
* `iv30_pct`: the same percentile of the surface's constant-maturity 30-day ATM vol
  (`surf_atm_30d` of surface_features).

The label, first rule that holds wins (`RegimeThresholds` holds every number):

1. `high_vol`: dvol_rank > high_rank, or DVOL above the coin's high mark;
2. `low_vol`: dvol_rank < low_rank and DVOL below the coin's low mark (both low marks);
3. `iv_expansion`: rv_iv_ratio > expansion_ratio with dvol_rank > expansion_min_rank
   (realised vol catching up with implied: implied tends to rise);
4. `iv_contraction`: rv_iv_ratio < contraction_ratio with dvol_rank < contraction_max_rank
   (implied rich against realised in a calm market: implied tends to fall);
5. `neutral` otherwise; null while dvol_rank (or, for 3-4, the ratio) is unknown.

The default marks are near the real market's DVOL 5th/95th percentiles (MARKET_FACTS.md:
BTC 37.7/94.8, ETH 41.5/114.2), a little inside them so the absolute marks matter in long
calm or stressed stretches where the one-year rank alone adapts too fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from dvol_pipeline.contracts.derived import REGIME_LABELS
from dvol_pipeline.quant.rolling import trailing_mean
from dvol_pipeline.quant.stats import PERIODS_PER_YEAR

LABELS: tuple[str, ...] = REGIME_LABELS
"""Regime labels; the index is `regime_code` (the model's numeric encoding; 0 = neutral)."""
CODE = {name: i for i, name in enumerate(LABELS)}
KEY = ["date", "asset"]
IV30_PCT_FEATURE = "surf_atm_30d_pct"
"""The 30-day ATM IV percentile's name as a feature (group `surface`; `iv30_pct` in vol_regimes)."""


@dataclass(frozen=True)
class RegimeThresholds:
    """Every number the regime label depends on (vol points for marks, fractions for ranks)."""

    window_days: int = 365
    min_history_days: int = 180
    rv_window_days: int = 20
    high_rank: float = 0.8
    low_rank: float = 0.2
    expansion_ratio: float = 0.9
    expansion_min_rank: float = 0.5
    contraction_ratio: float = 0.6
    contraction_max_rank: float = 0.5
    marks: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"BTC": (42.0, 90.0), "ETH": (48.0, 108.0)}
    )
    """coin -> (low mark, high mark) of DVOL in vol points."""
    default_marks: tuple[float, float] = (42.0, 90.0)
    """Marks of a coin not in `marks`."""

    def __post_init__(self) -> None:
        if not 0 < self.min_history_days <= self.window_days:
            raise ValueError(f"min_history_days={self.min_history_days} must be in 1..window_days={self.window_days}")
        for coin, (lo, hi) in {**self.marks, "default": self.default_marks}.items():
            if not lo < hi:
                raise ValueError(f"regime marks of {coin}: low {lo} must be below high {hi}")

    def marks_of(self, asset: str) -> tuple[float, float]:
        return self.marks.get(asset, self.default_marks)


def trailing_rank_pct(values: np.ndarray, window: int, min_obs: int) -> tuple[np.ndarray, np.ndarray]:
    """(rank, percentile) of each value within the `window` values ending at it (NaN = missing).

    `values` is one coin's series on a complete daily grid, oldest first."""
    x = np.asarray(values, float)
    n = len(x)
    rank, pct = np.full(n, np.nan), np.full(n, np.nan)
    if n == 0:
        return rank, pct
    padded = np.concatenate([np.full(window - 1, np.nan), x])
    win = np.lib.stride_tricks.sliding_window_view(padded, window)  # row i: x[i-window+1 .. i]
    valid = np.isfinite(win)
    count = valid.sum(axis=1)
    lo = np.where(valid, win, np.inf).min(axis=1)
    hi = np.where(valid, win, -np.inf).max(axis=1)
    below = (np.where(valid, win, np.inf) < x[:, None]).sum(axis=1)
    ok = np.isfinite(x) & (count >= min_obs)
    spread = hi - lo
    rank_ok = ok & (spread > 0)
    rank[rank_ok] = (x[rank_ok] - lo[rank_ok]) / spread[rank_ok]
    pct[ok] = below[ok] / count[ok]
    return rank, pct


def grid(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per (asset, day) from each coin's first to last day (missing days: nulls)."""
    grid = frame.group_by("asset").agg(pl.date_range(pl.col("date").min(), pl.col("date").max()).alias("date"))
    return grid.explode("date").join(frame, on=KEY, how="left").sort("asset", "date")


def ranked(frame: pl.DataFrame, column: str, t: RegimeThresholds, rank: str | None, pct: str) -> pl.DataFrame:
    """`frame` (one coin-day a row, on a complete daily grid) with the trailing percentile of
    `column` as `pct` (and its rank as `rank`, unless None)."""
    parts = []
    for _, part in frame.group_by("asset", maintain_order=True):
        r, p = trailing_rank_pct(part[column].cast(pl.Float64).fill_null(np.nan).to_numpy(),
                                 t.window_days, t.min_history_days)
        cols = [pl.Series(pct, p).fill_nan(None)]
        if rank is not None:
            cols.append(pl.Series(rank, r).fill_nan(None))
        parts.append(part.with_columns(cols))
    return pl.concat(parts) if parts else frame.with_columns(pl.lit(None, pl.Float64).alias(pct))


def label(frame: pl.DataFrame, t: RegimeThresholds = RegimeThresholds()) -> pl.Series:
    """The regime label of each row of a frame holding asset, dvol, dvol_rank, rv_iv_ratio."""
    coins = frame["asset"].unique().to_list()
    marks = pl.DataFrame({"asset": coins, "_lo": [t.marks_of(c)[0] for c in coins],
                          "_hi": [t.marks_of(c)[1] for c in coins]}, schema_overrides={"asset": frame.schema["asset"]})
    f = frame.select("asset", "dvol", "dvol_rank", "rv_iv_ratio").join(marks, on="asset", how="left",
                                                                      maintain_order="left")
    rank, ratio, dvol = pl.col("dvol_rank"), pl.col("rv_iv_ratio"), pl.col("dvol")
    expr = (
        pl.when(rank.is_null()).then(pl.lit(None, pl.Utf8))
        .when((rank > t.high_rank) | (dvol > pl.col("_hi"))).then(pl.lit("high_vol"))
        .when((rank < t.low_rank) & (dvol < pl.col("_lo"))).then(pl.lit("low_vol"))
        .when(ratio.is_null()).then(pl.lit(None, pl.Utf8))
        .when((ratio > t.expansion_ratio) & (rank > t.expansion_min_rank)).then(pl.lit("iv_expansion"))
        .when((ratio < t.contraction_ratio) & (rank < t.contraction_max_rank)).then(pl.lit("iv_contraction"))
        .otherwise(pl.lit("neutral"))
    )
    return f.select(expr.alias("regime")).to_series()


def vol_regimes(dvol: pl.DataFrame, daily_rv: pl.DataFrame | None, atm30: pl.DataFrame | None,
                t: RegimeThresholds = RegimeThresholds()) -> pl.DataFrame:
    """The `vol_regimes` rows, one per (date, asset) DVOL has a close.

    `dvol`: date, asset, dvol (the day's close); `daily_rv`: date, asset, rv (the day's
    realised variance in daily log-return units, `realized.daily_price_stats`); `atm30`:
    date, asset, surf_atm_30d. Returns date, asset, dvol, dvol_rank, dvol_pct, rv_20d,
    rv_iv_ratio, iv30_pct, regime, regime_code (columns of missing inputs are null).
    """
    g = grid(dvol.select(*KEY, pl.col("dvol").cast(pl.Float64)))
    if daily_rv is not None and not daily_rv.is_empty():
        g = g.join(daily_rv.select(*KEY, "rv"), on=KEY, how="left")
    else:
        g = g.with_columns(rv=pl.lit(None, pl.Float64))
    w = t.rv_window_days
    rv_mean = trailing_mean(pl.col("rv"), w, max(1, int(np.ceil(0.8 * w))), "asset")  # start-independent bits
    g = g.with_columns(rv_20d=(rv_mean * float(PERIODS_PER_YEAR)).sqrt() * 100.0)
    g = g.with_columns(rv_iv_ratio=pl.when(pl.col("dvol") > 0).then(pl.col("rv_20d") / pl.col("dvol")))
    g = ranked(g, "dvol", t, "dvol_rank", "dvol_pct")
    if atm30 is not None and not atm30.is_empty() and "surf_atm_30d" in atm30.columns:
        g = g.join(atm30.unique(KEY, keep="last").select(*KEY, "surf_atm_30d"), on=KEY, how="left")
        g = ranked(g, "surf_atm_30d", t, None, "iv30_pct").drop("surf_atm_30d")
    else:
        g = g.with_columns(iv30_pct=pl.lit(None, pl.Float64))
    g = g.filter(pl.col("dvol").is_not_null())
    g = g.with_columns(label(g, t))
    g = g.with_columns(regime_code=pl.col("regime").replace_strict(CODE, default=None, return_dtype=pl.Int8))
    return g.select("date", "asset", "dvol", "dvol_rank", "dvol_pct", "rv_20d", "rv_iv_ratio", "iv30_pct",
                    "regime", "regime_code").sort(KEY)


def regime_features(regimes: pl.DataFrame) -> pl.DataFrame:
    """The `regime` feature group from `vol_regimes` rows: numbers only (a model reads them).

    One-hot columns per non-neutral label (all 0 = neutral; null while the label is unknown)."""
    onehot = [
        pl.when(pl.col("regime").is_null()).then(None).otherwise((pl.col("regime") == name).cast(pl.Int8))
        .alias(f"regime_is_{name}")
        for name in LABELS[1:]
    ]
    return regimes.select(
        *KEY, pl.col("dvol_rank").alias("regime_dvol_rank"), pl.col("dvol_pct").alias("regime_dvol_pct"),
        pl.col("rv_iv_ratio").alias("regime_rv_iv_ratio"), "regime_code", *onehot,
    )

