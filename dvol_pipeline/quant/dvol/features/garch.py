"""GJR-GARCH(1,1) with Student-t errors: a model forecast of 30-day realised vol (`garch`).

Refit schedule (documented contract, `refit`): the model used for day D is fitted on the
daily returns (log, x100) dated strictly before the first day of D's refit period
("monthly": D's calendar month, matching the monthly walk-forward folds; also "weekly",
"quarterly"), on an expanding window from the first return, or on the last `window_days`
calendar days before the period start. The fitted parameters are then held fixed and the
variance recursion is filtered forward from the fit sample's start through D, so day D's
forecast uses returns up to D and never after. A period whose fit sample has fewer than
`min_obs` returns gets no forecast (null).

Each fit is a pure function of its sample: it starts from a generic persistent point, and
when that fit did not converge or came out with beta < SUSPECT_BETA it is also started
from arch's default point and the higher likelihood wins (arch's default start alone
sometimes stops at a degenerate beta = 0 optimum on these samples). Fits are memoised on the sample bytes, so the
leakage check's prefix rebuilds refit nothing.

Forecast: with params (mu, omega, alpha, gamma, beta, nu), eps = r - mu,
sigma2[t+1] = omega + (alpha + gamma 1[eps_t < 0]) eps_t^2 + beta sigma2[t] started at arch's
backcast of the fit sample; h-step variances follow sigma2[t+h] = omega + phi sigma2[t+h-1]
with phi = alpha + gamma/2 + beta (symmetric errors). garch_vol30 = sqrt(365/30 * sum of
the 30 daily variances) in vol points; garch_vol1 = sqrt(365 * sigma2[t+1]).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import date

import numpy as np
import polars as pl

from dvol_pipeline.quant.filters import ar1_filter

REFIT_EVERY = {"weekly": "1w", "monthly": "1mo", "quarterly": "3mo"}
PERIOD_MAX_DAYS = {"weekly": 7, "monthly": 31, "quarterly": 92}
HORIZON = 30
MIN_OBS = 250
MAXITER = 200
SUSPECT_BETA = 0.5
PARAMS = ("mu", "omega", "alpha", "gamma", "beta", "nu")
_CACHE: OrderedDict[str, tuple[np.ndarray, float]] = OrderedDict()
_CACHE_SIZE = 4096


FIT_SPEC = f"gjr-garch(1,1)-t const-mean x100 maxiter={MAXITER} starts=generic,arch"
"""What a remembered fit was made with: entries of another spec are never reused."""


def remembered_fits(keys: set[str] | None = None) -> pl.DataFrame:
    """The memo's fits (only `keys`, when given): (key, spec, params..., backcast), to persist.

    A fit is a pure function of its returns' bytes, so remembering it across runs changes no
    number; it spares an end-of-day run refitting every past month of an expanding window."""
    rows = [{"key": k, "spec": FIT_SPEC, **dict(zip(PARAMS, p.tolist(), strict=True)), "backcast": b}
            for k, (p, b) in _CACHE.items() if keys is None or k in keys]
    schema = {"key": pl.Utf8, "spec": pl.Utf8, **{name: pl.Float64 for name in PARAMS}, "backcast": pl.Float64}
    return pl.DataFrame(rows, schema=schema).sort("key")


def remember_fits(fits: pl.DataFrame | None) -> int:
    """Seed the memo with fits persisted by an earlier run (same spec only); returns how many."""
    if fits is None or fits.is_empty():
        return 0
    usable = fits.filter(pl.col("spec") == FIT_SPEC)
    for row in usable.iter_rows(named=True):
        _CACHE[row["key"]] = (np.array([row[name] for name in PARAMS], dtype=float), float(row["backcast"]))
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return usable.height


def describe(refit: str, min_obs: int = MIN_OBS, window_days: int | None = None) -> str:
    window = "an expanding window" if window_days is None else f"the last {window_days} days"
    return (
        f"GJR-GARCH(1,1), Student-t, constant mean, on daily log returns x100; refit {refit} on {window} "
        f"of returns before the period start (>= {min_obs} obs), filtered forward with fixed params"
    )


def fit_key(r: np.ndarray) -> str:
    """The memo key of a fit: a hash of exactly the returns it is fitted on."""
    return hashlib.sha1(np.ascontiguousarray(r, dtype=np.float64).tobytes()).hexdigest()


def _fit(r: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(params, backcast) of the best GJR-GARCH(1,1)-t fit on r (`quant.learn.garch.fit_garch`)."""
    key = fit_key(r)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    from dvol_pipeline.quant.learn.garch import fit_garch
    generic = np.array([r.mean(), 0.02 * r.var(), 0.05, 0.05, 0.925, 6.0])
    best: tuple[float, np.ndarray, float] | None = None
    for start in (generic, None):
        fit = fit_garch(r, mean="Constant", o=1, dist="t", starting_values=start, maxiter=MAXITER)
        params = np.array(list(fit.params.values()), dtype=float)
        if np.all(np.isfinite(params)) and np.isfinite(fit.loglikelihood):
            if best is None or fit.loglikelihood > best[0]:
                best = (fit.loglikelihood, params, fit.backcast)
        if best is not None and fit.converged and best[1][4] >= SUSPECT_BETA:
            break  # a converged, persistent fit from the generic start: arch's default start not needed
    if best is None:
        return None
    out = (best[1], best[2])
    _CACHE[key] = out
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return out


def _forecast(r: np.ndarray, params: np.ndarray, backcast: float) -> tuple[np.ndarray, np.ndarray]:
    """(1-day, 30-day) annualised vol forecasts made after each return r[t]."""
    mu, omega, alpha, gamma, beta = params[:5]
    eps = r - mu
    x = omega + (alpha + gamma * (eps < 0)) * eps**2
    s1 = ar1_filter(x, beta, z0=beta * backcast)  # sigma2[t+1]
    phi = alpha + 0.5 * gamma + beta
    total, cur = s1.copy(), s1.copy()
    for _ in range(HORIZON - 1):
        cur = omega + phi * cur
        total += cur
    return np.sqrt(365.0 * s1), np.sqrt(365.0 / HORIZON * total)


def garch_features(
    returns: pl.DataFrame, refit: str = "monthly", min_obs: int = MIN_OBS, window_days: int | None = None,
    since: date | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(features: date, asset, garch_vol1, garch_vol30; fits: one row per asset and period).

    `returns`: asset, date, ret (daily log return, fraction; nulls are dropped). `since`: the
    periods whose returns all lie before it are skipped (no row, no fit): each period is fitted
    and filtered on its own, so this changes no other row.
    """
    if refit not in REFIT_EVERY:
        raise ValueError(f"garch_refit={refit!r}; choose one of {sorted(REFIT_EVERY)} (or 'none' to skip GARCH)")
    rets = (
        returns.filter(pl.col("ret").is_not_null() & pl.col("ret").is_finite())
        .sort("asset", "date")
        .with_columns(period=pl.col("date").dt.truncate(REFIT_EVERY[refit]))
    )
    out, fits = [], []
    for asset in sorted(rets["asset"].unique().to_list()):
        a = rets.filter(pl.col("asset") == asset)
        r = a["ret"].to_numpy() * 100.0
        period, day = a["period"].to_numpy(), a["date"].to_numpy()
        for p in np.unique(period):
            if since is not None and day[int(np.searchsorted(period, p, side="right")) - 1] < np.datetime64(since):
                continue
            n = int(np.searchsorted(period, p))  # returns strictly before the period start
            s0 = 0 if window_days is None else int(np.searchsorted(day, p - np.timedelta64(window_days, "D")))
            if n - s0 < min_obs:
                continue
            fit = _fit(np.ascontiguousarray(r[s0:n]))
            if fit is None:
                continue
            params, backcast = fit
            end = int(np.searchsorted(period, p, side="right"))
            v1, v30 = _forecast(r[s0:end], params, backcast)
            out.append(pl.DataFrame({
                "date": a["date"][n:end], "asset": [asset] * (end - n),
                "garch_vol1": v1[n - s0:], "garch_vol30": v30[n - s0:],
            }))
            fits.append({"asset": asset, "fit_key": fit_key(r[s0:n]), "period_start": p.astype("datetime64[D]").item(),
                         "fit_start": day[s0].astype("datetime64[D]").item(), "n_obs": n - s0,
                         **dict(zip(PARAMS, params.tolist(), strict=True))})
    schema = {"date": pl.Date, "asset": pl.Utf8, "garch_vol1": pl.Float64, "garch_vol30": pl.Float64}
    feats = pl.concat(out) if out else pl.DataFrame(schema=schema)
    return feats, pl.DataFrame(fits)
