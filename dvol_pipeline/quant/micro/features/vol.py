"""Vol group: realised volatility, the realised kernel, bipower variation and the BNS jump test.

All over trailing windows of log returns in bps; a window with a missing return is null.
"""

from __future__ import annotations

import math

import numpy as np

from .kernels import rolling_realised_kernel, rolling_sum
from .registry import RK_BANDWIDTH, W, W_L

MU1 = math.sqrt(2.0 / math.pi)
"""E|Z| for a standard normal Z."""
MU43 = 2.0 ** (2.0 / 3.0) * math.gamma(7.0 / 6.0) / math.gamma(0.5)
"""E|Z|^(4/3)."""
THETA = math.pi**2 / 4.0 + math.pi - 5.0
"""Asymptotic variance factor of the BNS ratio statistic."""


def bns_jump(r: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """RV, BV, jump share and the ratio z statistic over windows of n returns (Barndorff-Nielsen
    & Shephard 2006; the max(1, TQ/BV^2) form of Huang & Tauchen 2005)."""
    a = np.abs(r)
    rv = rolling_sum(r * r, n)
    prod = np.concatenate([[np.nan], a[1:] * a[:-1]])[: a.size]  # a series of one bar has no pair
    bv = MU1**-2 * n / (n - 1) * rolling_sum(prod, n - 1)
    a43 = a ** (4.0 / 3.0)
    trip = np.concatenate([[np.nan, np.nan], a43[2:] * a43[1:-1] * a43[:-2]])[: a.size]
    tq = n * MU43**-3 * n / (n - 2) * rolling_sum(trip, n - 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(rv > 0, (rv - bv) / rv, np.nan)
        z = rel / np.sqrt(THETA / n * np.maximum(1.0, tq / bv**2))
        share = np.where(rv > 0, np.maximum(rv - bv, 0.0) / rv, np.nan)
    return {"rv": rv, "bv": bv, "share": share, "z": z}


def vol_features(b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    r = b["ret_bps"]
    jump = bns_jump(r, W_L)
    rk = rolling_realised_kernel(r, W_L, RK_BANDWIDTH)
    return {
        "ret_bps": r,
        "rv_60": np.sqrt(rolling_sum(r * r, W)),
        "rv_300": np.sqrt(jump["rv"]),
        "rk_300": np.sqrt(np.maximum(rk, 0.0)),
        "bv_300": np.sqrt(jump["bv"]),
        "jump_share_300": jump["share"],
        "jump_z_300": jump["z"],
    }
