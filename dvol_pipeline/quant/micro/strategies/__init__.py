"""The micro lane's three mean-reversion strategies and their metrics (docs/micro/strategies.md)."""

from .common import BAR_PNL_COLUMNS, TRADE_COLUMNS, StrategyRun, default_cost_fn, simple_cost_fn, strategy_frame
from .funding_basis import FundingBasisConfig
from .mean_reversion import MeanReversionConfig
from .metrics import METRIC_COLUMNS, daily_returns, strategy_metrics_table
from .microstructure import MicroConfig

__all__ = ["BAR_PNL_COLUMNS", "METRIC_COLUMNS", "TRADE_COLUMNS", "FundingBasisConfig", "MeanReversionConfig",
           "MicroConfig", "StrategyRun", "daily_returns", "default_cost_fn", "simple_cost_fn", "strategy_frame",
           "strategy_metrics_table"]
