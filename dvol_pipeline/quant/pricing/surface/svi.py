"""Raw SVI smiles, fitted to every (ts, asset, expiry) slice of many days at once.

Raw SVI (Gatheral 2004) in total implied variance w = iv^2 T at log-moneyness k = ln(K/F):

    w(k) = a + b * (rho * (k - m) + sqrt((k - m)^2 + sigma^2))

Why SVI: five parameters reproduce crypto smiles (skewed, linear wings that respect
Lee's moment bound), they interpolate and extrapolate sanely, and butterfly / calendar
arbitrage can be checked in closed form.

Data and weights: the level is the venue's mark_iv (a smooth fair value, free of the
tick rounding that bids and asks carry); the quote width tells how much to trust it. A
quote's bid-ask width is turned into vol by dV/dsigma (vega per vol point / VOL_POINT),
width_vol = (ask - bid) * F / (dV/dsigma),
floored at `MIN_WIDTH_VOL` (so razor-thin ATM quotes do not swamp the fit), then into total
variance, width_w = 2 iv T width_vol; the weight is 1 / width_w^2, i.e. residuals are
measured in units of the spread.

Fit (all slices batched on padded arrays, no per-slice Python loop):

1. quasi-explicit global search (Zeliade 2009): for fixed (m, sigma) the smile is linear in
   (a, d = rho b sigma, c = b sigma) with y = (k - m) / sigma: w = a + d y + c sqrt(y^2 + 1).
   On a coarse (m, sigma) grid scaled by each slice's ATM total vol, the weighted linear
   least squares is solved in closed form for every slice and grid point at once, on the
   interior and on the faces rho = +-RHO_MAX and b = 0; infeasible candidates are dropped;
2. Levenberg-Marquardt polish of all five parameters from the best grid point, with the
   analytic Jacobian, batched 5x5 solves and a projection on the constraints after each
   step (a step is kept only where it lowers that slice's weighted error).

Constraints: b >= 0, |rho| <= RHO_MAX < 1, sigma > 0, a + b sigma sqrt(1 - rho^2) >= 0
(total variance never negative) and Lee's bound b (1 + |rho|) <= 2 (wings at most
linear with slope 2). Everything is deterministic: fixed grids, fixed iteration count.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dvol_pipeline.progress import progress
from dvol_pipeline.quant.pricing.options import VOL_POINT, vega

from .liquidity import SLICE_KEYS

PARAMS = ("a", "b", "rho", "m", "sigma")
RHO_MAX = 0.999
LEE_MAX_SLOPE = 2.0
MIN_WIDTH_VOL = 0.002
"""Quote widths below 0.2 vol points are treated as 0.2 vol points when weighting."""
M_GRID = np.array([-1.5, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 1.5])
SIGMA_GRID = np.geomspace(0.05, 3.0, 8)
"""Coarse search grid, in units of each slice's ATM total vol sqrt(w(0))."""
LM_ITERATIONS = 30
CHUNK = 1024
PAD_WIDTH = 128
PARAMS_COLUMNS = [
    "date", "ts", "asset", "expiry", "T", "days_to_expiry", "forward", "a", "b", "rho", "m", "sigma",
    "n_points", "rmse_vol", "max_abs_err_vol", "atm_iv",
]


# ---- the smile itself -------------------------------------------------------------------
def svi_total_variance(k, a, b, rho, m, sigma) -> np.ndarray:
    """w(k) of raw SVI; broadcasts."""
    u = np.asarray(k, float) - m
    return a + b * (rho * u + np.sqrt(u * u + sigma * sigma))


def svi_derivatives(k, a, b, rho, m, sigma) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w, dw/dk, d2w/dk2) of raw SVI; broadcasts."""
    u = np.asarray(k, float) - m
    r = np.sqrt(u * u + sigma * sigma)
    w = a + b * (rho * u + r)
    return w, b * (rho + u / r), b * sigma * sigma / (r * r * r)


def svi_vol(k, T, a, b, rho, m, sigma) -> np.ndarray:
    """Implied vol (decimal) of the SVI smile; 0 where total variance is not positive."""
    w = svi_total_variance(k, a, b, rho, m, sigma)
    return np.sqrt(np.maximum(w, 0.0) / T)


def project(a, b, rho, m, sigma, sigma_min):
    """Nearest-ish feasible parameters (see the module doc for the constraints)."""
    rho = np.clip(rho, -RHO_MAX, RHO_MAX)
    b = np.clip(b, 0.0, LEE_MAX_SLOPE / (1.0 + np.abs(rho)))
    sigma = np.maximum(sigma, sigma_min)
    a = np.maximum(a, -b * sigma * np.sqrt(1.0 - rho * rho))
    return a, b, rho, m, sigma


# ---- batched fit on padded arrays -------------------------------------------------------
def _grid_search(k: np.ndarray, v: np.ndarray, wt: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, ...]:
    """Best quasi-explicit candidate per slice. Inputs (S, P); returns five (S,) arrays."""
    mg = scale[:, None] * np.repeat(M_GRID, SIGMA_GRID.size)[None, :]  # (S, G)
    sg = scale[:, None] * np.tile(SIGMA_GRID, M_GRID.size)[None, :]
    y = (k[:, None, :] - mg[..., None]) / sg[..., None]  # (S, G, P)
    wz = wt[:, None, :] * np.sqrt(y * y + 1.0)
    # moments without z follow from weighted power sums of k, O(S G) instead of O(S G P)
    G = mg.shape[1]
    s1, sk, skk = (np.repeat((wt * k**j).sum(-1)[:, None], G, 1) for j in (0, 1, 2))
    sv, skv, svv = (np.repeat((wt * x).sum(-1)[:, None], G, 1) for x in (v, k * v, v * v))
    sy = (sk - mg * s1) / sg
    syy = (skk - 2.0 * mg * sk + mg * mg * s1) / (sg * sg)
    syv = (skv - mg * sv) / sg
    szz = syy + s1
    sz = wz.sum(-1)
    syz = np.einsum("sgp,sgp->sg", wz, y)
    szv = np.matmul(wz, v[:, :, None])[..., 0]

    # interior: unknowns (a, d, c) with basis (1, y, z)
    A = np.stack(
        [np.stack([s1, sy, sz], -1), np.stack([sy, syy, syz], -1), np.stack([sz, syz, szz], -1)], -2
    )
    rhs = np.stack([sv, syv, szv], -1)
    ridge = 1e-12 * np.trace(A, axis1=-2, axis2=-1)[..., None, None] * np.eye(3)
    theta = np.linalg.solve(A + ridge, rhs[..., None])[..., 0]
    a_i, d_i, c_i = theta[..., 0], theta[..., 1], theta[..., 2]
    sse_i = svv - 2.0 * (theta * rhs).sum(-1) + np.einsum("sgi,sgij,sgj->sg", theta, A, theta)
    ok_i = (
        (c_i > 0)
        & (np.abs(d_i) <= RHO_MAX * c_i)
        & (c_i + np.abs(d_i) <= LEE_MAX_SLOPE * sg)
        & (a_i + np.sqrt(np.maximum(c_i * c_i - d_i * d_i, 0.0)) >= 0)
    )
    cands = [(np.where(ok_i, sse_i, np.inf), a_i, d_i, c_i)]

    # faces rho = +-RHO_MAX: unknowns (a, c) with basis (1, z + sign * RHO_MAX * y)
    for sign in (1.0, -1.0):
        r = sign * RHO_MAX
        sq = sz + r * sy
        sqq = szz + 2.0 * r * syz + r * r * syy
        sqv = szv + r * syv
        det = s1 * sqq - sq * sq
        det = np.where(np.abs(det) > 1e-300, det, np.inf)
        a_f = (sqq * sv - sq * sqv) / det
        c_f = (s1 * sqv - sq * sv) / det
        sse_f = svv - 2.0 * (a_f * sv + c_f * sqv) + a_f * a_f * s1 + 2.0 * a_f * c_f * sq + c_f * c_f * sqq
        ok_f = (c_f >= 0) & (c_f * (1.0 + RHO_MAX) <= LEE_MAX_SLOPE * sg) & (
            a_f + c_f * np.sqrt(1.0 - RHO_MAX * RHO_MAX) >= 0
        )
        cands.append((np.where(ok_f, sse_f, np.inf), a_f, r * c_f, c_f))

    S, rows = k.shape[0], np.arange(k.shape[0])
    sse, a_all, d_all, c_all = (np.stack([c[j] for c in cands], -1).reshape(S, -1) for j in range(4))  # (S, 3G)
    best = np.argmin(sse, axis=1)
    a, d, c = a_all[rows, best], d_all[rows, best], c_all[rows, best]
    g = best // len(cands)
    m, sigma = mg[rows, g], sg[rows, g]
    # flat smile (b = 0) when no candidate is feasible or it fits better
    flat_a = sv[:, 0] / np.maximum(s1[:, 0], 1e-300)
    flat_sse = svv[:, 0] - flat_a * sv[:, 0]
    use_flat = ~np.isfinite(sse[rows, best]) | (flat_sse < sse[rows, best])
    b = np.where(use_flat, 0.0, c / sigma)
    rho = np.where(use_flat | (c <= 0), 0.0, d / np.where(c > 0, c, 1.0))
    a = np.where(use_flat, flat_a, a)
    return a, b, rho, m, sigma


def _lm_polish(k, v, wt, p: tuple[np.ndarray, ...], sigma_min: np.ndarray) -> tuple[np.ndarray, ...]:
    """Batched projected Levenberg-Marquardt on (a, b, rho, m, sigma)."""
    p = project(*p, sigma_min)

    def sse_of(q):
        r = svi_total_variance(k, *(x[:, None] for x in q)) - v
        return (wt * r * r).sum(-1), r

    sse, resid = sse_of(p)
    lam = np.full(k.shape[0], 1e-3)
    # always LM_ITERATIONS rounds (no early stop): a slice's fit must not depend on which
    # other slices share the batch, so one day built alone equals that day in a backfill
    for _ in range(LM_ITERATIONS):
        a, b, rho, m, sigma = (x[:, None] for x in p)
        u = k - m
        root = np.sqrt(u * u + sigma * sigma)
        J = np.stack([np.ones_like(u), rho * u + root, b * u, -b * (rho + u / root), b * sigma / root], -1)
        JWt = np.swapaxes(J * wt[..., None], 1, 2)
        H = np.matmul(JWt, J)
        grad = np.matmul(JWt, resid[..., None])[..., 0]
        diag = np.einsum("sii->si", H)
        damp = lam[:, None] * (diag + 1e-12 * diag.max(-1, keepdims=True) + 1e-300)
        step = np.linalg.solve(H + damp[..., None] * np.eye(5), -grad[..., None])[..., 0]
        trial = project(*(x + step[:, i] for i, x in enumerate(p)), sigma_min)
        sse_t, resid_t = sse_of(trial)
        better = sse_t < sse
        p = tuple(np.where(better, t, x) for t, x in zip(trial, p))
        sse = np.where(better, sse_t, sse)
        resid = np.where(better[:, None], resid_t, resid)
        lam = np.clip(np.where(better, lam / 3.0, lam * 4.0), 1e-12, 1e12)
    return p


def fit_svi_arrays(k: np.ndarray, v: np.ndarray, wt: np.ndarray) -> dict[str, np.ndarray]:
    """Fit raw SVI to S slices given as padded (S, P) arrays (padding has weight 0).

    k: log-moneyness, v: total variance, wt: weights. Returns arrays a, b, rho, m, sigma.
    Slices are processed in fixed-size chunks, so memory stays bounded for any S.
    """
    k, v, wt = (np.asarray(x, float) for x in (k, v, wt))
    k = np.where(wt > 0, k, 0.0)
    v = np.where(wt > 0, v, 0.0)
    # each slice's ATM total vol scales the search grid and the sigma floor
    near = np.argmin(np.where(wt > 0, np.abs(k), np.inf), axis=1)
    rows = np.arange(k.shape[0])
    scale = np.sqrt(np.maximum(v[rows, near], 1e-8))
    out = {name: np.empty(k.shape[0]) for name in PARAMS}
    with progress("SVI fits", total=k.shape[0], unit="slice") as bar:
        for lo in range(0, k.shape[0], CHUNK):
            sl = slice(lo, lo + CHUNK)
            start = _grid_search(k[sl], v[sl], wt[sl], scale[sl])
            fitted = _lm_polish(k[sl], v[sl], wt[sl], start, 1e-3 * scale[sl])
            for name, x in zip(PARAMS, fitted):
                out[name][sl] = x
            bar.update(min(CHUNK, k.shape[0] - lo))
    return out


# ---- frames -----------------------------------------------------------------------------
def smile_points(kept: pl.DataFrame) -> pl.DataFrame:
    """Per kept quote: slice keys, date, T, forward, k, iv, total variance w and weight."""
    if kept.height == 0:
        return kept.select(*SLICE_KEYS, "date", "T", forward="underlying_price", k="k", iv="iv").with_columns(
            w=pl.lit(None, pl.Float64), weight=pl.lit(None, pl.Float64)
        )
    F = kept["underlying_price"].to_numpy()
    K = kept["strike"].to_numpy()
    T = kept["T"].to_numpy()
    iv = kept["iv"].to_numpy()
    dprice_dsigma = vega(F, K, T, iv) / VOL_POINT  # per unit sigma: the width below is in sigma
    width_vol = (kept["ask"].to_numpy() - kept["bid"].to_numpy()) * F / np.maximum(dprice_dsigma, 1e-300)
    width_w = 2.0 * iv * T * np.maximum(width_vol, MIN_WIDTH_VOL)
    return kept.select(
        *SLICE_KEYS, "date", "T", forward="underlying_price", k="k", iv="iv"
    ).with_columns(w=pl.Series(iv * iv * T), weight=pl.Series(1.0 / (width_w * width_w)))


def _pad(points: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """Slice table (first row of each slice) and (slice, position) of every point."""
    keys = points.select(SLICE_KEYS)
    new = np.ones(points.height, bool)
    new[1:] = np.any(
        np.stack([(keys[c][1:] != keys[c][:-1]).to_numpy() for c in SLICE_KEYS]), axis=0
    )
    sid = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    pos = np.arange(points.height) - starts[sid]
    return points[starts], sid, pos


def padded_slices(points: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """(first row of each slice, padded (S, P) arrays k, w, weight, iv) of a `smile_points` frame.

    Slices come sorted by (ts, asset, expiry), so a day's expiries are consecutive and in
    maturity order; the width is a multiple of `PAD_WIDTH` because numpy's pairwise sums
    depend on row length (one day built alone must equal that day in a backfill).
    """
    points = points.sort([*SLICE_KEYS, "k"])
    first, sid, pos = _pad(points)
    S, P = first.height, -(-(int(pos.max()) + 1) // PAD_WIDTH) * PAD_WIDTH
    arrays = {}
    for name in ("k", "w", "weight", "iv"):
        arrays[name] = np.zeros((S, P))
        arrays[name][sid, pos] = points[name].to_numpy()
    forward = points.group_by(SLICE_KEYS, maintain_order=True).agg(pl.col("forward").median())["forward"]
    return first.with_columns(forward=forward), arrays


def fit_errors(arrays: dict[str, np.ndarray], T: np.ndarray, fit: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """(n_points, rmse, max |error|) of a fit, unweighted, in vol points, over each slice's points."""
    err = 100.0 * (svi_vol(arrays["k"], T[:, None], *(fit[n][:, None] for n in PARAMS)) - arrays["iv"])
    mask = arrays["weight"] > 0
    n = mask.sum(1)
    rmse = np.sqrt(np.where(mask, err * err, 0.0).sum(1) / np.maximum(n, 1))
    return n, rmse, np.where(mask, np.abs(err), 0.0).max(1)


def params_frame(first: pl.DataFrame, arrays: dict[str, np.ndarray], fit: dict[str, np.ndarray]) -> pl.DataFrame:
    """The `PARAMS_COLUMNS` frame of fitted slices (see `fit_slices`)."""
    T = first["T"].to_numpy()
    n, rmse, max_err = fit_errors(arrays, T, fit)
    return (
        first.select("date", *SLICE_KEYS, "T", "forward")
        .with_columns(
            days_to_expiry=pl.col("T") * 365.0,
            **{name: pl.Series(fit[name]) for name in PARAMS},
            n_points=pl.Series(n, dtype=pl.UInt32),
            rmse_vol=pl.Series(rmse),
            max_abs_err_vol=pl.Series(max_err),
            atm_iv=pl.Series(100.0 * svi_vol(0.0, T, *(fit[n] for n in PARAMS))),
        )
        .select(PARAMS_COLUMNS)
    )


def fit_slices(points: pl.DataFrame) -> pl.DataFrame:
    """Fit one SVI smile per (ts, asset, expiry) of `points` (from `smile_points`).

    Returns the `PARAMS_COLUMNS` frame: fit RMSE / max error are unweighted, in vol
    points, over the slice's points; atm_iv is the fitted vol at k = 0, in vol points.
    No arbitrage repair here: `repair.fit_repaired_slices` adds it.
    """
    if points.height == 0:
        return empty_params(points)
    first, arrays = padded_slices(points)
    fit = fit_svi_arrays(arrays["k"], arrays["w"], arrays["weight"])
    return params_frame(first, arrays, fit).sort(["asset", "date", "expiry"])


def empty_params(points: pl.DataFrame) -> pl.DataFrame:
    """No parameter rows, in the parameters' schema (the key columns typed as in `points`)."""
    sch = points.schema
    schema = {c: pl.Float64 for c in PARAMS_COLUMNS}
    schema.update(
        date=pl.Date, ts=sch.get("ts", pl.Datetime("us", "UTC")), asset=pl.String,
        expiry=sch.get("expiry", pl.Datetime("us", "UTC")), n_points=pl.UInt32,
    )
    return pl.DataFrame(schema={c: schema[c] for c in PARAMS_COLUMNS})
