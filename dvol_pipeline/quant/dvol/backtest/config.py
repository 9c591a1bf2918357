"""Settings of the DVOL-futures backtest: one frozen, typed place for every number.

Contract model. By default (`contract=ListedFutures()`, listing.py) the backtest trades DVOL
futures as listed: a futures price at a basis to the index from the day's option term
structure, monthly expiries with a roll at the close before each, and no position before
the coin's listing day (BTC DVOL futures trade since March 2023). `contract=None` is the
index model: P&L = position x ΔDVOL from the first forecast, no basis, no roll, which
measures the value of the forecast of the index rather than of a tradable contract.

Units. One contract pays `multiplier_usd` per vol point (Deribit DVOL futures: USD 1 per
index point; check the current contract spec). A strategy trades "units" of
`contracts_per_unit` contracts (default 1,000, i.e. USD 1,000 per vol point, the size of
one VIX future), against `capital_usd` of capital per strategy and coin, used only to turn
USD P&L into returns for the statistics.

Default limits come from the size of a DVOL day, not from backtest results: daily ΔDVOL
has a std of about 3.4 (BTC) to 3.9 (ETH) points (MARKET_FACTS.md), so one unit moves about
USD 3,500 a day (~USD 19,000 over a month, ~USD 67,000 a year). Capital of USD 250,000
makes a full unit ~27 % annualised volatility; the daily stop sits near a 3-sigma day
(USD 10,000) and the kill-switch at a drawdown of about 1.3 months of sigma (USD 25,000,
10 % of capital).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dvol_pipeline.quant.dvol.backtest.costs import CostModel
from dvol_pipeline.quant.dvol.backtest.listing import ListedFutures
from dvol_pipeline.quant.evaluate.strategy import DEFAULT_CAPITAL_USD
from dvol_pipeline.quant.stats import PERIODS_PER_YEAR


@dataclass(frozen=True)
class ThresholdConfig:
    """tau for fold K is chosen on the P&L realised before K's first day (see threshold.py)."""

    grid_multiples: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
    """Candidate taus as multiples of the round-trip cost (1.0 = the cost floor)."""
    objective: str = "sharpe"  # "sharpe" (net, annualised) or "net" (total net P&L)
    min_insample_days: int = 60
    default_multiple: float = 1.0
    """With fewer past days than min_insample_days, tau = this multiple of the round trip
    (the cost floor: trade only forecasts that at least pay their costs)."""


@dataclass(frozen=True)
class RiskConfig:
    """Risk controls; each is off when its switch is False / its limit is None."""

    position_cap: float | None = 1.0
    """|position| <= cap units. Signals are ±1 unit, so the cap binds only below 1."""
    guardrail: bool = True
    guardrail_scale: float = 0.5
    guardrail_quantile: float = 0.95
    guardrail_lookback_days: int = 365
    guardrail_min_days: int = 60
    jump_column: str = "jump_1d"
    guardrail_funding: bool = True
    """Also scale down when |funding_mean| exceeds its trailing quantile."""
    daily_stop_usd: float | None = 10_000.0
    """A day whose net loss exceeds this makes the next day flat."""
    kill_drawdown_usd: float | None = 25_000.0
    """Drawdown from the running equity peak that turns the strategy flat ..."""
    kill_days: int | None = None
    """... for this many days, or (None) until the end of the fold the breach is seen in."""


@dataclass(frozen=True)
class RobustnessConfig:
    dvol_noise_sd: float = 0.5
    """Gaussian noise on each day's DVOL mark, vol points."""
    funding_noise_sd: float = 0.5
    """Gaussian noise on funding_mean (its unit: bp per 8 h)."""
    draws: int = 20
    seed: int = 7
    sweep_taus: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
    """Fixed taus (vol points) of the tau x cost-multiplier sweep."""


@dataclass(frozen=True)
class BacktestConfig:
    multiplier_usd: float = 1.0
    contracts_per_unit: float = 1_000.0
    capital_usd: float = DEFAULT_CAPITAL_USD
    annualization: int = PERIODS_PER_YEAR  # 365: crypto trades every day (quant/stats.py)
    costs: CostModel = field(default_factory=CostModel)
    thresholds: ThresholdConfig = field(default_factory=ThresholdConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    robustness: RobustnessConfig = field(default_factory=RobustnessConfig)
    cost_multipliers: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0)
    run_sweep: bool = True
    run_robustness: bool = True
    contract: ListedFutures | None = field(default_factory=ListedFutures)
    """The listed contract (basis, expiries, rolls, listing day); None: the index itself."""

    @property
    def usd_per_vol(self) -> float:
        """USD earned by one unit on a one-point DVOL move."""
        return self.multiplier_usd * self.contracts_per_unit
