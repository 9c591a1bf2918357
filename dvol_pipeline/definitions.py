"""`defs`: the one object Dagster loads (workspace.yaml, `dagster dev`, the CLI)."""

from __future__ import annotations

import dagster as dg

from dvol_pipeline.alerts import alert_sensors
from dvol_pipeline.assets.backtest import backtest, model_promotion, tear_sheets
from dvol_pipeline.assets.features import features_daily
from dvol_pipeline.assets.forecasts import forecast_metrics, oos_predictions
from dvol_pipeline.assets.freshness import freshness_checks
from dvol_pipeline.assets.ivrank import ivrank
from dvol_pipeline.assets.paper import paper_book
from dvol_pipeline.assets.raw import raw_assets
from dvol_pipeline.assets.regimes import vol_regimes
from dvol_pipeline.assets.signals import signals
from dvol_pipeline.assets.surface import chain_greeks, option_surface
from dvol_pipeline.assets.universe import universe_assets
from dvol_pipeline.assets.warehouse import warehouse
from dvol_pipeline.jobs import daily_job, eod_job, freshness_check_job, monthly_job, raw_ingest_job, universe_job, warehouse_job
from dvol_pipeline.resources import LakeResource, MarketResource
from dvol_pipeline.schedules import schedules
from dvol_pipeline.sensors import landing_sensor
from dvol_pipeline.settings import executor_name


def executor_def() -> dg.ExecutorDefinition:
    """The executor `DVOL_EXECUTOR` names: in_process (default) or multiprocess (one process per step)."""
    return dg.multiprocess_executor if executor_name() == "multiprocess" else dg.in_process_executor


defs = dg.Definitions(
    assets=[
        *raw_assets, option_surface, chain_greeks, features_daily, vol_regimes, oos_predictions, forecast_metrics,
        backtest, model_promotion, ivrank, tear_sheets, signals, paper_book, warehouse, *universe_assets,
    ],
    asset_checks=freshness_checks,
    jobs=[raw_ingest_job, warehouse_job, daily_job, eod_job, monthly_job, freshness_check_job, universe_job],
    schedules=schedules,
    sensors=[landing_sensor, *alert_sensors],
    resources={"lake": LakeResource(), "market": MarketResource()},
    # in-process by default: a step here is seconds of work, a subprocess per step would add about as
    # much again; nothing is shared between steps, so `multiprocess_executor` works as well:
    # DVOL_EXECUTOR=multiprocess selects it (the production profile, README)
    executor=executor_def(),
)
