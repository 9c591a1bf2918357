"""Daily P&L attribution of a delta-hedged option book into greeks.

Why this split: it tells whether a day's P&L came from the view (vega), from realised
against implied variance (gamma + theta, the cost of carrying the position), or from a
hedge that was off (delta). Greeks are taken at the start of the day (yesterday's close)
from Black-76 on each option's own forward, mark IV and time left:

* delta = sum(qty Δ_i ΔF_i) + hedge x ΔF_ref, where ΔF_ref is the legs' forward change
  (|qty Δ|-weighted). The hedge really earns hedge x Δperp; the difference, the
  perpetual/forward basis move, is left to the residual on purpose.
* gamma = sum(0.5 qty Γ_i ΔF_i²)
* vega  = sum(qty ν_i Δσ_i), ν per vol point times the change in vol points
* theta = sum(qty θ_i), θ_i = `exchange_theta` over the days elapsed (Deribit's ticker
  convention): the analytic rate −σ² F² Γ / (2 x 365) (`theta_per_day`) times the days
  elapsed, or the days left to expiry if fewer, and never more than the leg's whole value.
  The bare rate overstates a leg's last day many times over: within a day of expiry the
  time left, not a whole day, is what passes, and no option loses more than it is worth.

Delta, gamma and vega come from one `quant.options.greeks` pass (vega per vol point).

The caller sets residual = gross − (delta + gamma + vega + theta), so the parts add up to
the total exactly; the residual holds cross terms (vanna, volga), higher orders, the
basis, and marks that are not Black-76 at their own IV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dvol_pipeline.quant.pricing.options import VOL_POINT, exchange_theta, exchange_theta_from, greeks


def theta_per_day(F, K, T, sigma, is_call=True) -> np.ndarray:
    """The analytic Black-76 decay rate per calendar day (r = 0): `greeks().theta`, -dV/dT / 365."""
    return greeks(F, K, T, sigma, is_call).theta


def theta_exchange(F, K, T, sigma, is_call=True, days: float = 1.0) -> np.ndarray:
    """Theta over `days` calendar days by Deribit's convention (r = 0): `exchange_theta`."""
    return exchange_theta(F, K, T, sigma, is_call, days=days)


@dataclass(frozen=True)
class GreekPnL:
    """Greek P&L of one day in USD (residual and costs are the caller's).

    Not `quant.options.Greeks` (sensitivities of one option): these are money amounts.
    """

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
) -> GreekPnL:
    """Greek P&L of legs held from one close to the next (iv as decimals, fwd in USD)."""
    if qty.size == 0:
        return GreekPnL(delta=hedge_coin * perp_move)
    parts = attribute_rows(qty, strike, is_call, years0, fwd0, fwd1, iv0, iv1, days, hedge_coin)
    return GreekPnL(*(float(p) for p in parts))


def attribute_rows(
    qty: np.ndarray, strike: np.ndarray, is_call: np.ndarray, years0: np.ndarray,
    fwd0: np.ndarray, fwd1: np.ndarray, iv0: np.ndarray, iv1: np.ndarray,
    days, hedge_coin,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(delta, gamma, vega, theta) USD of many books at once: legs on the last axis, one book per
    leading index (`days` and `hedge_coin` broadcast to the leading shape); a leg with qty 0 is
    no leg. The same formulas as `attribute` (module doc), which is this with one book."""
    qty = np.asarray(qty, float)
    years0 = np.maximum(np.asarray(years0, float), 1e-12)
    g = greeks(fwd0, strike, years0, iv0, is_call)
    move = np.asarray(fwd1, float) - np.asarray(fwd0, float)
    weight = np.abs(qty * g.delta)
    held = qty != 0
    w_sum = weight.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_move = np.where(held, move, 0.0).sum(axis=-1) / np.maximum(held.sum(axis=-1), 1)
        ref = np.where(w_sum > 0, (weight * move).sum(axis=-1) / np.where(w_sum > 0, w_sum, 1.0), mean_move)
    days = np.expand_dims(np.asarray(days, float), -1)
    return (
        np.sum(qty * g.delta * move, axis=-1) + np.asarray(hedge_coin, float) * ref,
        np.sum(0.5 * qty * g.gamma * move**2, axis=-1),
        np.sum(qty * g.vega * ((np.asarray(iv1, float) - np.asarray(iv0, float)) / VOL_POINT), axis=-1),  # per point
        np.sum(qty * exchange_theta_from(g.theta, g.price, years0, days), axis=-1),
    )
