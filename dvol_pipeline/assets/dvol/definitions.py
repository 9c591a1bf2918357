"""The dvol lane's Definitions: features, regimes, walk-forward forecasts, the futures backtest
and promotion, end-of-day signals and the paper book."""

import dagster as dg

from dvol_pipeline.assets.dvol.backtest import backtest, model_promotion
from dvol_pipeline.assets.dvol.features import features_daily
from dvol_pipeline.assets.dvol.forecasts import forecast_metrics, oos_predictions
from dvol_pipeline.assets.dvol.paper import paper_book
from dvol_pipeline.assets.dvol.regimes import vol_regimes
from dvol_pipeline.assets.dvol.signals import signals

defs = dg.Definitions(
    assets=[features_daily, vol_regimes, oos_predictions, forecast_metrics, backtest, model_promotion, signals, paper_book],
)
