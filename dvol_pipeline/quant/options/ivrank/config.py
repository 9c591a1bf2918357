"""Settings of the IV-rank strategies, their trades and their gate, in one frozen place.

Why these defaults: entries at 14–45 days to expiry (nearest 30) sell or buy a month of
implied vol without the last week's gamma; the textbook premium-selling exits (take 50 % of
the credit, stop at a loss of 2x the credit, leave at 7 days to expiry) bound how long a
short-vol trade stays exposed. The straddle is a debit: it exits at a gain of
`debit_profit_target` x the debit or a loss of `debit_stop` x the debit. Every exit is
decided on the mark-to-market P&L (marks, hedge included), never on costs, so a trade's
path is the same at every cost multiplier and net(m) = gross − m x unit cost exactly.

Strikes by Black-76 delta at each option's own mark IV (selection.py): short legs nearest
`short_delta`, wings nearest `wing_delta`. Each leg trades `notional_usd` / forward coins
(rounded to `qty_step`), so BTC and ETH trades carry comparable dollars.

Rule (rules.py): IV rank (`rank_column` of vol_regimes, known at the entry close) at or
above `high_rank` sells premium (put credit spread when the 25-delta risk reversal
`surf_rr25_30d` < `skew_put_rich` vol points: puts rich; call credit spread when above
`skew_call_rich`: calls rich; else the iron condor); at or below `low_rank` buys the
straddle; in between nothing.

Gate (gate.py): LightGBM, walk-forward by calendar month; the probability threshold of
month K is the grid value with the best mean net P&L of past out-of-sample rule trades
whose outcome was known before K (at least `min_taken` of them), or `default_threshold`
with fewer than `min_past_folds` such folds.
"""

from __future__ import annotations

from dataclasses import dataclass

from dvol_pipeline.quant.execution.options.config import (
    COST_MULTS,
    FALLBACK_HALF_SPREAD_FRAC,
    OPTION_FEE_CAP,
    OPTION_FEE_RATE,
    PERP_FEE_RATE,
    TICK,
)

IRON_CONDOR, PUT_SPREAD, CALL_SPREAD, LONG_STRADDLE = (
    "iron_condor", "put_credit_spread", "call_credit_spread", "long_straddle",
)
STRUCTURES: tuple[str, ...] = (IRON_CONDOR, PUT_SPREAD, CALL_SPREAD, LONG_STRADDLE)
"""Structure names; the index is `structure_code`."""
RULE, GATED, REGIME_SELECTION = "ivrank_rule", "ivrank_gated", "regime_selection"
STRATEGIES: tuple[str, ...] = (RULE, GATED, REGIME_SELECTION)


@dataclass(frozen=True)
class IVRankConfig:
    # entry
    entry_dte_min: float = 14.0
    entry_dte_max: float = 45.0
    entry_dte_target: float = 30.0
    short_delta: float = 0.20
    wing_delta: float = 0.10
    notional_usd: float = 100_000.0
    qty_step: float = 0.1
    # exits (on mark P&L)
    profit_target: float = 0.5
    stop_mult: float = 2.0
    debit_profit_target: float = 0.5
    debit_stop: float = 0.5
    dte_floor: float = 7.0
    hedge: bool = True
    # costs (Deribit; cost_mult scales every one linearly)
    option_fee_rate: float = OPTION_FEE_RATE
    option_fee_cap: float = OPTION_FEE_CAP
    perp_fee_rate: float = PERP_FEE_RATE
    fallback_half_spread_frac: float = FALLBACK_HALF_SPREAD_FRAC
    tick: float = TICK
    cost_mults: tuple[float, ...] = COST_MULTS
    # rule
    rank_column: str = "dvol_rank"
    high_rank: float = 0.7
    low_rank: float = 0.3
    skew_column: str = "surf_rr25_30d"
    skew_put_rich: float = -3.0
    skew_call_rich: float = 1.0
    # gate
    seed: int = 7
    num_threads: int = 1
    n_estimators: int = 80
    learning_rate: float = 0.05
    num_leaves: int = 7
    max_bin: int = 63
    min_child_samples: int = 40
    min_train: int = 300
    threshold_grid: tuple[float, ...] = tuple(round(0.30 + 0.025 * i, 3) for i in range(17))  # 0.30..0.70
    default_threshold: float = 0.5
    min_past_folds: int = 3
    min_taken: int = 20
    # regime selection
    min_regime_trades: int = 20
    # reporting
    capital_usd: float = 100_000.0  # per asset; Sharpe is on daily net / capital

    def __post_init__(self) -> None:
        if not 0 < self.dte_floor < self.entry_dte_min <= self.entry_dte_target <= self.entry_dte_max:
            raise ValueError(
                "need 0 < dte_floor < entry_dte_min <= entry_dte_target <= entry_dte_max, got "
                f"{self.dte_floor}, {self.entry_dte_min}, {self.entry_dte_target}, {self.entry_dte_max}"
            )
        if not 0 < self.wing_delta < self.short_delta < 0.5:
            raise ValueError(f"need 0 < wing_delta < short_delta < 0.5, got {self.wing_delta}, {self.short_delta}")
        if not 0 <= self.low_rank < self.high_rank <= 1:
            raise ValueError(f"need 0 <= low_rank < high_rank <= 1, got {self.low_rank}, {self.high_rank}")
        if min(self.profit_target, self.stop_mult, self.debit_profit_target, self.debit_stop) <= 0:
            raise ValueError("profit targets and stops must be positive")
        if self.skew_put_rich > self.skew_call_rich:
            raise ValueError(f"skew_put_rich {self.skew_put_rich} must not exceed skew_call_rich {self.skew_call_rich}")
        if self.notional_usd <= 0 or self.qty_step <= 0 or self.capital_usd <= 0:
            raise ValueError("notional_usd, qty_step and capital_usd must be positive")
        if self.rank_column not in ("dvol_rank", "dvol_pct", "iv30_pct"):
            raise ValueError(f"rank_column must be dvol_rank, dvol_pct or iv30_pct, not {self.rank_column!r}")

    @property
    def max_hold_days(self) -> int:
        """Holding days a trade can last at most (entry DTE max down to the floor, plus one)."""
        return int(self.entry_dte_max - self.dte_floor) + 2
