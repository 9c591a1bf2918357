"""Per-coin GARCH(1,1) volatility forecasts, refit monthly on past returns only.

At month M a coin's GARCH(1,1) (zero mean, normal; `quant.learn.garch.fit_garch`) is
fitted on its returns dated before the first of M (the last `max_obs` of them), and those
parameters filter the conditional variance through M's days; the forecast at day D uses
returns up to D's close and gives the annualised vol expected over the next h days. A fit
is a pure function of the returns fitted, so fits are memoised by a hash of those bytes
(`universe_garch_memo`): a rerun over the same history refits nothing.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

from dvol_pipeline.quant.stats import PERIODS_PER_YEAR

MIN_OBS = 250
MAX_OBS = 1000
MEMO_SCHEMA = {"key": pl.Utf8, "omega": pl.Float64, "alpha": pl.Float64, "beta": pl.Float64}


def fit_key(r: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(r, dtype=np.float64).tobytes()).hexdigest()


def garch_params(r_pct: np.ndarray) -> tuple[float, float, float]:
    """(omega, alpha, beta) of a zero-mean normal GARCH(1,1) (`quant.learn.garch.fit_garch`)
    on returns in percent; a failed or non-stationary fit falls back to alpha 0.06, beta 0.93
    at the sample variance."""
    from dvol_pipeline.quant.learn.garch import fit_garch

    try:
        fit = fit_garch(r_pct, maxiter=200)
        omega, alpha, beta = (fit.params[k] for k in ("omega", "alpha[1]", "beta[1]"))
    except Exception:  # arch raises several types on degenerate data
        omega, alpha, beta = np.nan, np.nan, np.nan
    if not (np.isfinite([omega, alpha, beta]).all() and alpha >= 0 and beta >= 0 and alpha + beta < 0.999):
        alpha, beta = 0.06, 0.93
        omega = float(np.var(r_pct)) * (1 - alpha - beta)
    return omega, alpha, beta


def garch_forecasts(frame: pl.DataFrame, horizons: tuple[int, ...], memo: pl.DataFrame | None = None
                    ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`frame`: symbol, date, ret (log return of the day, null in a gap), sorted by symbol, date.
    Returns (symbol, date, garch_vol_<h> per horizon) and the memo with the new fits added."""
    known = {} if memo is None or memo.is_empty() else {
        k: (o, a, b) for k, o, a, b in memo.select("key", "omega", "alpha", "beta").iter_rows()}
    new: dict[str, tuple[float, float, float]] = {}
    out = []
    for (symbol,), part in frame.partition_by("symbol", as_dict=True, maintain_order=True).items():
        dates = part["date"].to_numpy()
        r = part["ret"].cast(pl.Float64).fill_null(np.nan).to_numpy() * 100.0
        months = part["date"].dt.truncate("1mo").to_numpy()
        params = np.full((r.size, 3), np.nan)
        for m in np.unique(months):
            past = r[(dates < m)]
            past = past[np.isfinite(past)][-MAX_OBS:]
            if past.size < MIN_OBS:
                continue
            key = fit_key(past)
            fit = known.get(key) or new.get(key)
            if fit is None:
                fit = new[key] = garch_params(past)
            params[months == m] = fit
        h = np.full(r.size, np.nan)  # conditional variance of day t+1 given returns through t
        state = np.nan
        for t in range(r.size):
            om, al, be = params[t]
            if not np.isfinite(om):
                state = np.nan
                continue
            if not np.isfinite(state):
                state = om / max(1 - al - be, 1e-6)
            shock = r[t] ** 2 if np.isfinite(r[t]) else state
            state = om + al * shock + be * state
            h[t] = state
        cols = {"symbol": [symbol] * r.size, "date": part["date"]}
        persistence = params[:, 1] + params[:, 2]
        long_run = params[:, 0] / np.maximum(1 - persistence, 1e-6)
        for hz in horizons:
            k = np.arange(hz)
            path = long_run[:, None] + persistence[:, None] ** k[None, :] * (h - long_run)[:, None]
            cols[f"garch_vol_{hz}"] = np.sqrt(np.maximum(path.mean(axis=1), 0) * PERIODS_PER_YEAR) / 100.0
        out.append(pl.DataFrame(cols))
    memo_out = pl.concat([memo if memo is not None else pl.DataFrame(schema=MEMO_SCHEMA),
                          pl.DataFrame([(k, *v) for k, v in new.items()], schema=MEMO_SCHEMA, orient="row")],
                         how="vertical_relaxed").unique("key", keep="first").sort("key")
    return pl.concat(out) if out else pl.DataFrame(), memo_out
