"""The dvol lane's run configs in the launchpad: the walk-forward and the futures backtest."""

from dvol_pipeline.assets.config import config_class, to_quant
from dvol_pipeline.quant.dvol.backtest import BacktestConfig
from dvol_pipeline.quant.learn.folds import WalkForwardConfig

WalkForwardRunConfig = config_class(WalkForwardConfig)
BacktestRunConfig = config_class(BacktestConfig)

__all__ = ["BacktestRunConfig", "WalkForwardRunConfig", "to_quant"]
