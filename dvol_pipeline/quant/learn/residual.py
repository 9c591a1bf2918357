"""HAR plus a shrunk, machine-learned residual: how the LightGBM and LSTM families forecast.

    ŷ(x) = HAR(x) + λ · r̂(x),    λ ∈ [0, 1]

Why: on held-out real DVOL the machine-learning families lost to HAR at 7 and 14 days (issue
23, item 7), and no desk keeps a model worse than the regression it is compared with. So the
ML part learns only what HAR misses (its residual), and is used only as far as a window the
model has not trained on shows that it helps; where the data cannot support more, λ = 0 and
the family is HAR, by construction.

Inside one training window (the fold's purged window; nothing after it is read):

1. Inner split (`inner_split`), three slices in date order, each purged from the next by
   the `horizon` days whose labels would reach into it: inner-train | stopping slice (the
   family's `val_fraction`, at least `val_min_days`, of what precedes the λ slice) | λ
   slice (the window's last `shrinkage_fraction` of dates, at least `shrinkage_min_days`).
   λ gets a slice of its own because early stopping picks the epoch (the round) that fits
   the stopping slice best: judged on that slice again, a net trained on pure noise passed
   the gate below (t = 2.5 on the noise panel of the tests).
2. `fit_har` on the inner-train rows; the residual target is r = y − HAR_inner(x) on every
   inner row (on the two later slices: HAR's own out-of-sample error).
3. The ML model learns r on inner-train; early stopping on the stopping slice sets its
   capacity (LightGBM's rounds, the LSTM's epochs).
4. What λ judges is the forecasting procedure of step 5 one step back: HAR and the residual
   model (with the capacity of step 3) refit on every row before the λ slice (purged), the
   residual model on that HAR's residuals; r and r̂ are that HAR's error and that model's
   forecast on the λ slice. (Judging the inner-train fits instead judged a stale HAR's
   errors, which the refit HAR no longer makes: on the simulated market the LSTM's λ > 0
   folds then lost to HAR out of sample.)
   `choose_shrinkage`: the forecast-encompassing regression r = b · r̂ + e
   (Harvey, Leybourne & Newbold 1998: does the ML forecast add anything to HAR's?), b by
   least squares through the origin, its t-statistic with Driscoll–Kraay standard errors
   (statsmodels "hac-groupsum": the scores summed over assets per day, then Newey–West
   over days with `horizon` lags, because h-day labels overlap and BTC and ETH move
   together; no small-sample factor, as Stata's xtscc that statsmodels tests against),
   then Harvey, Leybourne & Newbold's (1997) small-sample factor for h-step forecasts,
   √((T + 1 − 2h + h(h−1)/T) / T) over T days (a HAC t over a few dozen days of 14-day
   labels, i.e. a handful of independent ones, rejects far too often without it).
   λ = min(b, 1) when that t ≥ `min_t` (default 2), else 0. The gate is what makes
   λ = 0 on noise: the least-squares b alone is positive half the time by chance.
5. The final forecast: HAR refit on the whole window (the `har` family's own fit on the same
   rows, so λ = 0 reproduces the `har` forecasts exactly) plus λ times the residual model.
   The families decide whether the residual model is refit (see gbm.py and lstm.py).

A window too short for an inner split gives λ = 0 unless the family's config fixes it.

6. The track record (`track_record`, applied by the walk-forward when it has earlier folds'
   out-of-sample rows, quant/dvol/forecast.py `gate_residual_families`): the λ of step 4
   is used only if the same encompassing test, run on every earlier fold's test months
   (HAR's out-of-sample error there against the family's raw residual forecast, the
   `residual_hat` column of `oos_predictions`), also passes; else λ = 0. Why a second key:
   one window's λ slice is a few dozen days, a handful of independent 14-day labels, and on
   the simulated market the LSTM's window gate opened in 4 of 33 folds at 7 days and 5 at 14,
   and over all folds it lost to HAR (R²_oos HAR − 0.0125 and − 0.0134). The earlier folds are
   months of forecasts the model never trained on, the evidence "thresholds are chosen on past
   folds only" allows; with none yet (the first folds, a lake written before the column) the
   family is HAR.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dvol_pipeline.quant.learn.har import HAR
from dvol_pipeline.quant.learn.preprocess import split_validation

HAR_DIR = "har"
MIN_ROWS = 20
"""Fewest inner-validation rows with both a residual and a forecast that λ is chosen on."""


def fit_har(train: pl.DataFrame, features: list[str], target: str, horizon: int, seed: int) -> HAR:
    """The `har` family fitted as the registry would on `train` (same features and target)."""
    return HAR(horizon, seed).fit(train, features, target)


def inner_split(dates: pl.Series, horizon: int, val_fraction: float, val_min_days: int, shrinkage_fraction: float,
                shrinkage_min_days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]] | None:
    """Masks (inner-train, stopping slice, λ slice) over `dates`, and their dates; None when the
    window is too short for the three (`split_validation` applied twice: the λ slice at the
    end, then the stopping slice at the end of what precedes it)."""
    last = split_validation(dates, horizon, shrinkage_fraction, shrinkage_min_days)
    if last is None:
        return None
    rest, shrink, shrink_info = last
    first = split_validation(dates.filter(pl.Series(rest)), horizon, val_fraction, val_min_days)
    if first is None:
        return None
    train, stop = np.zeros(len(dates), bool), np.zeros(len(dates), bool)
    train[np.flatnonzero(rest)[first[0]]] = True
    stop[np.flatnonzero(rest)[first[1]]] = True
    info = {**first[2], "shrinkage_start": shrink_info["validation_start"],
            "shrinkage_end": shrink_info["validation_end"]}
    return train, stop, shrink, info


def before_mask(dates: pl.Series, start: date | str, horizon: int) -> np.ndarray:
    """`before`'s rows as a mask over `dates`: date < start − horizon days."""
    start = date.fromisoformat(start) if isinstance(start, str) else start
    return dates.to_numpy() < np.datetime64(start - timedelta(days=horizon))


def before(frame: pl.DataFrame, start: date | str, horizon: int) -> pl.DataFrame:
    """The rows of `frame` whose h-day label ends before `start`: date < start − horizon days
    (the inner-train rows of a validation slice beginning at `start`)."""
    start = date.fromisoformat(start) if isinstance(start, str) else start
    return frame.filter(pl.col("date") < start - timedelta(days=horizon))


def choose_shrinkage(residual: np.ndarray, forecast: np.ndarray, dates: np.ndarray, horizon: int,
                     min_t: float = 2.0) -> dict[str, Any]:
    """λ and how it was chosen, from HAR's inner-validation residuals and the ML forecast of them.

    `dates` (one per row, any sortable dtype) are the time periods of the Driscoll–Kraay
    standard error. Returns {"lambda", "slope", "t_hac" (Driscoll–Kraay), "t" (times HLN's
    small-sample factor: the one gated), "days", "rows", "min_t", "reason"}."""
    r, f = np.asarray(residual, np.float64), np.asarray(forecast, np.float64)
    ok = np.isfinite(r) & np.isfinite(f)
    info: dict[str, Any] = {"lambda": 0.0, "slope": None, "t_hac": None, "t": None, "days": None, "rows": int(ok.sum()),
                            "min_t": float(min_t)}
    if ok.sum() < MIN_ROWS or not np.any(f[ok] != 0):
        return {**info, "reason": "too few inner-validation rows, or a constant-zero residual forecast"}
    _, time = np.unique(np.asarray(dates)[ok], return_inverse=True)
    kwds = {"time": time, "maxlags": int(horizon), "use_correction": False}
    import statsmodels.api as sm  # here, not at import: ~1 s of every start, for the one fit that needs it

    fit = sm.OLS(r[ok], f[ok][:, None]).fit(cov_type="hac-groupsum", cov_kwds=kwds)
    slope, se = float(fit.params[0]), float(fit.bse[0])
    t_hac = slope / se if se > 0 else (np.inf if slope > 0 else 0.0)
    days, h = len(np.unique(time)), int(horizon)
    t = t_hac * np.sqrt(max(days + 1 - 2 * h + h * (h - 1) / days, 0.0) / days)
    info.update(slope=round(slope, 6), t_hac=round(float(t_hac), 4), t=round(float(t), 4), days=days)
    if not t >= min_t:
        return {**info, "reason": f"t = {t:.2f} < {min_t}: the residual forecast adds nothing HAR lacks"}
    return {**info, "lambda": float(min(slope, 1.0)), "reason": "t >= min_t: λ = min(slope, 1)"}


def track_record(past: pl.DataFrame, family: str, horizon: int, min_t: float = 2.0) -> dict[str, Any]:
    """Step 6: `choose_shrinkage` over earlier folds' out-of-sample rows of `family` at `horizon`.

    `past`: `oos_predictions` rows (any folds, any families; the caller passes only folds
    before the one it gates). The residual is y − HAR's forecast of the same (date, asset),
    the forecast is `family`'s `residual_hat` (its raw residual forecast, before λ), so the
    test judges the residual model, whatever λ its folds used. Open when "lambda" > 0."""
    if "residual_hat" not in past.columns:
        past = past.with_columns(pl.lit(None, pl.Float64).alias("residual_hat"))
    rows = past.filter(pl.col("horizon") == horizon)
    har = rows.filter(pl.col("family") == "har").select("date", "asset", pl.col("y_hat").alias("__har"))
    mine = (rows.filter((pl.col("family") == family) & pl.col("residual_hat").is_not_null())
            .join(har, on=["date", "asset"], how="inner").drop_nulls(["y", "__har"]).sort("date", "asset"))
    info = choose_shrinkage((mine["y"] - mine["__har"]).to_numpy(), mine["residual_hat"].to_numpy(),
                            mine["date"].to_numpy(), horizon, min_t)
    first = mine["fold"].min() if mine.height else None
    return {**info, "folds": mine["fold"].n_unique(), "first_fold": first}


def combine(har: np.ndarray, residual: np.ndarray | None, shrinkage: float) -> np.ndarray:
    """HAR + λ·residual; a row without a residual forecast (NaN) gets HAR's, and λ = 0 is HAR exactly."""
    har = np.asarray(har, np.float64)
    if residual is None or shrinkage == 0:
        return har.copy()
    residual = np.asarray(residual, np.float64)
    return np.where(np.isfinite(residual), har + shrinkage * residual, har)


def save_har(har: HAR, folder: Path) -> None:
    har.save(Path(folder) / HAR_DIR)


def load_har(folder: Path) -> HAR | None:
    """The saved HAR of a residual family's folder; None for a folder saved before the
    residual construction (its model forecast y directly)."""
    path = Path(folder) / HAR_DIR
    return HAR.load(path) if path.exists() else None
