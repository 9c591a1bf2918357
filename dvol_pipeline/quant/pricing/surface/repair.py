"""No-arbitrage repair of fitted SVI slices: butterfly per slice, calendar across a day's expiries.

Why repair and not only report: the surface grid, the features, the Greeks and the DVOL
replica all read the fitted smiles; a smile with a negative density (g(k) < 0) or an expiry
cheaper than the one before it prices trades that lock in money. Downstream reads the
repaired parameters; the raw fit is kept next to it (`*_raw` columns) so the cost of the
repair, in fit error, is visible.

Which slices: those that fail the checks of `arbitrage.py` (g < -tol on the butterfly grid;
total variance below the previous expiry's on the calendar grid). A clean slice is left
bit-for-bit unchanged. A day's expiries are repaired in maturity order, so each one is
compared with its already repaired predecessor (one batched pass per expiry position, all
days and coins at once).

How (two steps, both batched and deterministic):

1. Penalty refit (Gatheral & Jacquier 2014, "Arbitrage-free SVI volatility surfaces",
   Quantitative Finance 14(1), section 5: calibrate slice by slice in maturity order,
   penalising calendar spread arbitrage against the previous slice; here their butterfly
   condition g(k) >= 0 of section 2 is penalised the same way). Projected Levenberg-Marquardt
   from the raw fit on the weighted data residuals (in units of the quote spread, as in
   svi.py, averaged over the slice's points) plus sqrt(PENALTY) * min(g(k_j) - G_MARGIN, 0) on
   a dense grid 1.25x the check range and sqrt(PENALTY) * min(w(k_j) - w_prev(k_j) - margin, 0)
   / w_prev(0) on the calendar grid; the weight is raised in stages (a continuation: with the
   full weight at once LM crawls along the constraint's narrow valley). Forward-difference
   Jacobian (the penalties are not smooth), fixed iteration counts.
2. Guaranteed fallback, for what the penalty leaves: shrink towards the flat smile with the
   same ATM total variance, (a, b) -> (a (1 - t) + t w(0), b (1 - t)). A convex combination of
   an SVI smile and a constant is again raw SVI with the same (rho, m, sigma) and w(0); at
   t = 1 it is flat, g = 1. Any calendar deficit left is lifted by raising a. The smallest t
   of a fixed grid for which the butterfly check passes is taken, so the result always
   passes both checks on their grids.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .arbitrage import N_BUTTERFLY, N_CALENDAR, butterfly_g, check_half_width
from .svi import PARAMS, PARAMS_COLUMNS, empty_params, fit_svi_arrays, padded_slices, params_frame, project
from .svi import svi_total_variance, svi_vol

TOL = 1e-8
"""The checks' tolerance (arbitrage.butterfly_violations / calendar_violations)."""
PENALTY = 1e4
G_MARGIN = 1e-3
"""The refit aims at g >= G_MARGIN (and w a little above the previous expiry) so a penalised
optimum, which stops just short of its constraint, still clears the check."""
CALENDAR_MARGIN = 1e-3
"""Required lift above the previous expiry, as a share of its ATM total variance."""
PENALTY_STAGES = 4
STAGE_ITERATIONS = 15
N_PENALTY_GRID = 121
"""Butterfly penalty points over 1.25x the check range: finer than the check's own 81 over 1x."""
SHRINK_GRID = np.linspace(0.0, 1.0, 41)
REPAIR_COLUMNS = [
    *PARAMS_COLUMNS, "repaired", "repair_reason", "rmse_vol_raw", "max_abs_err_vol_raw",
    "butterfly_min_g_raw", "butterfly_min_g", *(f"{p}_raw" for p in PARAMS),
]


def butterfly_min_g(T: np.ndarray, p: tuple[np.ndarray, ...]) -> np.ndarray:
    """min g(k) of each slice on exactly the grid `butterfly_violations` checks (its own ATM vol)."""
    atm = 100.0 * svi_vol(0.0, T, *p)
    k = check_half_width(T, atm)[:, None] * np.linspace(-1.0, 1.0, N_BUTTERFLY)[None, :]
    return butterfly_g(k, *(x[:, None] for x in p)).min(1)


def calendar_grid(T_near: np.ndarray, p_near: tuple[np.ndarray, ...], n: int = N_CALENDAR) -> np.ndarray:
    """The grid `calendar_violations` compares a pair on (the near expiry's check range)."""
    atm = 100.0 * svi_vol(0.0, T_near, *p_near)
    return check_half_width(T_near, atm)[:, None] * np.linspace(-1.0, 1.0, n)[None, :]


def _trim(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Drop all-padding columns beyond the last used one, keeping a multiple of 8 (at most 128,
    the padded width): numpy's pairwise row sums then give the same bits whatever the batch."""
    wt = arrays[-1]
    if wt.shape[1] > 128:
        return arrays
    used = np.flatnonzero((wt > 0).any(0))
    width = max(8, -(-(int(used[-1]) + 1 if used.size else 1) // 8) * 8)
    return tuple(np.ascontiguousarray(x[:, :width]) for x in arrays)


def _penalised_refit(k, v, wt, p0, kb, kc, floor, scale_w, sigma_min):
    """Batched projected LM on data + arbitrage penalties (module doc, step 1).

    The residual blocks (data, butterfly grid, calendar grid) are kept apart and their normal
    equations summed block by block, each over a width that does not depend on the batch, so a
    day repaired alone gives the same bits as in a backfill.
    """
    k, v, wt = _trim(k, v, wt)
    n = np.maximum((wt > 0).sum(1), 1)[:, None]
    sw = np.sqrt(wt / n)

    def residuals(p, root_pen):
        q = [x[:, None] for x in p]
        g = butterfly_g(kb, *q)
        blocks = [sw * (svi_total_variance(k, *q) - v),
                  root_pen * np.minimum(np.where(np.isfinite(g), g, -10.0) - G_MARGIN, 0.0)]
        if kc is not None:
            blocks.append(root_pen * np.minimum(svi_total_variance(kc, *q) - floor, 0.0) / scale_w[:, None])
        return blocks

    def total(blocks):
        return sum((b * b).sum(1) for b in blocks)

    p = project(*p0, sigma_min)
    for penalty in np.geomspace(PENALTY / 10 ** (PENALTY_STAGES - 1), PENALTY, PENALTY_STAGES):
        root_pen = np.sqrt(penalty)
        r = residuals(p, root_pen)
        cost = total(r)
        lam = np.full(k.shape[0], 1e-3)
        for _ in range(STAGE_ITERATIONS):
            J = []  # J[i][block]: d residuals / d p_i, forward differences
            for i, x in enumerate(p):
                h = 1e-7 * np.maximum(np.abs(x), 1e-3)
                bumped = tuple(y + h if j == i else y for j, y in enumerate(p))
                J.append([(rb - r0) / h[:, None] for rb, r0 in zip(residuals(bumped, root_pen), r)])
            H = np.stack([np.stack([sum((a * b).sum(1) for a, b in zip(J[i], J[j])) for j in range(5)], -1)
                          for i in range(5)], -2)
            grad = np.stack([sum((a * b).sum(1) for a, b in zip(J[i], r)) for i in range(5)], -1)
            diag = np.einsum("sii->si", H)
            damp = lam[:, None] * (diag + 1e-12 * diag.max(-1, keepdims=True) + 1e-300)
            step = np.linalg.solve(H + damp[..., None] * np.eye(5), -grad[..., None])[..., 0]
            trial = project(*(x + step[:, i] for i, x in enumerate(p)), sigma_min)
            r_t = residuals(trial, root_pen)
            cost_t = total(r_t)
            better = cost_t < cost
            p = tuple(np.where(better, t, x) for t, x in zip(trial, p))
            r = [np.where(better[:, None], a, b) for a, b in zip(r_t, r)]
            cost = np.where(better, cost_t, cost)
            lam = np.clip(np.where(better, lam / 3.0, lam * 4.0), 1e-12, 1e12)
    return p


def _fallback(T, p, kc, floor, scale_w):
    """Smallest shrink towards flat (plus a calendar lift) that passes both checks (step 2)."""
    a, b, rho, m, sigma = p
    w0 = np.maximum(svi_total_variance(0.0, *p), 1e-12)
    t = SHRINK_GRID[None, :]
    cand = [a[:, None] * (1 - t) + t * w0[:, None], b[:, None] * (1 - t)] + [
        np.repeat(x[:, None], t.size, 1) for x in (rho, m, sigma)]
    if kc is not None:
        w = svi_total_variance(kc[:, None, :], *(c[..., None] for c in cand))
        deficit = (floor[:, None, :] - w).max(-1)
        cand[0] = cand[0] + np.where(deficit > 0, deficit + CALENDAR_MARGIN * scale_w[:, None], 0.0)
    S, C = cand[0].shape
    flat = tuple(c.reshape(-1) for c in cand)
    ok = (butterfly_min_g(np.repeat(T, C), flat) >= 0).reshape(S, C)
    ok[:, -1] = True  # flat (g = 1); guards a degenerate w(0)
    first = np.argmax(ok, axis=1)
    rows = np.arange(S)
    return tuple(c[rows, first] for c in cand)


def repair_arrays(arrays: dict[str, np.ndarray], T: np.ndarray, day_id: np.ndarray,
                  fit: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Repair raw fits of slices sorted by (day, maturity). Returns (params, butterfly_bad, calendar_bad).

    `arrays`: `svi.padded_slices` arrays; `day_id`: one id per (ts, asset), consecutive.
    """
    S = T.size
    out = {n: fit[n].astype(float).copy() for n in PARAMS}
    raw = tuple(fit[n] for n in PARAMS)
    bad_b = butterfly_min_g(T, raw) < -TOL
    bad_c = np.zeros(S, bool)
    new_day = np.ones(S, bool)
    new_day[1:] = day_id[1:] != day_id[:-1]
    starts = np.flatnonzero(new_day)
    pos = np.arange(S) - starts[np.cumsum(new_day) - 1]
    k_all, v_all, wt_all = arrays["k"], arrays["w"], arrays["weight"]
    scale = np.sqrt(np.maximum(svi_total_variance(0.0, *raw), 1e-8))
    for j in range(int(pos.max()) + 1 if S else 0):
        idx = np.flatnonzero(pos == j)
        cur = tuple(out[n][idx] for n in PARAMS)
        kc = floor = scale_w = None
        if j > 0:
            prev = tuple(out[n][idx - 1] for n in PARAMS)
            kc_check = calendar_grid(T[idx - 1], prev)
            w_prev = svi_total_variance(kc_check, *(x[:, None] for x in prev))
            bad_c[idx] = (w_prev - svi_total_variance(kc_check, *(x[:, None] for x in cur))).max(1) > TOL
        need = bad_b[idx] | bad_c[idx]
        if not need.any():
            continue
        sub = idx[need]
        p0 = tuple(x[need] for x in cur)
        half = check_half_width(T[sub], 100.0 * svi_vol(0.0, T[sub], *p0))
        kb = 1.25 * half[:, None] * np.linspace(-1.0, 1.0, N_PENALTY_GRID)[None, :]
        if j > 0:
            prev = tuple(out[n][sub - 1] for n in PARAMS)
            kc = calendar_grid(T[sub - 1], prev, 2 * N_CALENDAR - 1)  # holds every checked point
            scale_w = np.maximum(svi_total_variance(0.0, *prev), 1e-12)
            floor = svi_total_variance(kc, *(x[:, None] for x in prev)) + CALENDAR_MARGIN * scale_w[:, None]
        p = _penalised_refit(k_all[sub], v_all[sub], wt_all[sub], p0, kb, kc, floor, scale_w,
                             1e-3 * scale[sub])
        if j > 0:  # the fallback lifts on the checked points themselves
            kc = calendar_grid(T[sub - 1], prev)
            floor = svi_total_variance(kc, *(x[:, None] for x in prev))
        p = _fallback(T[sub], p, kc, floor, scale_w)
        for n, x in zip(PARAMS, p):
            out[n][sub] = x
    return out, bad_b, bad_c


def fit_repaired_slices(points: pl.DataFrame) -> pl.DataFrame:
    """SVI per (ts, asset, expiry) of `points` (`smile_points`), repaired (`REPAIR_COLUMNS`).

    a..sigma, rmse_vol, max_abs_err_vol and atm_iv describe the repaired smile (what
    downstream uses); `*_raw` the unconstrained fit; `repaired` says whether the slice was
    changed, `repair_reason` why ("", "butterfly", "calendar", "butterfly+calendar"); the
    butterfly_min_g columns are min g(k) on the check grid before and after.
    """
    if points.height == 0:
        return _empty_repaired(points)
    first, arrays = padded_slices(points)
    T = first["T"].to_numpy()
    raw = fit_svi_arrays(arrays["k"], arrays["w"], arrays["weight"])
    same = np.zeros(first.height, bool)
    same[1:] = (first["ts"][1:] == first["ts"][:-1]).to_numpy() & (first["asset"][1:] == first["asset"][:-1]).to_numpy()
    day_id = np.cumsum(~same)
    fixed, bad_b, bad_c = repair_arrays(arrays, T, day_id, raw)
    raw_frame = params_frame(first, arrays, raw)
    reason = np.where(bad_b & bad_c, "butterfly+calendar", np.where(bad_b, "butterfly", np.where(bad_c, "calendar", "")))
    return (
        params_frame(first, arrays, fixed)
        .with_columns(
            repaired=pl.Series(bad_b | bad_c),
            repair_reason=pl.Series(reason.astype(str)),
            rmse_vol_raw=raw_frame["rmse_vol"],
            max_abs_err_vol_raw=raw_frame["max_abs_err_vol"],
            butterfly_min_g_raw=pl.Series(butterfly_min_g(T, tuple(raw[n] for n in PARAMS))),
            butterfly_min_g=pl.Series(butterfly_min_g(T, tuple(fixed[n] for n in PARAMS))),
            **{f"{n}_raw": pl.Series(raw[n]) for n in PARAMS},
        )
        .select(REPAIR_COLUMNS)
        .sort(["asset", "date", "expiry"])
    )


def raw_params(params: pl.DataFrame) -> pl.DataFrame:
    """The unrepaired fit of a `fit_repaired_slices` frame, as a plain params frame."""
    return params.drop(*PARAMS).rename({f"{n}_raw": n for n in PARAMS})


def _empty_repaired(points: pl.DataFrame) -> pl.DataFrame:
    base = empty_params(points)
    extra = {"repaired": pl.Boolean, "repair_reason": pl.String, "rmse_vol_raw": pl.Float64,
             "max_abs_err_vol_raw": pl.Float64, "butterfly_min_g_raw": pl.Float64, "butterfly_min_g": pl.Float64,
             **{f"{n}_raw": pl.Float64 for n in PARAMS}}
    return base.with_columns(*(pl.lit(None, dtype=d).alias(c) for c, d in extra.items())).select(REPAIR_COLUMNS)


__all__ = ["REPAIR_COLUMNS", "butterfly_min_g", "fit_repaired_slices", "raw_params", "repair_arrays"]


def repair_summary(params: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(one row: slices repaired, their share, median RMSE before and after; repaired slices per
    reason): what the repair cost, for the arbitrage checks' metadata."""
    repaired = params.filter(pl.col("repaired")) if "repaired" in params.columns else params.clear()
    cost = repaired.select(
        pl.len().alias("slices_repaired"), (pl.len() / max(params.height, 1)).alias("share_repaired"),
        pl.col("rmse_vol_raw").median().alias("median_rmse_vol_raw"),
        pl.col("rmse_vol").median().alias("median_rmse_vol_repaired"),
    )
    return cost, repaired.group_by("repair_reason").len().sort("repair_reason")
