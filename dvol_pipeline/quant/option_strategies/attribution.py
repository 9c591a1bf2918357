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
* theta = sum(qty θ_i), θ_i = `exchange_theta` over the days elapsed: the value the option
  loses as those days pass at an unchanged forward and vol, to expiry if sooner (Deribit's
  ticker convention). The analytic rate −σ² F² Γ / (2 x 365) (`theta_per_day`, kept for
  reference) overstates a leg's last day many times over: it is a rate, and within a day of
  expiry the value left to lose is far smaller than a day at that rate.

Delta, gamma and vega come from one `quant.options.greeks` pass (vega per vol point).

The caller sets residual = gross − (delta + gamma + vega + theta), so the parts add up to
the total exactly; the residual holds cross terms (vanna, volga), higher orders, the
basis, and marks that are not Black-76 at their own IV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dvol_pipeline.quant.options import VOL_POINT, exchange_theta, greeks


def theta_per_day(F, K, T, sigma, is_call=True) -> np.ndarray:
    """The analytic Black-76 decay rate per calendar day (r = 0): `greeks().theta`, -dV/dT / 365."""
    return greeks(F, K, T, sigma, is_call).theta


def theta_exchange(F, K, T, sigma, is_call=True, days: float = 1.0) -> np.ndarray:
    """Value lost over `days` calendar days (to expiry if sooner), Deribit's convention (r = 0)."""
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
    g = greeks(fwd0, strike, years0, iv0, is_call)
    move = fwd1 - fwd0
    weight = np.abs(qty * g.delta)
    ref = float(np.average(move, weights=weight)) if weight.sum() > 0 else float(np.mean(move))
    return GreekPnL(
        delta=float(np.sum(qty * g.delta * move)) + hedge_coin * ref,
        gamma=float(np.sum(0.5 * qty * g.gamma * move**2)),
        vega=float(np.sum(qty * g.vega * ((iv1 - iv0) / VOL_POINT))),  # vega per point x points moved
        theta=float(np.sum(qty * theta_exchange(fwd0, strike, years0, iv0, is_call, days))),
    )
