"""SABR smiles (a second smile model next to SVI), fitted per slice, batched.

Model: Hagan, Kumar, Lesniewski & Woodward (2002), "Managing smile risk", Wilmott: the
forward follows dF = alpha F^beta dW, d alpha = nu alpha dZ, dW dZ = rho dt. The implied
Black vol is Hagan's expansion with Obloj's (2008, "Fine-tune your smile: correction to
Hagan et al.", Wilmott) leading term, which is exact in the short-maturity limit for
beta < 1 (for beta = 1 the two are the same formula):

    sigma(K) = nu ln(F/K) / x(z) * (1 + [(1-beta)^2 alpha^2 / (24 (FK)^(1-beta))
               + rho beta nu alpha / (4 (FK)^((1-beta)/2)) + (2 - 3 rho^2) nu^2 / 24] T),
    z = nu (F^(1-beta) - K^(1-beta)) / (alpha (1-beta))   (nu ln(F/K) / alpha at beta = 1),
    x(z) = ln((sqrt(1 - 2 rho z + z^2) + z - rho) / (1 - rho)).

beta is fixed, not fitted (it is nearly collinear with rho on one day's smile): default
`BETA` = 1, a lognormal backbone. Deribit's options are coin-margined and quoted in
lognormal vol; BTC's forward has ranged from 10k to 100k USD while its ATM vol stayed
in the same 40-100 range, which is what beta = 1 says (ATM vol independent of the level)
and beta < 1 does not. With F normalised to 1 the formula depends on K / F only, so
`alpha` is reported in those units (for beta = 1 it is the ATM vol to leading order).

Fit: alpha, rho, nu per (ts, asset, expiry) on the same points and weights as SVI (vol
residuals in units of the quote's spread), all slices at once: a coarse (rho, nu) grid
with alpha from the ATM vol, then projected Levenberg-Marquardt on (log alpha,
atanh rho, log nu) with a forward-difference Jacobian, fixed iteration count
(deterministic, independent of the batch).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .svi import padded_slices

BETA = 1.0
RHO_MAX = 0.999
NU_MAX = 50.0
RHO_GRID = np.array([-0.4, 0.0, 0.4])
NU_GRID = np.array([0.5, 1.5, 4.0])
LM_ITERATIONS = 20
"""Measured on the demo's chains (3,972 slices): the same fits (median / p99 RMSE equal to 1e-9
vol points) as a 5 x 5 grid with 30 iterations, in 40 % of the time."""
SABR_COLUMNS = ["date", "ts", "asset", "expiry", "T", "forward", "alpha", "rho", "nu", "beta", "n_points", "rmse_vol"]


def sabr_vol(k, T, alpha, rho, nu, beta: float = BETA) -> np.ndarray:
    """Lognormal implied vol (decimal) at log-moneyness k = ln(K/F), F normalised to 1; broadcasts."""
    k, T, alpha, rho, nu = (np.asarray(x, float) for x in (k, T, alpha, rho, nu))
    log_fk = -k  # ln(F/K)
    K = np.exp(k)
    if beta == 1.0:
        lead_base = alpha * np.ones_like(log_fk)  # nu ln(F/K) / z
        z = nu * log_fk / alpha
    else:
        one_b = 1.0 - beta
        diff = (1.0 - K**one_b) / one_b
        z = nu * diff / alpha
        small = np.abs(log_fk) < 1e-12
        lead_base = np.where(small, alpha, alpha * log_fk / np.where(small, 1.0, diff))
    root = np.sqrt(1.0 - 2.0 * rho * z + z * z)
    x = np.log((root + z - rho) / (1.0 - rho))
    tiny = np.abs(z) < 1e-7
    ratio = np.where(tiny, 1.0 - 0.5 * rho * z, z / np.where(tiny, 1.0, x))  # z / x(z)
    fk = K ** ((1.0 - beta) / 2.0)  # (F K)^((1-beta)/2) with F = 1
    corr = ((1.0 - beta) ** 2 * alpha**2 / (24.0 * fk * fk) + rho * beta * nu * alpha / (4.0 * fk)
            + (2.0 - 3.0 * rho * rho) * nu * nu / 24.0)
    return lead_base * ratio * (1.0 + corr * T)


def _to_params(x):
    return np.exp(x[..., 0]), RHO_MAX * np.tanh(x[..., 1]), np.minimum(np.exp(x[..., 2]), NU_MAX)


def fit_sabr_arrays(k: np.ndarray, iv: np.ndarray, wt: np.ndarray, T: np.ndarray,
                    beta: float = BETA) -> dict[str, np.ndarray]:
    """Fit (alpha, rho, nu) to S slices of padded (S, P) arrays: k, iv (decimal), vol weights wt
    (padding has weight 0); T (S,). Returns arrays alpha, rho, nu."""
    k, iv, wt = (np.asarray(x, float) for x in (k, iv, wt))
    # trailing all-padding columns cost time only: keep a multiple of 8 columns (at most 128), for
    # which numpy's pairwise sums of a row give the same bits whatever the width
    if k.shape[1] <= 128:
        used = np.flatnonzero((wt > 0).any(0))
        width = max(8, -(-(int(used[-1]) + 1 if used.size else 1) // 8) * 8)
        k, iv, wt = (np.ascontiguousarray(x[:, :width]) for x in (k, iv, wt))
    S = k.shape[0]
    n = np.maximum((wt > 0).sum(1), 1)[:, None]
    sw = np.sqrt(wt / n)
    Tc = np.asarray(T, float)[:, None]
    near = np.argmin(np.where(wt > 0, np.abs(k), np.inf), axis=1)
    atm = np.maximum(iv[np.arange(S), near], 1e-3)

    def resid(x):  # x (S, 3)
        a, r, v = _to_params(x)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            out = sw * (sabr_vol(k, Tc, a[:, None], r[:, None], v[:, None], beta) - iv)
        return np.where(np.isfinite(out), out, 1e3)

    # start: the best of a (rho, nu) grid, alpha solving the ATM vol to first order
    best_x, best = None, np.full(S, np.inf)
    for r0 in RHO_GRID:
        for v0 in NU_GRID:
            corr = r0 * beta * v0 * atm / 4.0 + (2.0 - 3.0 * r0 * r0) * v0 * v0 / 24.0
            a0 = atm / np.maximum(1.0 + corr * Tc[:, 0], 0.2)
            x = np.stack([np.log(a0), np.full(S, np.arctanh(r0 / RHO_MAX)), np.full(S, np.log(v0))], -1)
            res = resid(x)
            cost = (res * res).sum(1)
            take = cost < best
            best_x = x if best_x is None else np.where(take[:, None], x, best_x)
            best = np.where(take, cost, best)
    x, r, cost = best_x, resid(best_x), best
    lam = np.full(S, 1e-3)
    for _ in range(LM_ITERATIONS):
        J = [(resid(x + h) - r) / 1e-7 for h in np.eye(3) * 1e-7]  # 3 x (S, P)
        H = np.stack([np.stack([(J[i] * J[j]).sum(1) for j in range(3)], -1) for i in range(3)], -2)
        grad = np.stack([(J[i] * r).sum(1) for i in range(3)], -1)
        diag = np.einsum("sii->si", H)
        damp = lam[:, None] * (diag + 1e-12 * diag.max(-1, keepdims=True) + 1e-300)
        step = np.linalg.solve(H + damp[..., None] * np.eye(3), -grad[..., None])[..., 0]
        trial = x + step
        trial[:, 1] = np.clip(trial[:, 1], -8.0, 8.0)
        trial[:, 2] = np.minimum(trial[:, 2], np.log(NU_MAX))
        r_t = resid(trial)
        cost_t = (r_t * r_t).sum(1)
        better = cost_t < cost
        x = np.where(better[:, None], trial, x)
        r = np.where(better[:, None], r_t, r)
        cost = np.where(better, cost_t, cost)
        lam = np.clip(np.where(better, lam / 3.0, lam * 4.0), 1e-12, 1e12)
    a, rho, nu = _to_params(x)
    return {"alpha": a, "rho": rho, "nu": nu}


def vol_weights(arrays: dict[str, np.ndarray], T: np.ndarray) -> np.ndarray:
    """SVI's total-variance weights 1 / width_w^2 turned into vol weights 1 / width_vol^2
    (width_w = 2 iv T width_vol), so both models weigh a quote by the same spread."""
    return arrays["weight"] * (2.0 * arrays["iv"] * np.asarray(T, float)[:, None]) ** 2


def fit_sabr_slices(points: pl.DataFrame, beta: float = BETA) -> pl.DataFrame:
    """One SABR smile per (ts, asset, expiry) of `points` (`svi.smile_points`), `SABR_COLUMNS`;
    rmse_vol is unweighted, in vol points, over the slice's points."""
    if points.height == 0:
        return pl.DataFrame(schema={c: pl.Float64 for c in SABR_COLUMNS} | {
            "date": pl.Date, "ts": pl.Datetime("us", "UTC"), "asset": pl.String,
            "expiry": pl.Datetime("us", "UTC"), "n_points": pl.UInt32})
    first, arrays = padded_slices(points)
    T = first["T"].to_numpy()
    fit = fit_sabr_arrays(arrays["k"], arrays["iv"], vol_weights(arrays, T), T, beta)
    mask = arrays["weight"] > 0
    err = 100.0 * (sabr_vol(arrays["k"], T[:, None], *(fit[c][:, None] for c in ("alpha", "rho", "nu")), beta)
                   - arrays["iv"])
    n = mask.sum(1)
    rmse = np.sqrt(np.where(mask, err * err, 0.0).sum(1) / np.maximum(n, 1))
    return (
        first.select("date", "ts", "asset", "expiry", "T", "forward")
        .with_columns(**{c: pl.Series(fit[c]) for c in ("alpha", "rho", "nu")}, beta=pl.lit(float(beta)),
                      n_points=pl.Series(n, dtype=pl.UInt32), rmse_vol=pl.Series(rmse))
        .select(SABR_COLUMNS)
        .sort(["asset", "date", "expiry"])
    )
