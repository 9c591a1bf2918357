"""Surface alerts a desk wants pushed, not found: an implied-vol spike and a skew inversion.

Both read the `surface_features` rows (one per day and coin) and use only days up to the
one judged, so a day's alert is what the desk could have known that evening.

* IV spike: the 30-day ATM vol is more than `ratio` (default 1.2, "20 % above") times its
  mean over the `window` (7) calendar days BEFORE the day; the day itself is left out of
  the mean so a spike does not raise its own bar, and a day without a full window of
  history is not judged (nothing to compare with is not an alert).
* Skew inversion: the 30-day 25-delta risk reversal (call vol minus put vol) changes side:
  puts over calls turning into calls over puts (crypto's "call skew" squeeze), or back.
  A side counts once |RR| >= `rr_band_vol` (0.5 vol points); a day inside the band keeps
  the previous side (hysteresis), so noise around zero is not an alert.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

ATM30, RR25 = "surf_atm_30d", "surf_rr25_30d"


@dataclass(frozen=True)
class AlertRules:
    iv_spike_ratio: float = 1.2
    iv_mean_days: int = 7
    rr_band_vol: float = 0.5
    """|RR| (vol points) that puts the skew clearly on one side; inside it the previous side holds."""


def iv_spikes(features: pl.DataFrame, rules: AlertRules = AlertRules()) -> pl.DataFrame:
    """(date, asset, atm_30d, mean_before, ratio) of every day whose 30-day ATM vol spiked."""
    window = f"{rules.iv_mean_days}d"
    f = features.select("date", "asset", ATM30).drop_nulls().sort("asset", "date")
    f = f.with_columns(
        mean_before=pl.col(ATM30).rolling_mean_by("date", window_size=window, closed="left").over("asset"),
        n_before=pl.col(ATM30).is_not_null().cast(pl.Int32).rolling_sum_by("date", window_size=window, closed="left").over("asset"),
    )
    return (
        f.filter((pl.col("n_before") == rules.iv_mean_days) & (pl.col(ATM30) > rules.iv_spike_ratio * pl.col("mean_before")))
        .select("date", "asset", pl.col(ATM30).alias("atm_30d"), "mean_before",
                (pl.col(ATM30) / pl.col("mean_before")).alias("ratio"))
    )


def skew_inversions(features: pl.DataFrame, rules: AlertRules = AlertRules()) -> pl.DataFrame:
    """(date, asset, rr25_before, rr25) of every day the 30-day 25-delta RR changed sign.

    With hysteresis: a side counts only once |RR| reaches `rr_band_vol`, and the day is compared
    with the last day that was clearly on a side, so an RR wobbling around zero is not an
    inversion every other day, and -1 -> 0.1 -> 1 is one inversion (on the day it reaches 1).
    """
    f = features.select("date", "asset", RR25).drop_nulls().sort("asset", "date")
    side = pl.when(pl.col(RR25).abs() >= rules.rr_band_vol).then(pl.col(RR25).sign())
    f = f.with_columns(side=side, clear=pl.when(side.is_not_null()).then(pl.col(RR25)))
    f = f.with_columns(side_before=pl.col("side").shift(1).forward_fill().over("asset"),
                       rr25_before=pl.col("clear").shift(1).forward_fill().over("asset"))
    flipped = pl.col("side").is_not_null() & (pl.col("side") * pl.col("side_before") < 0)
    return f.filter(flipped).select("date", "asset", "rr25_before", pl.col(RR25).alias("rr25"))
