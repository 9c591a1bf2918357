"""Schedules ask for the right partitions, and the runs they ask for do the whole day's work."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from itertools import islice

import dagster as dg
import pytest
from dagster._utils.schedules import schedule_execution_time_iterator

from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.definitions import defs
from dvol_pipeline.partitions import fold_partitions
from dvol_pipeline.schedules import closed_day, eod_schedule, freshness_schedule, monthly_schedule


def _tick(schedule, when: datetime) -> list[dg.RunRequest]:
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(  # with the repository, a partition key is validated too
            instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def())
        return list(schedule.evaluate_tick(context).run_requests or [])


def _next_ticks(schedule, after: datetime, n: int = 2) -> list[datetime]:
    """The schedule's next `n` ticks strictly after `after`, as the Dagster daemon computes them."""
    ticks = schedule_execution_time_iterator(after.timestamp(), schedule.cron_schedule, schedule.execution_timezone)
    return list(islice((t for t in ticks if t > after), n))


def test_the_end_of_day_tick_asks_for_the_day_that_just_closed():
    (req,) = _tick(eod_schedule, datetime(2024, 6, 4, 0, 30, tzinfo=UTC))
    assert req.partition_key == "2024-06-03"
    assert req.run_key == "eod:2024-06-03"  # a retried tick never launches the day twice
    assert req.tags["dvol/trigger"] == "eod_schedule"
    assert eod_schedule.job_name == "eod_job"


@pytest.mark.parametrize(
    "after, ticks, days",
    [
        # the tick comes half an hour after the UTC cut-off, once a day, and asks for the day that closed
        (datetime(2024, 6, 3, 12, 0, tzinfo=UTC), [datetime(2024, 6, 4, 0, 30, tzinfo=UTC),
                                                   datetime(2024, 6, 5, 0, 30, tzinfo=UTC)], ["2024-06-03", "2024-06-04"]),
        (datetime(2024, 6, 4, 0, 30, tzinfo=UTC), [datetime(2024, 6, 5, 0, 30, tzinfo=UTC),
                                                   datetime(2024, 6, 6, 0, 30, tzinfo=UTC)], ["2024-06-04", "2024-06-05"]),
        # a leap day gets its own tick and run; the clock is UTC whatever zone `after` is given in
        (datetime(2024, 2, 29, 1, 30, tzinfo=timezone(timedelta(hours=2))),
         [datetime(2024, 2, 29, 0, 30, tzinfo=UTC), datetime(2024, 3, 1, 0, 30, tzinfo=UTC)], ["2024-02-28", "2024-02-29"]),
    ],
)
def test_the_end_of_day_ticks_come_daily_after_the_cut_off_for_each_closed_day(after, ticks, days):
    assert _next_ticks(eod_schedule, after) == ticks
    assert [req.partition_key for t in ticks for req in _tick(eod_schedule, t)] == days


@pytest.mark.parametrize(
    "when, day",
    [
        (datetime(2024, 6, 4, 23, 59, tzinfo=UTC), "2024-06-03"),  # 06-04 is still open: never asked for
        (datetime(2024, 6, 4, 0, 0, tzinfo=UTC), "2024-06-03"),  # the cut-off instant closes 06-03
        (datetime(2024, 3, 1, 0, 30, tzinfo=UTC), "2024-02-29"),
        (datetime(2024, 6, 4, 1, 30, tzinfo=timezone(timedelta(hours=2))), "2024-06-02"),  # 23:30 UTC on 06-03
    ],
)
def test_a_tick_at_any_time_never_requests_the_open_day(when, day):
    assert closed_day(when).isoformat() == day
    (req,) = _tick(eod_schedule, when)
    assert req.partition_key == day


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="no timezone"):
        closed_day(datetime(2024, 6, 4, 0, 30))


def test_the_monthly_tick_completes_the_closed_fold_and_trains_the_new_one_in_one_run():
    tick = datetime(2024, 7, 1, 1, 0, tzinfo=UTC)
    (req,) = _tick(monthly_schedule, tick)
    assert req.partition_key is None
    assert (req.tags["dagster/asset_partition_range_start"], req.tags["dagster/asset_partition_range_end"]) == (
        "2024-06", "2024-07")
    assert req.run_key == "monthly:2024-06..2024-07"
    assert monthly_schedule.job_name == "monthly_job"
    # the run comes once a month, on the 1st at 01:00 UTC: the tick above is the next one after mid-June
    assert _next_ticks(monthly_schedule, datetime(2024, 6, 15, tzinfo=UTC)) == [
        tick, datetime(2024, 8, 1, 1, 0, tzinfo=UTC)]
    # both folds exist at that moment (the current month is a fold: end_offset=1)
    assert fold_partitions.get_partition_keys(current_time=tick)[-2:] == ["2024-06", "2024-07"]
    (jan_tick,) = _next_ticks(monthly_schedule, datetime(2024, 12, 1, 1, 0, tzinfo=UTC), n=1)
    assert jan_tick == datetime(2025, 1, 1, 1, 0, tzinfo=UTC)
    (jan,) = _tick(monthly_schedule, jan_tick)  # across the year end
    assert (jan.tags["dagster/asset_partition_range_start"], jan.tags["dagster/asset_partition_range_end"]) == (
        "2024-12", "2025-01")


def test_the_first_fold_has_no_closed_fold_before_it():
    (req,) = _tick(monthly_schedule, datetime(2022, 4, 1, 1, 0, tzinfo=UTC))
    assert req.partition_key == "2022-04" and "dagster/asset_partition_range_start" not in req.tags


def test_everything_is_registered_and_nothing_starts_by_itself():
    repo = defs.get_repository_def()
    assert {s.name for s in repo.schedule_defs} == {"eod_schedule", "monthly_schedule", "freshness_schedule"}
    assert all(s.default_status == dg.DefaultScheduleStatus.STOPPED for s in repo.schedule_defs)
    jobs = {j.name: j for j in repo.get_all_jobs()}
    assert {"eod_job", "monthly_job", "freshness_check_job", "raw_ingest_job", "warehouse_job"} <= set(jobs)
    assert jobs["eod_job"].partitions_def.get_serializable_unique_identifier() == (
        repo.assets_defs_by_key[dg.AssetKey("raw_dvol")].partitions_def.get_serializable_unique_identifier())
    assert jobs["monthly_job"].partitions_def.get_serializable_unique_identifier() == (
        fold_partitions.get_serializable_unique_identifier())
    assert jobs["freshness_check_job"].partitions_def is None
    # the data jobs do not drag the freshness checks (judged against today) into backfills
    assert "raw_freshness_checks" not in jobs["eod_job"].graph.node_dict
    assert "raw_freshness_checks" not in jobs["raw_ingest_job"].graph.node_dict


def test_the_eod_run_builds_the_day_and_refreshes_the_warehouse_in_the_same_run(lake, toy):
    """An unpartitioned asset (warehouse) rides along in a daily-partitioned job's run."""
    (req,) = _tick(eod_schedule, datetime(2024, 3, 3, 0, 30, tzinfo=UTC))
    job = defs.resolve_job_def("eod_job")
    # signals need a promoted model (the monthly job's); this lake has none, see the next test
    # (and the paper book trades the signals: dvol_pipeline_tests/pipeline/dvol/test_paper.py)
    selection = [k for k in job.asset_layer.executable_asset_keys
                 if k.path[-1] != "signals" and not k.path[-1].startswith("paper_")]
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance, partition_key=req.partition_key, tags=req.tags, asset_selection=selection,
            run_config={"resources": {"market": {"config": {"source": "toy"}}, "lake": {"config": {"root": str(lake)}}}},
        )
        assert result.success
        assert len(instance.get_runs()) == 1
        assert instance.get_materialized_partitions(dg.AssetKey("features_daily")) == {"2024-03-02"}
    done = {(e.asset_key.path[-1], e.partition) for e in result.get_asset_materialization_events()}
    daily = [*RAW_TABLES, "surface_params", "surface_grid", "surface_features", "surface_model_comparison",
             "chain_greeks", "features_daily", "vol_regimes"]
    assert done == {(t, "2024-03-02") for t in daily} | {("warehouse", None)}
    assert {(start, end) for _, start, end, _ in toy.calls} == {(date(2024, 3, 2), date(2024, 3, 2))}
    assert (lake / "warehouse.duckdb").exists()


def test_the_eod_run_without_a_promoted_model_fails_at_signals_and_says_why(lake, toy):
    (req,) = _tick(eod_schedule, datetime(2024, 3, 3, 0, 30, tzinfo=UTC))
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("eod_job").execute_in_process(
            instance=instance, partition_key=req.partition_key, tags=req.tags, raise_on_error=False,
            run_config={"resources": {"market": {"config": {"source": "toy"}}, "lake": {"config": {"root": str(lake)}}}},
        )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "signals"
    assert "materialize model_promotion" in failure.step_failure_data.error.cause.message
    # everything before it landed: the day's raw tables and features are in the lake
    assert (lake / "features" / "features_daily" / "asset=BTC" / "date=2024-03-02" / "part-0.parquet").exists()


def test_the_freshness_tick_judges_the_lake_at_its_own_day(lake):
    # every day it ticks after that day's end-of-day tick, not before it
    eod_tick = datetime(2024, 6, 4, 0, 30, tzinfo=UTC)
    (tick,) = _next_ticks(freshness_schedule, eod_tick - timedelta(seconds=1), n=1)
    assert eod_tick < tick < _next_ticks(eod_schedule, eod_tick, n=1)[0] and tick.date() == eod_tick.date()
    (req,) = _tick(freshness_schedule, tick)
    assert freshness_schedule.job_name == "freshness_check_job"
    (op_config,) = req.run_config["ops"].values()
    assert op_config["config"]["today"] == "2024-06-04"
    run_config = {**req.run_config, "resources": {"lake": {"config": {"root": str(lake)}}}}
    result = defs.resolve_job_def("freshness_check_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), run_config=run_config)
    evaluations = [e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert len(evaluations) == len(RAW_TABLES)
    assert all(e.metadata["today"].value == "2024-06-04" and not e.passed for e in evaluations)  # the lake is empty
