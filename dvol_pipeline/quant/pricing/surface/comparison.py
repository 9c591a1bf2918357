"""SVI (raw and repaired) against SABR, in sample and out of sample, per slice.

Why: an in-sample RMSE rewards flexibility; what a desk needs is a smile that prices the
quotes it was not fitted to. Three tests per (date, asset, expiry, model):

* ``in_sample``: fit on all of D's kept quotes (the liquidity filter's), price them;
* ``strike_holdout``: per slice, quotes sorted by strike, the even positions are fitted and
  the odd ones priced (deterministic, and the held-out strikes interleave the fitted ones);
  only slices with at least `HOLDOUT_MIN_POINTS` quotes, so five SVI parameters still see
  five or more points;
* ``next_day``: the smile fitted on D - 1 prices D's quotes of the same expiry at D's
  forward, sticky moneyness: the vol at k = ln(K / F_D) is D - 1's vol at that k. The row
  carries D's date (the day that was priced).

Errors, over the priced quotes (a quote whose model vol or price is not finite is left out;
`n_quotes` counts the rest): `iv_rmse_vol` (model vol - mark vol, vol points),
`price_mae_spreads` (mean |model price - mid| / (ask - bid)) and `inside_spread_share` (share
of model prices within [bid, ask]), Black-76 at each quote's own forward and maturity.

Models: ``svi`` (the raw fit), ``svi_repaired`` (after `repair.py`, what downstream
uses), ``sabr`` (`sabr.py`, beta fixed). Days are subsampled (`EVAL_EVERY_DAYS`) to keep the
demo's budget: D is evaluated when its day number since 1970-01-01 is a multiple of it, so
a backfill and an end-of-day run pick the same days.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from dvol_pipeline.contracts.derived import SMILE_MODELS, SMILE_TESTS
from dvol_pipeline.quant.pricing.options import price

from .liquidity import SLICE_KEYS
from .repair import fit_repaired_slices, raw_params
from .sabr import BETA, fit_sabr_slices, sabr_vol
from .svi import PARAMS, smile_points, svi_vol

MODELS, TESTS = SMILE_MODELS, SMILE_TESTS
EVAL_EVERY_DAYS = 7
HOLDOUT_MIN_POINTS = 10
COMPARISON_COLUMNS = ["date", "asset", "expiry", "model", "test", "days_to_expiry", "n_fit", "n_quotes",
                      "iv_rmse_vol", "price_mae_spreads", "inside_spread_share"]
_QUOTE_COLUMNS = [*SLICE_KEYS, "date", "T", "strike", "option_type", "bid", "ask", "underlying_price", "k", "iv"]


def evaluation_days(days: pl.Series, every: int = EVAL_EVERY_DAYS) -> pl.Series:
    """The days of `days` that are evaluated (see the module doc)."""
    return days.filter((days.cast(pl.Int32) % every) == 0)


def _models(points: pl.DataFrame, beta: float, svi: pl.DataFrame | None = None) -> dict[str, pl.DataFrame]:
    """Per model, a frame (SLICE_KEYS, date, T_fit, n_fit, model params). `svi`: repaired fits of some
    of the (date, asset) days of `points` already made (the same numbers a refit would give: the
    fit and the repair are per slice and per day); the others are fitted here."""
    if svi is None or svi.height == 0:
        svi = fit_repaired_slices(points)
    else:
        todo = points.join(svi.select("date", "asset").unique(), on=["date", "asset"], how="anti")
        if todo.height:
            svi = pl.concat([svi, fit_repaired_slices(todo)], how="vertical_relaxed")
    keep = [*SLICE_KEYS, "date", pl.col("T").alias("T_fit"), pl.col("n_points").alias("n_fit")]
    sabr = fit_sabr_slices(points, beta)
    return {
        "svi": raw_params(svi).select(*keep, *PARAMS),
        "svi_repaired": svi.select(*keep, *PARAMS),
        "sabr": sabr.select(*keep, "alpha", "rho", "nu"),
    }


def _model_vol(model: str, rows: pl.DataFrame, beta: float) -> np.ndarray:
    k, T = rows["k"].to_numpy(), rows["T_fit"].to_numpy()
    if model == "sabr":
        return sabr_vol(k, T, *(rows[c].to_numpy() for c in ("alpha", "rho", "nu")), beta)
    return svi_vol(k, T, *(rows[c].to_numpy() for c in PARAMS))


def _errors(quotes: pl.DataFrame, fits: dict[str, pl.DataFrame], on: list[str], test: str, beta: float) -> pl.DataFrame:
    """Per (date, asset, expiry, model) the errors of `quotes` priced by the fits joined `on`."""
    out = []
    for model, fit in fits.items():
        rows = quotes.join(fit.drop([c for c in fit.columns if c in quotes.columns and c not in on]), on=on, how="inner")
        if rows.height == 0:
            continue
        F = rows["underlying_price"].to_numpy()
        vol = _model_vol(model, rows, beta)
        model_coin = price(F, rows["strike"].to_numpy(), rows["T"].to_numpy(), vol,
                           (rows["option_type"] == "C").to_numpy()) / F
        width = pl.col("ask") - pl.col("bid")
        out.append(
            rows.with_columns(model=pl.lit(model), test=pl.lit(test), err_vol=pl.Series(100.0 * (vol - rows["iv"].to_numpy())),
                              model_coin=pl.Series(model_coin))
            .filter(pl.col("err_vol").is_finite() & pl.col("model_coin").is_finite())
            # a zero-width quote has no spread to measure in: left out of that mean only
            .with_columns(spreads=pl.when(width > 0).then(
                (pl.col("model_coin") - (pl.col("bid") + pl.col("ask")) * 0.5).abs() / width),
                          inside=((pl.col("model_coin") >= pl.col("bid")) & (pl.col("model_coin") <= pl.col("ask"))))
            .group_by("date", "asset", "expiry", "model", "test")
            .agg(days_to_expiry=pl.col("T").first() * 365.0, n_fit=pl.col("n_fit").first().cast(pl.UInt32),
                 n_quotes=pl.len().cast(pl.UInt32), iv_rmse_vol=(pl.col("err_vol") ** 2).mean().sqrt(),
                 price_mae_spreads=pl.col("spreads").mean(), inside_spread_share=pl.col("inside").cast(pl.Float64).mean())
        )
    return pl.concat(out) if out else empty_comparison()


def compare_models(kept: pl.DataFrame, every: int = EVAL_EVERY_DAYS, beta: float = BETA,
                   days: pl.Series | None = None, svi_params: pl.DataFrame | None = None) -> pl.DataFrame:
    """The `surface_model_comparison` rows of the evaluated days of `kept` (filter_quotes' kept rows).

    `days`: the days to evaluate (default: those of `kept` picked by `evaluation_days`); a
    day's next-day test needs D - 1's quotes in `kept`, and is left out where they are not.
    `svi_params`: `fit_repaired_slices` of (some of) these days, reused instead of refitted.
    """
    if kept.height == 0:
        return empty_comparison()
    eval_days = evaluation_days(kept["date"].unique().sort(), every) if days is None else days
    if eval_days.len() == 0:
        return empty_comparison()
    before = eval_days - timedelta(days=1)
    quotes = kept.filter(pl.col("date").is_in(eval_days.implode())).select(_QUOTE_COLUMNS)
    fit_rows = kept.filter(pl.col("date").is_in(pl.concat([eval_days, before]).unique().implode()))
    fit_days = pl.concat([eval_days, before]).unique().implode()
    known = None if svi_params is None else svi_params.filter(pl.col("date").is_in(fit_days))
    full = _models(smile_points(fit_rows), beta, known)
    today = {m: f.filter(pl.col("date").is_in(eval_days.implode())) for m, f in full.items()}
    # next day: D - 1's fit, relabelled as D, joined on the expiry
    prior = {m: f.filter(pl.col("date").is_in(before.implode())).with_columns(date=pl.col("date") + timedelta(days=1))
             .drop("ts") for m, f in full.items()}
    ranked = quotes.sort([*SLICE_KEYS, "strike"]).with_columns(
        pos=pl.int_range(pl.len()).over(SLICE_KEYS), n=pl.len().over(SLICE_KEYS)).filter(
        pl.col("n") >= HOLDOUT_MIN_POINTS)
    train, test = ranked.filter(pl.col("pos") % 2 == 0), ranked.filter(pl.col("pos") % 2 == 1)
    held = _models(smile_points(kept.join(train.select(*SLICE_KEYS, "strike", "option_type"),
                                          on=[*SLICE_KEYS, "strike", "option_type"], how="semi")), beta)
    parts = [
        _errors(quotes, today, SLICE_KEYS, "in_sample", beta),
        _errors(test.drop("pos", "n"), held, SLICE_KEYS, "strike_holdout", beta),
        _errors(quotes, prior, ["date", "asset", "expiry"], "next_day", beta),
    ]
    return pl.concat(parts).select(COMPARISON_COLUMNS).sort(["asset", "date", "expiry", "model", "test"])


def comparison_summary(comparison: pl.DataFrame) -> pl.DataFrame:
    """Per (model, test): slices, and the median and mean of each error over slices."""
    errs = ("iv_rmse_vol", "price_mae_spreads", "inside_spread_share")
    return (
        comparison.group_by("test", "model")
        .agg(pl.len().alias("slices"), *(pl.col(e).median().alias(f"{e}_median") for e in errs),
             *(pl.col(e).mean().alias(f"{e}_mean") for e in errs))
        .with_columns(pl.col("test").replace_strict({t: i for i, t in enumerate(TESTS)}, return_dtype=pl.Int8).alias("_t"),
                      pl.col("model").replace_strict({m: i for i, m in enumerate(MODELS)}, return_dtype=pl.Int8).alias("_m"))
        .sort("_t", "_m").drop("_t", "_m")
    )


def empty_comparison() -> pl.DataFrame:
    return pl.DataFrame(schema={
        "date": pl.Date, "asset": pl.String, "expiry": pl.Datetime("us", "UTC"), "model": pl.String, "test": pl.String,
        "days_to_expiry": pl.Float64, "n_fit": pl.UInt32, "n_quotes": pl.UInt32, "iv_rmse_vol": pl.Float64,
        "price_mae_spreads": pl.Float64, "inside_spread_share": pl.Float64})


def own_fit_error_spreads(summary: pl.DataFrame) -> float | None:
    """The repaired SVI's in-sample median |price - mid| in spreads (from `comparison_summary`);
    None when no day of the range was evaluated."""
    own = summary.filter((pl.col("model") == "svi_repaired") & (pl.col("test") == "in_sample"))
    return float(own["price_mae_spreads_median"][0]) if own.height else None
