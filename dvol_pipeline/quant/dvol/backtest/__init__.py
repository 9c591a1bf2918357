"""Cost-aware DVOL-futures backtest of the walk-forward forecasts, its statistics, model
promotion and robustness checks. Pure functions over polars frames (no Dagster, no lake IO)."""

from dvol_pipeline.quant.dvol.backtest.config import BacktestConfig, RiskConfig, RobustnessConfig, ThresholdConfig
from dvol_pipeline.quant.dvol.backtest.costs import CostModel
from dvol_pipeline.quant.dvol.backtest.futures import BacktestResult, run_futures_backtest
from dvol_pipeline.quant.dvol.backtest.listing import ListedFutures
from dvol_pipeline.quant.dvol.backtest.positions import Panel, build_panel, signals, simulate, staggered
from dvol_pipeline.quant.dvol.backtest.promotion import promote
from dvol_pipeline.quant.dvol.backtest.risk import jump_days, market_flags
from dvol_pipeline.quant.dvol.backtest.robustness import noise_injection, tau_cost_sweep
from dvol_pipeline.quant.evaluate.daily_frame import DAILY_SCHEMA, FUTURES_DAILY_SCHEMA, validate_daily
from dvol_pipeline.quant.evaluate.strategy import by_regime, by_year, strategy_metrics
from dvol_pipeline.quant.dvol.backtest.threshold import select_taus, thresholds_frame

__all__ = [
    "DAILY_SCHEMA", "FUTURES_DAILY_SCHEMA", "BacktestConfig", "BacktestResult", "CostModel", "ListedFutures", "Panel",
    "RiskConfig",
    "RobustnessConfig", "ThresholdConfig", "build_panel", "by_regime", "by_year", "jump_days", "market_flags",
    "noise_injection", "promote", "run_futures_backtest", "select_taus", "signals", "simulate", "staggered",
    "strategy_metrics", "tau_cost_sweep", "thresholds_frame", "validate_daily",
]
