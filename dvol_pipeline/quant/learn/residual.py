"""HAR plus a shrunk, machine-learned residual: how the LightGBM and LSTM families forecast.

    ŷ(x) = HAR(x) + λ · r̂(x),    λ ∈ [0, 1]

Why: on held-out real DVOL the machine-learning families lost to HAR at 7 and 14 days (issue
23, item 7), and no desk keeps a model worse than the regression it is compared with. So the
ML part learns only what HAR misses (its residual), and is used only as far as a window the
model has not trained on shows that it helps; where the data cannot support more, λ = 0 and
the family is HAR, by construction.

Inside one training window (the fold's purged window; nothing after it is read):

1. Inner split: the family's end-of-window validation slice (`split_validation`: the last
   `val_fraction` of the dates, at least `val_min_days`), with the `horizon` days before it
   purged, so no inner-train label reaches into it.
2. `fit_har` on the inner-train rows (dates before validation start − h); the residual target
   is r = y − HAR_inner(x) on inner-train and inner-validation rows (on validation, HAR's own
   out-of-sample error).
3. The ML model learns r on inner-train; early stopping on the inner validation sets its
   capacity (LightGBM's rounds, the LSTM's epochs).
4. `choose_shrinkage` on the inner validation: the forecast-encompassing regression
   r = b · r̂ + e (Harvey, Leybourne & Newbold 1998: does the ML forecast add anything to
   HAR's?), b by least squares through the origin, its t-statistic with Driscoll–Kraay
   standard errors (statsmodels "hac-groupsum": the scores summed over assets per day, then
   Newey–West over days with `horizon` lags, because h-day labels overlap and BTC and ETH
   move together). λ = min(b, 1) when t ≥ `min_t` (default 2), else 0. The gate is what
   makes λ = 0 on noise: the least-squares b alone is positive half the time by chance.
5. The final forecast: HAR refit on the whole window (the `har` family's own fit on the same
   rows, so λ = 0 reproduces the `har` forecasts exactly) plus λ times the residual model.
   The families decide whether the residual model is refit (see gbm.py and lstm.py).

A window too short for an inner split gives λ = 0 unless the family's config fixes it.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import statsmodels.api as sm

from dvol_pipeline.quant.learn.har import HAR

HAR_DIR = "har"
MIN_ROWS = 20
"""Fewest inner-validation rows with both a residual and a forecast that λ is chosen on."""


def fit_har(train: pl.DataFrame, features: list[str], target: str, horizon: int, seed: int) -> HAR:
    """The `har` family fitted as the registry would on `train` (same features and target)."""
    return HAR(horizon, seed).fit(train, features, target)


def before(frame: pl.DataFrame, start: date | str, horizon: int) -> pl.DataFrame:
    """The rows of `frame` whose h-day label ends before `start`: date < start − horizon days
    (the inner-train rows of a validation slice beginning at `start`)."""
    start = date.fromisoformat(start) if isinstance(start, str) else start
    return frame.filter(pl.col("date") < start - timedelta(days=horizon))


def choose_shrinkage(residual: np.ndarray, forecast: np.ndarray, dates: np.ndarray, horizon: int,
                     min_t: float = 2.0) -> dict[str, Any]:
    """λ and how it was chosen, from HAR's inner-validation residuals and the ML forecast of them.

    `dates` (one per row, any sortable dtype) are the time periods of the Driscoll–Kraay
    standard error. Returns {"lambda", "slope", "t_hac", "rows", "min_t", "reason"}."""
    r, f = np.asarray(residual, np.float64), np.asarray(forecast, np.float64)
    ok = np.isfinite(r) & np.isfinite(f)
    info: dict[str, Any] = {"lambda": 0.0, "slope": None, "t_hac": None, "rows": int(ok.sum()), "min_t": float(min_t)}
    if ok.sum() < MIN_ROWS or not np.any(f[ok] != 0):
        return {**info, "reason": "too few inner-validation rows, or a constant-zero residual forecast"}
    _, time = np.unique(np.asarray(dates)[ok], return_inverse=True)
    fit = sm.OLS(r[ok], f[ok][:, None]).fit(cov_type="hac-groupsum", cov_kwds={"time": time, "maxlags": int(horizon)})
    slope, se = float(fit.params[0]), float(fit.bse[0])
    t = slope / se if se > 0 else (np.inf if slope > 0 else 0.0)
    info.update(slope=round(slope, 6), t_hac=round(float(t), 4))
    if not t >= min_t:
        return {**info, "reason": f"t = {t:.2f} < {min_t}: the residual forecast adds nothing HAR lacks"}
    return {**info, "lambda": float(min(slope, 1.0)), "reason": "t >= min_t: λ = min(slope, 1)"}


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
