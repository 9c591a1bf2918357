"""One call from raw option chains (many days, both assets) to fitted surfaces and checks.

Why one entry point: the pipeline builds every (date, asset) surface of a backfill in a
single vectorised pass, and the quality checks (arbitrage, ATM repricing, DVOL replica)
must see exactly the surfaces the features come from.

Checks carried in `SurfaceBuild`:

* `atm_pricing_error`: per fitted expiry at least `ATM_MIN_DAYS` days out, the listed
  strike nearest the forward (call and put, where two-sided): the fitted SVI vol priced
  with Black-76 against the market mid (bid + ask) / 2 * underlying_price;
  rel_err = model / mid - 1. A surface that cannot reprice the money is not worth reading.
* `replica`: the chain's DVOL by the published method (`replicate_dvol` over every listed
  mark; it reads marks, not quotes, so it is independent of the liquidity filter) next to
  the published DVOL close; `replica_check` flags days beyond a tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from dvol_pipeline.quant.pricing.options import price
from dvol_pipeline.quant.pricing.variance_swap import replicate_dvol

from .arbitrage import butterfly_violations, calendar_violations
from .comparison import compare_models, empty_comparison, evaluation_days
from .constant_maturity import surface_features, surface_grid
from .liquidity import SLICE_KEYS, LiquidityRules, drop_counts, filter_quotes
from .repair import fit_repaired_slices
from .svi import PARAMS, smile_points, svi_vol

ATM_MIN_DAYS = 2.0
REPLICA_TOLERANCE_VOL = 3.0
"""Default |replica - published| allowed, in vol points (see `replica_check`)."""
PRICING_COLUMNS = ["date", "asset", "expiry", "strike", "option_type", "mid_usd", "model_usd", "rel_err"]
REPLICA_COLUMNS = ["date", "asset", "replica", "published", "diff"]


@dataclass(frozen=True)
class SurfaceBuild:
    """Everything `build_surfaces` produces; frames are empty (never missing) when nothing fits."""

    params: pl.DataFrame
    grid: pl.DataFrame
    features: pl.DataFrame
    butterfly: pl.DataFrame
    calendar: pl.DataFrame
    dropped: pl.DataFrame
    drop_counts: pl.DataFrame
    replica: pl.DataFrame
    atm_pricing_error: pl.DataFrame
    comparison: pl.DataFrame
    """`surface_model_comparison` rows (empty unless `compare_every` was given)."""
    empty_reason: str | None = None
    """Why no surface was fitted (None when at least one slice was)."""

    def pricing_error_summary(self) -> dict[str, float]:
        """Median and 95th percentile of |rel_err| of the ATM repricing, and the count."""
        err = self.atm_pricing_error["rel_err"].abs()
        n = int(err.len())
        return {
            "n": n,
            "median_abs_rel_err": float(err.median()) if n else float("nan"),
            "p95_abs_rel_err": float(err.quantile(0.95, interpolation="linear")) if n else float("nan"),
        }


def published_dvol(dvol: pl.DataFrame) -> pl.DataFrame:
    """(date, asset, published) from a (date, asset, dvol) frame or a raw_dvol (ts, asset, close) frame."""
    if {"date", "asset", "dvol"} <= set(dvol.columns):
        return dvol.select("date", "asset", published=pl.col("dvol").cast(pl.Float64))
    if {"ts", "asset", "close"} <= set(dvol.columns):
        return dvol.select(date=pl.col("ts").dt.date(), asset="asset", published=pl.col("close").cast(pl.Float64))
    raise ValueError(f"dvol frame needs (date, asset, dvol) or (ts, asset, close); got {dvol.columns}")


def chain_replica(chain: pl.DataFrame, dvol: pl.DataFrame | None = None) -> pl.DataFrame:
    """Replicated 30-day DVOL of each (date, asset) next to the published close (REPLICA_COLUMNS)."""
    rep = replicate_dvol(chain).select(date=pl.col("ts").dt.date(), asset="asset", replica="dvol")
    pub = published_dvol(dvol) if dvol is not None else pl.DataFrame(
        schema={"date": pl.Date, "asset": pl.String, "published": pl.Float64}
    )
    return (
        rep.join(pub, on=["date", "asset"], how="left")
        .with_columns(diff=pl.col("replica") - pl.col("published"))
        .select(REPLICA_COLUMNS)
        .sort(["asset", "date"])
    )


def replica_check(
    replica: pl.DataFrame, tolerance_vol: float = REPLICA_TOLERANCE_VOL, n_worst: int = 10
) -> tuple[bool, pl.DataFrame]:
    """(passed, worst rows): passed when every day with a published value is within tolerance.

    Default tolerance, 3 vol points. The published DVOL is the exchange's replica of its own
    clean marks of every listed strike; a downloaded chain has smoothed-but-noisy marks and
    strikes missing on the day, mostly in the wings. Measured on the simulated market
    (2021-03..2024-12, 2,758 BTC/ETH days per seed, whose dumps carry both): |replica -
    published| mean 0.18-0.24 points, 99th percentile 0.75-0.94, max 1.2-2.6 over seeds
    default, 3 and 4, biased up by ~0.1 (a missing strike widens its neighbours' dK on a
    convex integrand). A live feed adds seconds of timing and the venue's own strike
    selection on top. A larger gap means the chain is wrong: stale or partial, or aligned
    to the wrong date. Three points is still inside DVOL's day-to-day move often enough
    (more than 3 points on about a fifth of days), so a one-day misalignment fails.
    """
    compared = replica.filter(pl.col("diff").is_not_null()).with_columns(abs_diff=pl.col("diff").abs())
    worst = compared.sort(["abs_diff", "asset", "date"], descending=[True, False, False]).head(n_worst).drop("abs_diff")
    passed = bool(compared.height == 0 or compared["abs_diff"].max() <= tolerance_vol)
    return passed, worst


def atm_pricing_error(chain: pl.DataFrame, params: pl.DataFrame, min_days: float = ATM_MIN_DAYS) -> pl.DataFrame:
    """Reprice the quoted strike nearest each fitted slice's forward (see the module doc)."""
    if params.height == 0:
        return _empty_pricing(params)
    slices = params.filter(pl.col("days_to_expiry") >= min_days).select(*SLICE_KEYS, "date", "T", *PARAMS)
    rows = (
        chain.lazy()
        .select(*SLICE_KEYS, "strike", "option_type", "bid", "ask", "underlying_price")
        .join(slices.lazy(), on=SLICE_KEYS, how="inner")
        .filter((pl.col("bid") > 0) & (pl.col("ask") >= pl.col("bid")) & (pl.col("underlying_price") > 0))
        .with_columns(dist=(pl.col("strike") / pl.col("underlying_price")).log().abs())
        .filter(pl.col("dist") == pl.col("dist").min().over(SLICE_KEYS))
        .sort([*SLICE_KEYS, "strike", "option_type"])
        .collect()
    )
    if rows.height == 0:
        return _empty_pricing(params)
    F = rows["underlying_price"].to_numpy()
    K = rows["strike"].to_numpy()
    T = rows["T"].to_numpy()
    vol = svi_vol(np.log(K / F), T, *(rows[c].to_numpy() for c in PARAMS))
    model = price(F, K, T, vol, (rows["option_type"] == "C").to_numpy())
    return (
        rows.with_columns(mid_usd=(pl.col("bid") + pl.col("ask")) * 0.5 * pl.col("underlying_price"))
        .with_columns(model_usd=pl.Series(model))
        .with_columns(rel_err=pl.col("model_usd") / pl.col("mid_usd") - 1.0)
        .select(PRICING_COLUMNS)
        .sort(["asset", "date", "expiry", "strike", "option_type"])
    )


def build_surfaces(
    chain: pl.DataFrame | pl.LazyFrame, dvol: pl.DataFrame | None = None, rules: LiquidityRules = LiquidityRules(),
    compare_every: int | None = None, prior_chain: pl.DataFrame | None = None,
) -> SurfaceBuild:
    """Fit, repair and check the implied-vol surfaces of every (date, asset) in `chain` at once.

    `chain`: raw_option_chain rows (any number of days and assets). `dvol`: optional
    published DVOL, (date, asset, dvol) or raw_dvol (ts, asset, close), in vol points.
    The arbitrage checks see the repaired surfaces (`repair.py`); `params` keeps the raw fit
    next to them. `compare_every`: also compare SVI with SABR on every n-th day
    (`comparison.py`); `prior_chain`: the day before `chain`'s first, for the next-day test.
    """
    chain = chain.collect() if isinstance(chain, pl.LazyFrame) else chain
    kept, dropped = filter_quotes(chain, rules)
    params = fit_repaired_slices(smile_points(kept))
    comparison = empty_comparison()
    if compare_every and kept.height:
        days = evaluation_days(kept["date"].unique().sort(), compare_every)
        needed = pl.concat([days, days - timedelta(days=1)]).implode()  # only these are read: no copy of all quotes
        history = [kept.filter(pl.col("date").is_in(needed))]
        if prior_chain is not None and prior_chain.height:
            history.insert(0, filter_quotes(prior_chain, rules)[0].filter(pl.col("date").is_in(needed)))
        comparison = compare_models(pl.concat(history, how="vertical_relaxed"), compare_every, days=days,
                                    svi_params=params)
        del history
    grid = surface_grid(params)
    replica = chain_replica(chain, dvol)
    counts = drop_counts(dropped)
    reason = None
    if params.height == 0:
        summary = ", ".join(f"{r}={n}" for r, n in counts.iter_rows()) or "no rows"
        reason = (
            "the chain is empty" if chain.height == 0
            else f"no expiry kept {rules.min_points_per_expiry}+ quotes after the liquidity filter ({summary})"
        )
    return SurfaceBuild(
        params=params,
        grid=grid,
        features=surface_features(params, grid, replica),
        butterfly=butterfly_violations(params),
        calendar=calendar_violations(params),
        dropped=dropped,
        drop_counts=counts,
        replica=replica,
        atm_pricing_error=atm_pricing_error(chain, params),
        comparison=comparison,
        empty_reason=reason,
    )


def _empty_pricing(params: pl.DataFrame) -> pl.DataFrame:
    s = params.schema
    return pl.DataFrame(
        schema={"date": s.get("date", pl.Date), "asset": pl.String, "expiry": s.get("expiry", pl.Datetime("us", "UTC")),
                "strike": pl.Float64, "option_type": pl.String, "mid_usd": pl.Float64, "model_usd": pl.Float64,
                "rel_err": pl.Float64}
    )
