"""The landing sensor: a new CDD file ingests exactly the days it covers, once."""

from __future__ import annotations

import json
from datetime import timedelta

import dagster as dg

from dvol_pipeline.definitions import defs
from dvol_pipeline.resources import LakeResource
from dvol_pipeline.sensors import landing_sensor
from dvol_pipeline_tests.cdd_files import T0, price_rows, write_dvol_file, write_price_file


def _tick(lake, cursor=None):
    context = dg.build_sensor_context(cursor=cursor, resources={"lake": LakeResource(root=str(lake))})
    result = landing_sensor(context)
    return result, context.cursor


def test_a_new_file_requests_exactly_its_days_and_only_once(lake):
    landing = lake / "landing"
    landing.mkdir()
    write_dvol_file(landing / "BTC_DVOL_d.csv", "BTC", T0, 10)
    requests, cursor = _tick(lake)
    assert len(requests) == 1
    req = requests[0]
    assert req.tags["dagster/asset_partition_range_start"] == "2024-01-01"
    assert req.tags["dagster/asset_partition_range_end"] == "2024-01-09"  # the 10th is partial
    assert req.asset_selection == [dg.AssetKey("raw_dvol"), dg.AssetKey("warehouse")]
    assert req.run_config["resources"]["market"]["config"]["source"] == "cdd"
    assert "BTC_DVOL_d.csv" in json.loads(cursor)

    again, cursor = _tick(lake, cursor)
    assert isinstance(again, dg.SkipReason)

    write_price_file(landing / "Binance_ETHUSDT_1h.csv", price_rows("ETH", T0 + timedelta(days=3), 30, timedelta(hours=1)))
    requests, cursor = _tick(lake, cursor)
    assert [(r.asset_selection[0].path[-1], r.tags["dagster/asset_partition_range_start"],
             r.tags["dagster/asset_partition_range_end"]) for r in requests] == [("raw_ohlcv", "2024-01-04", "2024-01-05")]


def test_the_requested_run_ingests_from_cdd(lake):
    landing = lake / "landing"
    landing.mkdir()
    write_dvol_file(landing / "ETH_DVOL_d.csv", "ETH", T0, 6)
    (req,), _ = _tick(lake)
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.ephemeral() as instance:
        run_config = {"resources": {**req.run_config["resources"], "lake": {"config": {"root": str(lake)}}}}
        result = job.execute_in_process(
            instance=instance, asset_selection=req.asset_selection, tags=req.tags, run_config=run_config
        )
    assert result.success
    assert sorted(p.name for p in (lake / "raw" / "raw_dvol" / "asset=ETH").iterdir()) == [
        f"date=2024-01-0{d}" for d in range(1, 6)
    ]
    assert (lake / "warehouse.duckdb").exists()
