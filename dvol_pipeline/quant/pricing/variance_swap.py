"""30-day variance-swap replication from an option chain (the DVOL / VIX method).

Why: DVOL is the square root of a 30-day variance swap replicated from Deribit's option
marks, exactly like the VIX white paper. The simulator computes DVOL from its chains with
this module, and later the pipeline compares the same replica against published DVOL, so
one vectorised implementation serves both.

Method (r = 0, prices on the forward; CBOE VIX white paper):

* per (ts, asset, expiry): F = the expiry's forward (`underlying_price`), K0 = the first
  strike at or below F (the lowest strike if all lie above F);
* Q(K) = put price for K < K0, call price for K > K0, the put/call average at K0; only
  strikes with the needed quote take part;
* dK = half the distance between the neighbouring strikes (one-sided at the ends);
* sigma^2 = (2/T) * sum(dK / K^2 * Q(K)) - (1/T) * (F/K0 - 1)^2   (annualised, T in years).

The 30-day value interpolates the two expiries bracketing 30 days linearly in total
variance (sigma^2 * T). With expiries on one side only, the nearest one is extrapolated
flat in annualised variance (sigma^2_30 = sigma^2_nearest), which is the natural
"no term structure information" rule. The VIX "stop after two zero bids" rule is not
applied: marks are never quoted as zero bids, and a truncated strip only lowers the value.

Everything is a polars query over a long frame, so thousands of snapshots run at once.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dvol_pipeline.quant.pricing.options.year_fraction import to_years

KEYS = ["ts", "asset", "expiry"]
CHAIN_COLUMNS = ["ts", "asset", "expiry", "strike", "option_type", "mark_price", "underlying_price"]


# Note: polars may turn `column / scalar` into a multiplication by the reciprocal on long
# arrays only, which makes a snapshot's value depend (in the last bit) on how many other
# snapshots share the frame. Every scalar division below is therefore written as an
# explicit multiplication, so results are bit-identical whatever the frame holds.


def strip_variance(chain: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Annualised replicated variance of every expiry in `chain`.

    Takes the raw_option_chain columns ts, asset, expiry, strike, option_type ("C"/"P"),
    mark_price (in coin) and underlying_price (USD forward). Returns one row per
    (ts, asset, expiry): T (years), forward, k0, n_strikes, variance (sigma^2, decimal).
    Expiries with fewer than two usable strikes or not after ts are left out.
    """
    lf = chain.lazy()
    missing = [c for c in CHAIN_COLUMNS if c not in lf.collect_schema().names()]
    if missing:
        raise ValueError(f"option chain lacks column(s) {missing}; need {CHAIN_COLUMNS}")
    usd = pl.col("mark_price") * pl.col("underlying_price")
    strikes = (
        lf.select(CHAIN_COLUMNS)
        .filter(
            pl.col("mark_price").is_not_null()
            & pl.col("underlying_price").is_not_null()
            & (pl.col("expiry") > pl.col("ts"))
        )
        .group_by([*KEYS, "strike"])
        .agg(
            F=pl.col("underlying_price").median(),
            put=usd.filter(pl.col("option_type") == "P").mean(),
            call=usd.filter(pl.col("option_type") == "C").mean(),
        )
        .with_columns(
            F=pl.col("F").median().over(KEYS),
            T=to_years(pl.col("expiry") - pl.col("ts")),
        )
    )
    k = pl.col("strike")
    k0 = k.filter(k <= pl.col("F")).max().over(KEYS).fill_null(k.min().over(KEYS))
    q = (
        pl.when(k < pl.col("k0"))
        .then(pl.col("put"))
        .when(k > pl.col("k0"))
        .then(pl.col("call"))
        .otherwise(pl.mean_horizontal("put", "call"))
    )
    prev, nxt = k.shift(1).over(KEYS), k.shift(-1).over(KEYS)
    dk = (
        pl.when(prev.is_null())
        .then(nxt - k)
        .when(nxt.is_null())
        .then(k - prev)
        .otherwise((nxt - prev) * 0.5)
    )
    rows = (
        strikes.with_columns(k0=k0)
        .with_columns(q=q)
        .filter(pl.col("q").is_not_null())
        .sort([*KEYS, "strike"])
        .with_columns(contrib=dk / (k * k) * pl.col("q"))
        .select(*KEYS, "T", "F", "k0", "contrib")
        .collect()
    )
    if rows.height == 0:
        return _empty_strips(chain)
    # per-expiry sums with numpy over contiguous sorted segments: the value of one expiry
    # never depends on which other snapshots share the frame (polars may split a group's
    # float sum across threads)
    new_group = pl.any_horizontal([pl.col(c) != pl.col(c).shift(1) for c in KEYS]).fill_null(True)
    starts = np.flatnonzero(rows.select(new_group).to_series().to_numpy())
    total = np.add.reduceat(rows["contrib"].to_numpy(), starts)
    counts = np.diff(np.append(starts, rows.height))
    out = (
        rows[starts]
        .select(*KEYS, "T", forward="F", k0="k0")
        .with_columns(n_strikes=pl.Series(counts, dtype=pl.UInt32), s=pl.Series(total))
        .filter(pl.col("n_strikes") >= 2)
        .with_columns(gap=pl.col("forward") / pl.col("k0") - 1.0)
        .with_columns(variance=(2.0 * pl.col("s") - pl.col("gap") * pl.col("gap")) / pl.col("T"))
        .drop("s", "gap")
        .sort(["asset", "ts", "expiry"])
    )
    return out


def _empty_strips(chain) -> pl.DataFrame:
    sch = chain.lazy().collect_schema()
    return pl.DataFrame(
        schema={
            "ts": sch["ts"], "asset": sch["asset"], "expiry": sch["expiry"], "T": pl.Float64,
            "forward": pl.Float64, "k0": pl.Float64, "n_strikes": pl.UInt32, "variance": pl.Float64,
        }
    )


def interpolate_variance(strips: pl.DataFrame, target_days: float = 30.0) -> pl.DataFrame:
    """Pick the expiries bracketing `target_days` per (ts, asset) and interpolate.

    Linear in total variance between the last expiry at or before the target and the first
    after it; flat annualised variance from the nearest expiry when only one side exists.
    Returns ts, asset, dvol (vol points), near_expiry, next_expiry (null on a missing side).
    """
    tt = target_days / 365.0
    valid = strips.lazy().filter(pl.col("variance").is_finite() & (pl.col("variance") > 0))
    side = ["ts", "asset"]
    near = (
        valid.filter(pl.col("T") <= tt)
        .group_by(side)
        .agg(pl.all().sort_by("T").last())
        .select(*side, near_expiry="expiry", t1="T", v1="variance")
    )
    nxt = (
        valid.filter(pl.col("T") > tt)
        .group_by(side)
        .agg(pl.all().sort_by("T").first())
        .select(*side, next_expiry="expiry", t2="T", v2="variance")
    )
    w1 = (pl.col("t2") - tt) / (pl.col("t2") - pl.col("t1"))
    both = (pl.col("t1") * pl.col("v1") * w1 + pl.col("t2") * pl.col("v2") * (1.0 - w1)) * (1.0 / tt)
    var30 = pl.coalesce(both, pl.col("v1"), pl.col("v2"))
    return (
        near.join(nxt, on=side, how="full", coalesce=True)
        .with_columns(dvol=100.0 * var30.clip(lower_bound=0.0).sqrt())
        .select(*side, "dvol", "near_expiry", "next_expiry")
        .sort(["asset", "ts"])
        .collect()
    )


def replicate_dvol(chain: pl.DataFrame | pl.LazyFrame, target_days: float = 30.0) -> pl.DataFrame:
    """DVOL-style 30-day implied volatility (vol points) for every (ts, asset) snapshot.

    `chain` holds raw_option_chain columns (see `strip_variance`); many snapshots and
    assets at once. Returns ts, asset, dvol, near_expiry, next_expiry sorted by asset, ts.
    """
    return interpolate_variance(strip_variance(chain), target_days)
