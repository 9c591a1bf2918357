"""Static-arbitrage checks of fitted SVI surfaces, in closed form on strike grids.

Why: a smile that admits butterfly arbitrage implies a negative risk-neutral density
(some call spread is worth more than its payoff allows) and one with calendar arbitrage
sells the same strike cheaper for longer; features, Greeks and replicas read off such a
surface are not prices anyone could trade at. Both checks run on many days and both
assets at once.

* butterfly (Gatheral & Jacquier 2014): the density is non-negative iff
  g(k) = (1 - k w'/(2w))^2 - (w'^2/4) (1/w + 1/4) + w''/2 >= 0 (and w > 0). Checked on
  `N_BUTTERFLY` points over |k| <= max(1.5, 4 * ATM vol) * sqrt(T): at least the
  literature's +-1.5 sqrt(T), and at least four ATM standard deviations, which is how far
  crypto strikes are listed. Points with w <= 0 are reported with g = -inf.
* calendar: total variance must not decrease with T at fixed k. Each day's expiries are
  compared pairwise in maturity order (near, next) on `N_CALENDAR` points spanning the
  near expiry's butterfly range (where both smiles are quoted).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .svi import PARAMS, svi_derivatives, svi_total_variance

N_BUTTERFLY = 81
N_CALENDAR = 41
BUTTERFLY_COLUMNS = ["date", "asset", "expiry", "k", "w", "g"]
CALENDAR_COLUMNS = ["date", "asset", "expiry_near", "expiry_far", "k", "w_near", "w_far"]


def butterfly_g(k, a, b, rho, m, sigma) -> np.ndarray:
    """Gatheral's density function g(k); -inf where total variance is not positive."""
    w, w1, w2 = svi_derivatives(k, a, b, rho, m, sigma)
    safe = np.where(w > 0, w, 1.0)
    g = (1.0 - k * w1 / (2.0 * safe)) ** 2 - 0.25 * w1 * w1 * (1.0 / safe + 0.25) + 0.5 * w2
    return np.where(w > 0, g, -np.inf)


def check_half_width(T: np.ndarray, atm_iv_points: np.ndarray) -> np.ndarray:
    """Half-width in k of the arbitrage grid of a slice (see the module doc)."""
    return np.maximum(1.5, 4.0 * np.asarray(atm_iv_points, float) / 100.0) * np.sqrt(T)


def _columns(params: pl.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(params[c].to_numpy().astype(float) for c in PARAMS)


def _atm_points(params: pl.DataFrame) -> np.ndarray:
    if "atm_iv" in params.columns:
        return params["atm_iv"].to_numpy()
    w0 = svi_total_variance(0.0, *_columns(params))
    return 100.0 * np.sqrt(np.maximum(w0, 0.0) / params["T"].to_numpy())


def butterfly_violations(params: pl.DataFrame, tol: float = 1e-8, n_grid: int = N_BUTTERFLY) -> pl.DataFrame:
    """Grid points where g(k) < -tol, for every slice of `params` (date, asset, expiry, T, a..sigma)."""
    if params.height == 0:
        return pl.DataFrame(schema=_butterfly_schema(params))
    half = check_half_width(params["T"].to_numpy(), _atm_points(params))
    k = half[:, None] * np.linspace(-1.0, 1.0, n_grid)[None, :]
    cols = [x[:, None] for x in _columns(params)]
    g = butterfly_g(k, *cols)
    w = svi_total_variance(k, *cols)
    rows, cols_idx = np.nonzero(g < -tol)
    return (
        params.select("date", "asset", "expiry")[rows]
        .with_columns(k=pl.Series(k[rows, cols_idx]), w=pl.Series(w[rows, cols_idx]), g=pl.Series(g[rows, cols_idx]))
        .select(BUTTERFLY_COLUMNS)
    )


def calendar_violations(params: pl.DataFrame, tol: float = 1e-8, n_grid: int = N_CALENDAR) -> pl.DataFrame:
    """(k, w_near, w_far) where the next expiry's total variance is below the near one's by > tol."""
    p = params.sort(["asset", "date", "T"])
    if p.height < 2:
        return pl.DataFrame(schema=_calendar_schema(params))
    same_day = (p["asset"][1:] == p["asset"][:-1]).to_numpy() & (p["date"][1:] == p["date"][:-1]).to_numpy()
    near = np.flatnonzero(same_day)
    far = near + 1
    half = check_half_width(p["T"].to_numpy(), _atm_points(p))[near]
    k = half[:, None] * np.linspace(-1.0, 1.0, n_grid)[None, :]
    cols = _columns(p)
    w_near = svi_total_variance(k, *(c[near, None] for c in cols))
    w_far = svi_total_variance(k, *(c[far, None] for c in cols))
    pair, j = np.nonzero(w_far < w_near - tol)
    return pl.DataFrame(
        {
            "date": p["date"].gather(near[pair]),
            "asset": p["asset"].gather(near[pair]),
            "expiry_near": p["expiry"].gather(near[pair]),
            "expiry_far": p["expiry"].gather(far[pair]),
            "k": k[pair, j],
            "w_near": w_near[pair, j],
            "w_far": w_far[pair, j],
        },
        schema=_calendar_schema(params),
    )


def _butterfly_schema(params: pl.DataFrame) -> dict:
    s = params.schema
    return {"date": s.get("date", pl.Date), "asset": pl.String, "expiry": s.get("expiry", pl.Datetime("us", "UTC")),
            "k": pl.Float64, "w": pl.Float64, "g": pl.Float64}


def _calendar_schema(params: pl.DataFrame) -> dict:
    s = params.schema
    e = s.get("expiry", pl.Datetime("us", "UTC"))
    return {"date": s.get("date", pl.Date), "asset": pl.String, "expiry_near": e, "expiry_far": e,
            "k": pl.Float64, "w_near": pl.Float64, "w_far": pl.Float64}
