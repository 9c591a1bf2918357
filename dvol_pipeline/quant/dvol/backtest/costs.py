"""Trading costs of DVOL futures, in vol points per contract.

Every component is charged on the units traded (|Δposition|), so a round trip of one unit
costs 2 x per_unit. `multiplier` scales all of it at once: the cost-sensitivity table and
the robustness sweep ask "what if every cost were m times what we assume?".
Default figures (documented guesses for Deribit BTC/ETH DVOL futures, a thin book):
taker fee ~0.05 % of a ~60-point notional = 0.03 points; half the quoted spread 0.25 points;
0.05 points of slippage per unit traded (1 unit = 1,000 contracts by default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CostModel:
    fee_vol: float = 0.03
    half_spread_vol: float = 0.25
    slippage_vol: float = 0.05
    impact_vol: float = 0.0
    """Extra slippage per unit traded for every unit traded: cost += impact_vol * |Δ|²
    (0 = slippage independent of trade size)."""
    multiplier: float = 1.0

    def __post_init__(self) -> None:
        values = (self.fee_vol, self.half_spread_vol, self.slippage_vol, self.impact_vol, self.multiplier)
        if min(values) < 0:
            raise ValueError(f"cost components and multiplier must be >= 0, got {self}")

    @property
    def per_unit(self) -> float:
        """Linear cost of trading one unit, vol points, multiplier included."""
        return (self.fee_vol + self.half_spread_vol + self.slippage_vol) * self.multiplier

    @property
    def round_trip(self) -> float:
        """Open and close one unit: the least a forecast must beat to pay for itself."""
        return 2.0 * self.per_unit



def trade_cost_vol(trade: np.ndarray, per_unit: np.ndarray | float, impact: np.ndarray | float) -> np.ndarray:
    """Cost in vol points of trading |trade| units: |Δ| x (per_unit + impact x |Δ|).

    `per_unit` and `impact` broadcast against `trade` (already multiplied by the cost multiplier).
    """
    size = np.abs(trade)
    return size * (per_unit + impact * size)


def traded_units(pos: np.ndarray, prev: np.ndarray, roll: np.ndarray | bool) -> np.ndarray:
    """Units traded at a close: |pos - prev|, or |prev| + |pos| where the position rolls into
    the next contract (the old one is closed and the new one opened)."""
    return np.where(roll, np.abs(prev) + np.abs(pos), np.abs(pos - prev))


def roll_trade_cost_vol(pos: np.ndarray, prev: np.ndarray, roll: np.ndarray | bool,
                        per_unit: np.ndarray | float, impact: np.ndarray | float) -> np.ndarray:
    """`trade_cost_vol` of the day's trade, with a roll paying for both legs."""
    plain = trade_cost_vol(pos - prev, per_unit, impact)
    rolled = trade_cost_vol(prev, per_unit, impact) + trade_cost_vol(pos, per_unit, impact)
    return np.where(roll, rolled, plain)
