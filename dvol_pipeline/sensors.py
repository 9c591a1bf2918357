"""Sensors: new CryptoDataDownload files in landing/ trigger ingestion of the days they cover."""

import json
from datetime import date

import dagster as dg

from dvol_pipeline.resources import LakeResource
from dvol_pipeline.settings import HISTORY_START
from dvol_pipeline.sources.cdd.source import CddSource, plan_landing


@dg.sensor(
    name="landing_sensor",
    minimum_interval_seconds=60,
    asset_selection=dg.AssetSelection.groups("raw", "warehouse"),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="A new or changed CDD file in <lake>/landing ingests exactly the days it covers (source=cdd).",
)
def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    source = CddSource(lake.path / "landing")
    if not source.landing.is_dir():
        return dg.SkipReason(f"no landing folder at {source.landing}")
    plans, seen = plan_landing(source, json.loads(context.cursor or "{}"), date.fromisoformat(HISTORY_START))
    context.update_cursor(json.dumps(seen, sort_keys=True))
    if not plans:
        return dg.SkipReason("no new landing files")
    return [
        dg.RunRequest(
            run_key=f"{p.file}:{p.sha256[:16]}",
            asset_selection=[dg.AssetKey(p.table), dg.AssetKey("warehouse")],
            tags={
                "dagster/asset_partition_range_start": p.start.isoformat(),
                "dagster/asset_partition_range_end": p.end.isoformat(),
                "dvol/landing_file": p.file,
            },
            run_config={"resources": {"market": {"config": {"source": "cdd"}}}},
        )
        for p in plans
    ]
