"""Daily P&L attribution of a delta-hedged option book into greeks.

Why this split: it tells whether a day's P&L came from the view (vega), from realised
against implied variance (gamma + theta, the cost of carrying the position), or from a
hedge that was off (delta). Greeks are taken at the start of the day (yesterday's close)
from Black-76 on each option's own forward, mark IV and time left:

* delta = sum(qty Δ_i ΔF_i) + hedge x ΔF_ref, where ΔF_ref is the legs' forward change
  (|qty Δ|-weighted). The hedge really earns hedge x Δperp; the difference, the
  perpetual/forward basis move, is left to the residual on purpose.
* gamma = sum(0.5 qty Γ_i ΔF_i²)
* vega  = sum(qty ν_i Δσ_i), ν per vol point times the change in vol points (same thing)
* theta = sum(qty θ_i) x days elapsed, θ per calendar day = −σ² F² Γ / (2 x 365) (r = 0)

The caller sets residual = gross − (delta + gamma + vega + theta), so the parts add up to
the total exactly; the residual holds cross terms (vanna, volga), higher orders, the
basis, and marks that are not Black-76 at their own IV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dvol_pipeline.quant import black76

DAYS_PER_YEAR = 365.0


def theta_per_day(F, K, T, sigma, is_call=None) -> np.ndarray:
    """Black-76 time decay per calendar day in the forward's currency (r = 0)."""
    sigma = np.asarray(sigma, float)
    return -0.5 * sigma**2 * np.asarray(F, float) ** 2 * black76.gamma(F, K, T, sigma, is_call) / DAYS_PER_YEAR


@dataclass(frozen=True)
class Greeks:
    """Greek P&L of one day in USD (residual and costs are the caller's)."""

    delta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0

    @property
    def explained(self) -> float:
        return self.delta + self.gamma + self.vega + self.theta


def attribute(
    qty: np.ndarray, strike: np.ndarray, is_call: np.ndarray, years0: np.ndarray,
    fwd0: np.ndarray, fwd1: np.ndarray, iv0: np.ndarray, iv1: np.ndarray,
    days: float, hedge_coin: float, perp_move: float,
) -> Greeks:
    """Greek P&L of legs held from one close to the next (iv as decimals, fwd in USD)."""
    if qty.size == 0:
        return Greeks(delta=hedge_coin * perp_move)
    d = black76.delta(fwd0, strike, years0, iv0, is_call)
    g = black76.gamma(fwd0, strike, years0, iv0, is_call)
    v = black76.vega(fwd0, strike, years0, iv0, is_call)
    th = theta_per_day(fwd0, strike, years0, iv0, is_call)
    move = fwd1 - fwd0
    weight = np.abs(qty * d)
    ref = float(np.average(move, weights=weight)) if weight.sum() > 0 else float(np.mean(move))
    return Greeks(
        delta=float(np.sum(qty * d * move)) + hedge_coin * ref,
        gamma=float(np.sum(0.5 * qty * g * move**2)),
        vega=float(np.sum(qty * v * (iv1 - iv0))),
        theta=float(np.sum(qty * th)) * days,
    )
