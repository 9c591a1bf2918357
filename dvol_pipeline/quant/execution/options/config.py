"""Settings of the delta-hedged option backtest, in one typed, frozen place.

Sizing (why these numbers): one straddle is 1 call + 1 put of `straddle_qty` coins each,
the natural Deribit unit (1 contract = 1 coin); `straddle_notional_usd` instead sizes each
leg to that USD notional of the forward (rounded to `qty_step`), so BTC and ETH books carry
comparable dollars. An iron condor has a much smaller worst
case per unit than a straddle, so by default (`condor_sizing="equal_max_loss"`) it is
scaled until its max loss, (widest wing − net credit) x qty, equals the premium the
straddle of the same day and expiry would have put at risk; the two sides of the signal
then risk comparable dollars. `condor_sizing="fixed"` uses `condor_qty` instead.

Strikes: the straddle sits at the strike nearest the expiry's forward; the condor sells
the put and the call whose Black-76 delta (at their own mark IV) is nearest
`condor_short_delta` (±20 %) and buys wings further out nearest `condor_wing_delta` (±10 %).

Costs (Deribit): options 0.03 % of the underlying per contract capped at 12.5 % of the
option price; perpetual taker 0.05 % of notional; delivery 0.015 % capped at 12.5 % of the
settlement value. `cost_mult` scales every cost linearly: prices move away from mark by
`cost_mult` x the quoted half-spread and every fee is `cost_mult` x the venue fee.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

COST_MULTS = (0.5, 1.0, 1.5, 2.0, 3.0)
# Deribit's fees and tick (MARKET_FACTS.md), the one place every option lane reads them from
OPTION_FEE_RATE = 0.0003  # of the underlying per contract
OPTION_FEE_CAP = 0.125  # at most this share of the option's price
PERP_FEE_RATE = 0.0005  # taker, of notional
SETTLEMENT_FEE_RATE = 0.00015
FALLBACK_HALF_SPREAD_FRAC = 0.10  # of mark, when neither side is quoted
TICK = 0.0001  # coin


def round_to_step(qty: float, step: float) -> float:
    """Nearest multiple of `step`, at least one step (a position is never sized to zero)."""
    return max(step, round(round(qty / step) * step, 10))


@dataclass(frozen=True)
class OptionBacktestConfig:
    # structure and sizing
    straddle_qty: float = 1.0
    straddle_notional_usd: float | None = None  # when set, overrides straddle_qty per day
    condor_sizing: Literal["equal_max_loss", "fixed"] = "equal_max_loss"
    condor_qty: float = 1.0
    qty_step: float = 0.1  # Deribit's minimum BTC option size; condor sizes round to it
    condor_short_delta: float = 0.20
    condor_wing_delta: float = 0.10
    # expiry choice and roll
    dte_min: float = 7.0  # open only at DTE >= dte_min, roll once the held expiry is below it
    dte_max: float = 21.0
    dte_target: float = 14.0
    hedge: bool = True  # delta-hedge daily with the perpetual
    close_at_end: bool = True  # pay the exit spread on the last day, so P&L is realisable
    # costs
    option_fee_rate: float = OPTION_FEE_RATE
    option_fee_cap: float = OPTION_FEE_CAP
    perp_fee_rate: float = PERP_FEE_RATE
    settlement_fee_rate: float = SETTLEMENT_FEE_RATE
    cost_mult: float = 1.0
    cost_mults: tuple[float, ...] = COST_MULTS
    fallback_half_spread_frac: float = FALLBACK_HALF_SPREAD_FRAC
    tick: float = TICK  # the smallest fallback half-spread
    # reporting
    capital_usd: float = 100_000.0  # per asset; Sharpe is on net_usd / capital_usd
    family: str = "unknown"  # pass-through labels of the forecast behind the signal
    horizon: int = 0

    def straddle_units(self, forward: float) -> float:
        """Coins per straddle leg at this forward."""
        if self.straddle_notional_usd is None:
            return self.straddle_qty
        return round_to_step(self.straddle_notional_usd / forward, self.qty_step)

    def __post_init__(self) -> None:
        if not 0 <= self.dte_min <= self.dte_target <= self.dte_max:
            raise ValueError(
                f"need 0 <= dte_min <= dte_target <= dte_max, got {self.dte_min}, {self.dte_target}, {self.dte_max}"
            )
        if not 0 < self.condor_wing_delta < self.condor_short_delta < 0.5:
            raise ValueError(
                "need 0 < condor_wing_delta < condor_short_delta < 0.5 (wings further out than the short strikes), "
                f"got wing {self.condor_wing_delta}, short {self.condor_short_delta}"
            )
        if self.straddle_qty <= 0 or self.condor_qty <= 0 or self.qty_step <= 0:
            raise ValueError("straddle_qty, condor_qty and qty_step must be positive")
        if self.straddle_notional_usd is not None and self.straddle_notional_usd <= 0:
            raise ValueError(f"straddle_notional_usd must be positive, got {self.straddle_notional_usd}")
        if self.cost_mult < 0 or any(m < 0 for m in self.cost_mults):
            raise ValueError("cost multipliers must be >= 0")
        if self.capital_usd <= 0:
            raise ValueError(f"capital_usd must be positive, got {self.capital_usd}")
        if self.condor_sizing not in ("equal_max_loss", "fixed"):
            raise ValueError(f"condor_sizing must be 'equal_max_loss' or 'fixed', not {self.condor_sizing!r}")
