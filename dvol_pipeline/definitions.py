"""`defs`: the one object Dagster loads (workspace.yaml, `dagster dev`, the CLI).

Each lane keeps its own Definitions in `assets/<lane>/definitions.py`; this module merges
them with what every lane shares (raw tables, the warehouse, the desk tear sheet, the
freshness checks, jobs, schedules, sensors, resources). Adding a lane is one line here.
"""

from __future__ import annotations

import dagster as dg

from dvol_pipeline.alerts import alert_sensors
from dvol_pipeline.assets.dvol import definitions as dvol
from dvol_pipeline.assets.freshness import freshness_checks
from dvol_pipeline.assets.micro import definitions as micro
from dvol_pipeline.assets.options import definitions as options
from dvol_pipeline.assets.raw import raw_assets
from dvol_pipeline.assets.tearsheet import tear_sheets
from dvol_pipeline.assets.universe import definitions as universe
from dvol_pipeline.assets.warehouse import warehouse
from dvol_pipeline.jobs import (
    daily_job,
    eod_job,
    freshness_check_job,
    micro_job,
    monthly_job,
    raw_ingest_job,
    universe_job,
    warehouse_job,
)
from dvol_pipeline.resources import LakeResource, MarketResource
from dvol_pipeline.schedules import schedules
from dvol_pipeline.sensors import landing_sensor
from dvol_pipeline.executors import executor_def

LANE_DEFS = {"dvol": dvol.defs, "options": options.defs, "universe": universe.defs, "micro": micro.defs}
"""Each lane's Definitions by the lane's name (quant/lanes.py names them too): `run` leaves out the
assets of a lane whose inputs are absent."""
LANES = tuple(LANE_DEFS.values())


def shared_definitions() -> dg.Definitions:
    """What every lane shares (a function: Dagster allows one Definitions object at module scope)."""
    return dg.Definitions(
        assets=[*raw_assets, tear_sheets, warehouse],
        asset_checks=freshness_checks,
        jobs=[raw_ingest_job, warehouse_job, daily_job, eod_job, monthly_job, freshness_check_job, universe_job,
              micro_job],
        schedules=schedules,
        sensors=[landing_sensor, *alert_sensors],
        resources={"lake": LakeResource(), "market": MarketResource()},
        # in-process by default: a step here is seconds of work, a subprocess per step would add about as
        # much again; nothing is shared between steps, so other executors work as well:
        # DVOL_EXECUTOR=multiprocess | celery | k8s selects one (executors.py, docs/operations.md)
        executor=executor_def(),
    )


defs = dg.Definitions.merge(shared_definitions(), *LANES)
