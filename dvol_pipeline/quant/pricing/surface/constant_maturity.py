"""Constant-maturity smiles, ATM term structure, risk reversal and butterfly.

Why constant maturity: listed expiries roll (a 30-day option is a 23-day option a week
later), so a feature read off "the front expiry" jumps every Friday. Interpolating the
fitted SVI slices to fixed tenors (7/30/60/90 days) gives series that only move when the
market does.

Rules (all per (date, asset), many days at once):

* total variance is interpolated linearly in T at fixed log-moneyness k between the last
  expiry at or before the tenor and the first after it (the standard rule; it keeps a
  calendar-arbitrage-free pair arbitrage-free). Beyond the listed expiries the implied
  vol at each k is held flat (flat annualised variance: w(k, tau) = w_end(k) tau / T_end);
* ATM means forward ATM, k = 0;
* 10/25-delta strikes use the undiscounted Black-76 forward delta (`quant.options.delta`, r = 0,
  the venue's convention for pricing on the forward), each evaluated with the smile's own
  vol at that strike, solved by vectorised bisection in k (monotone for arbitrage-free
  smiles; a target the smile cannot reach gives null);
* term-structure slope = ATM 90d - ATM 7d (vol points; > 0 is contango). A plain
  difference of the end tenors is robust and easy to read, where a regression slope
  over four points adds little;
* RR25 = iv(25C) - iv(25P) and BF25 = (iv(25C) + iv(25P)) / 2 - ATM, at 30 days.
All outputs are in vol points.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dvol_pipeline.quant.pricing.options import delta

from .svi import PARAMS, svi_total_variance

TENORS_DAYS = (7, 30, 60, 90)
DELTA_LABELS = ("10P", "25P", "ATM", "25C", "10C")
_DELTA_TARGETS = {"10P": (-0.10, False), "25P": (-0.25, False), "25C": (0.25, True), "10C": (0.10, True)}
BISECTION_STEPS = 55
GRID_COLUMNS = ["date", "asset", "tenor_days", "delta_label", "k", "iv"]
FEATURE_COLUMNS = [
    "date", "asset", "surf_atm_7d", "surf_atm_30d", "surf_atm_60d", "surf_atm_90d", "surf_term_slope",
    "surf_rr25_30d", "surf_bf25_30d", "surf_dvol_replica", "surf_replica_gap", "surf_fit_rmse", "surf_n_expiries",
]


class _Days:
    """Slices grouped per (asset, date), sorted by T, with each group's bracketing logic."""

    def __init__(self, params: pl.DataFrame):
        p = params.sort(["asset", "date", "T"])
        new = np.ones(p.height, bool)
        new[1:] = (p["asset"][1:] != p["asset"][:-1]).to_numpy() | (p["date"][1:] != p["date"][:-1]).to_numpy()
        self.start = np.flatnonzero(new)
        self.count = np.diff(np.append(self.start, p.height))
        self.T = p["T"].to_numpy().astype(float)
        self.cols = [p[c].to_numpy().astype(float) for c in PARAMS]
        self.keys = p.select("date", "asset")[self.start]

    def bracket(self, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(near, far) slice indices, shape (groups, tenors); -1 where that side is missing."""
        n_le = np.add.reduceat((self.T[:, None] <= tau[None, :]).astype(np.int64), self.start, axis=0)
        start, count = self.start[:, None], self.count[:, None]
        return np.where(n_le > 0, start + n_le - 1, -1), np.where(n_le < count, start + n_le, -1)

    def total_variance(self, k: np.ndarray, tau: np.ndarray, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        """w(k, tau) elementwise; near/far/tau broadcast against k."""

        def w_of(idx):
            j = np.maximum(idx, 0)
            return svi_total_variance(k, *(c[j] for c in self.cols))

        has_near, has_far = near >= 0, far >= 0
        t_near, t_far = self.T[np.maximum(near, 0)], self.T[np.maximum(far, 0)]
        both = has_near & has_far
        alpha = np.where(both, (t_far - tau) / np.where(both, t_far - t_near, 1.0), 0.0)
        w_near, w_far = w_of(near), w_of(far)
        interp = alpha * w_near + (1.0 - alpha) * w_far
        return np.where(both, interp, np.where(has_near, w_near * (tau / t_near), w_far * (tau / t_far)))


def _vol(w: np.ndarray, tau: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(w, 0.0) / tau)


def _solve_delta(days: _Days, tau, near, far, target, is_call, atm_w) -> np.ndarray:
    """k with Black-76 forward delta == target at the interpolated smile (bisection, all at once)."""
    half = np.maximum(10.0 * np.sqrt(np.maximum(atm_w, 1e-10)), 0.05)
    lo, hi = -half, half.copy()

    def f(k):
        vol = _vol(days.total_variance(k, tau, near, far), tau)
        return delta(1.0, np.exp(k), tau, vol, is_call) - target

    ok = (f(lo) > 0) & (f(hi) < 0)  # delta falls with strike in an arbitrage-free smile
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        above = f(mid) > 0
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return np.where(ok, 0.5 * (lo + hi), np.nan)


def surface_grid(params: pl.DataFrame, tenors_days=TENORS_DAYS) -> pl.DataFrame:
    """Constant-maturity smile points (date, asset, tenor_days, delta_label, k, iv in vol points)."""
    if params.height == 0:
        return _empty_grid(params)
    days = _Days(params)
    tenors = np.asarray(tenors_days, float)
    near, far = days.bracket(tenors / 365.0)  # (groups, tenors)
    shape = near.shape + (len(DELTA_LABELS),)
    tau = np.broadcast_to((tenors / 365.0)[None, :, None], shape)
    near, far = np.broadcast_to(near[..., None], shape), np.broadcast_to(far[..., None], shape)
    atm_w = days.total_variance(np.zeros(shape), tau, near, far)
    labels = np.array(DELTA_LABELS)
    target = np.array([_DELTA_TARGETS.get(x, (0.0, True))[0] for x in labels])
    is_call = np.array([_DELTA_TARGETS.get(x, (0.0, True))[1] for x in labels])
    k = _solve_delta(days, tau, near, far, np.broadcast_to(target, shape), np.broadcast_to(is_call, shape), atm_w)
    k[..., labels == "ATM"] = 0.0
    iv = 100.0 * _vol(days.total_variance(np.nan_to_num(k), tau, near, far), tau)
    iv = np.where(np.isfinite(k), iv, np.nan)
    n_groups, n_tenors, n_labels = shape
    return (
        days.keys[np.repeat(np.arange(n_groups), n_tenors * n_labels)]
        .with_columns(
            tenor_days=pl.Series(np.tile(np.repeat(np.asarray(tenors_days), n_labels), n_groups), dtype=pl.Int32),
            delta_label=pl.Series(np.tile(labels, n_groups * n_tenors)),
            k=pl.Series(k.ravel()).fill_nan(None),
            iv=pl.Series(iv.ravel()).fill_nan(None),
        )
        .select(GRID_COLUMNS)
    )


def surface_features(params: pl.DataFrame, grid: pl.DataFrame, replica: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per (date, asset): the `FEATURE_COLUMNS` (vol points).

    `replica` (date, asset, replica) supplies the chain's DVOL replica; without it the two
    replica columns are null.
    """
    if params.height == 0:
        return _empty_features(params)
    wide = grid.with_columns(name=pl.format("{}_{}", pl.col("delta_label"), pl.col("tenor_days"))).pivot(
        on="name", index=["date", "asset"], values="iv"
    )
    for c in ["ATM_7", "ATM_30", "ATM_60", "ATM_90", "25C_30", "25P_30"]:
        if c not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(c))
    # the mean goes through a per-group list in expiry order: a day's value must not depend
    # on how many other days share the frame (polars may split a long group's sum)
    fit = (
        params.sort("date", "asset", "expiry")
        .group_by("date", "asset", maintain_order=True)
        .agg(surf_fit_rmse=pl.col("rmse_vol"), surf_n_expiries=pl.len().cast(pl.UInt32))
        .with_columns(surf_fit_rmse=pl.col("surf_fit_rmse").list.eval(pl.element().sum()).list.first()
                      * (1.0 / pl.col("surf_n_expiries").cast(pl.Float64)))
    )
    if replica is None:
        replica = pl.DataFrame(schema={"date": params.schema["date"], "asset": pl.String, "replica": pl.Float64})
    return (
        wide.select(
            "date",
            "asset",
            surf_atm_7d="ATM_7",
            surf_atm_30d="ATM_30",
            surf_atm_60d="ATM_60",
            surf_atm_90d="ATM_90",
            surf_term_slope=pl.col("ATM_90") - pl.col("ATM_7"),
            surf_rr25_30d=pl.col("25C_30") - pl.col("25P_30"),
            surf_bf25_30d=(pl.col("25C_30") + pl.col("25P_30")) * 0.5 - pl.col("ATM_30"),
        )
        .join(replica.select("date", "asset", surf_dvol_replica="replica"), on=["date", "asset"], how="left")
        .with_columns(surf_replica_gap=pl.col("surf_dvol_replica") - pl.col("surf_atm_30d"))
        .join(fit, on=["date", "asset"], how="left")
        .select(FEATURE_COLUMNS)
        .sort(["asset", "date"])
    )


def _empty_grid(params: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame(
        schema={"date": params.schema.get("date", pl.Date), "asset": pl.String, "tenor_days": pl.Int32,
                "delta_label": pl.String, "k": pl.Float64, "iv": pl.Float64}
    )


def _empty_features(params: pl.DataFrame) -> pl.DataFrame:
    schema = {c: pl.Float64 for c in FEATURE_COLUMNS}
    schema.update(date=params.schema.get("date", pl.Date), asset=pl.String, surf_n_expiries=pl.UInt32)
    return pl.DataFrame(schema={c: schema[c] for c in FEATURE_COLUMNS})
