"""The production profile: Dagster on PostgreSQL (deploy/dagster.postgres.yaml), steps in processes.

A throwaway PostgreSQL server (initdb in a temporary folder, 127.0.0.1, a free port) holds
the runs, event logs and schedules; each test gets its own database. The jobs run through
`execute_job` with `DVOL_EXECUTOR=multiprocess`, so every step is a process of its own,
as a run launched by the daemon would be. The server comes from Debian's `postgresql`
package, which `make test` installs; without it these tests fail and say so.
"""

from __future__ import annotations

import itertools
import os
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl
import pytest

from dvol_pipeline.cli import prepare_home
from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.settings import REPO_ROOT
from dvol_pipeline_tests.lake_paths import partition_file
from dvol_pipeline_tests.pg_server import PgServer
from dvol_pipeline_tests.toy_market import ToySource, install

pytestmark = pytest.mark.slow

PROFILE = REPO_ROOT / "deploy" / "dagster.postgres.yaml"
PLANT_ENV = "DVOL_TEST_PLANT_BAD_ROW"
"""Set: the toy source serves one option quote with bid above ask (read in every step's process)."""
START, END = "2024-02-27", "2024-03-02"
DAYS = {"2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01", "2024-03-02"}
_n = itertools.count()


def _plant_bid_above_ask(table, frame):
    if table != "raw_option_chain":
        return frame
    first = pl.int_range(pl.len()) == 0
    return frame.with_columns(pl.when(first).then(0.9).otherwise(pl.col("bid")).alias("bid"),
                              pl.when(first).then(0.1).otherwise(pl.col("ask")).alias("ask"))


def _toy_job(name: str) -> dg.JobDefinition:
    """The project's own job `name` on the toy source, with the executor DVOL_EXECUTOR names."""
    from dvol_pipeline.definitions import defs, executor_def
    from dvol_pipeline.resources import LakeResource, MarketResource

    install(ToySource(plant=_plant_bid_above_ask if os.environ.get(PLANT_ENV) else None))
    return dg.Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
        resources={"lake": LakeResource(), "market": MarketResource(source="toy")},
        executor=executor_def(),
    ).resolve_job_def(name)


def raw_ingest_job() -> dg.JobDefinition:
    return _toy_job("raw_ingest_job")


def eod_job() -> dg.JobDefinition:
    return _toy_job("eod_job")


@pytest.fixture
def pg(pg_server: PgServer, lake, monkeypatch: pytest.MonkeyPatch):
    """A fresh database, the production dagster.yaml in DAGSTER_HOME, steps in processes."""
    server = pg_server.create_database(f"test_{next(_n)}")
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DVOL_DAGSTER_YAML", str(PROFILE))
    monkeypatch.setenv("DVOL_EXECUTOR", "multiprocess")
    monkeypatch.delenv(PLANT_ENV, raising=False)
    home = prepare_home(lake)
    assert (home / "dagster.yaml").read_text() == PROFILE.read_text()
    return server


def _range_tags(start=START, end=END):
    return {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}


def _sql(server: PgServer, statement: str):
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall()
    finally:
        conn.close()


def _steps(instance, run_id, event_type) -> set[str]:
    records = instance.get_records_for_run(run_id, of_type=event_type, limit=1000).records
    return {r.event_log_entry.step_key for r in records}


def _steps_in_own_process(instance, run_id) -> set[str]:
    """The run's steps, each of which ran in a process of its own (multiprocess executor), as the
    event log in PostgreSQL tells."""
    succeeded = _steps(instance, run_id, dg.DagsterEventType.STEP_SUCCESS)
    assert _steps(instance, run_id, dg.DagsterEventType.STEP_WORKER_STARTED) == succeeded
    return succeeded


def test_the_profile_is_postgres_for_runs_events_and_schedules(pg):
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        # one run at a time, through Dagster's run queue (the profile's `concurrency: runs:`)
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
    tables = {t for (t,) in _sql(pg, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"runs", "event_logs", "jobs", "job_ticks", "asset_keys"} <= tables
    from dvol_pipeline.definitions import executor_def

    assert executor_def().name == "multiprocess"


def test_a_range_backfill_is_one_run_recorded_in_postgres(pg, lake):
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(dg.reconstructable(raw_ingest_job), instance, tags=_range_tags())
        assert result.success, result.all_events
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS and run.tags["dagster/asset_partition_range_end"] == END
        assert _steps_in_own_process(instance, run.run_id) == {"raw_tables"}
        for table in RAW_TABLES:
            assert instance.get_materialized_partitions(dg.AssetKey(table)) == DAYS
    # a new connection (another process would see the same): the records live in the database
    with dg.DagsterInstance.get() as again:
        assert [r.run_id for r in again.get_runs()] == [run.run_id]
    assert _sql(pg, "SELECT status FROM runs") == [("SUCCESS",)]
    assert not (lake / ".dagster" / "history").exists()  # nothing went to SQLite
    assert pl.read_parquet(partition_file(lake, "raw", "raw_dvol", "BTC", date(2024, 2, 29))).height == 1


def test_an_end_of_day_run_as_the_schedule_asks_for_it(pg, lake):
    from dvol_pipeline.definitions import defs
    from dvol_pipeline.schedules import eod_schedule

    with dg.DagsterInstance.get() as instance:
        context = dg.build_schedule_context(instance=instance, repository_def=defs.get_repository_def(),
                                            scheduled_execution_time=datetime(2024, 3, 3, 0, 30, tzinfo=UTC))
        (req,) = eod_schedule.evaluate_tick(context).run_requests
        job = eod_job()
        # signals need a promoted model (the monthly job's), which this lake has not
        selection = [k for k in job.asset_layer.executable_asset_keys if k.path[-1] != "signals"]
        result = dg.execute_job(dg.reconstructable(eod_job), instance, asset_selection=selection,
                                tags={**req.tags, "dagster/partition": req.partition_key})
        assert result.success
        (run,) = instance.get_runs()
        assert run.tags["dagster/partition"] == "2024-03-02" and run.tags["dvol/trigger"] == "eod_schedule"
        assert {"raw_tables", "option_surface", "chain_greeks", "features_daily", "warehouse"} <= \
            _steps_in_own_process(instance, run.run_id)
        for key in (*RAW_TABLES, "surface_features", "chain_greeks", "features_daily"):
            assert instance.get_materialized_partitions(dg.AssetKey(key)) == {"2024-03-02"}
        assert instance.get_latest_materialization_event(dg.AssetKey("warehouse")) is not None
    assert (lake / "warehouse.duckdb").exists()


def test_a_failed_run_and_its_retry_from_failure(pg, lake, monkeypatch):
    monkeypatch.setenv(PLANT_ENV, "1")
    with dg.DagsterInstance.get() as instance:
        failed = dg.execute_job(dg.reconstructable(raw_ingest_job), instance, tags=_range_tags())
        assert not failed.success
        check = next(e.asset_check_evaluation_data for e in failed.all_events
                     if e.event_type_value == "ASSET_CHECK_EVALUATION"
                     and e.asset_check_evaluation_data.asset_key.path[-1] == "raw_option_chain"
                     and e.asset_check_evaluation_data.check_name == "contract")
        assert not check.passed and "bid must be <= ask" in check.description
        quarantined = partition_file(lake, "quarantine", "raw_option_chain", "BTC", date(2024, 2, 27))
        assert quarantined.exists()
        assert instance.get_run_by_id(failed.run_id).status == dg.DagsterRunStatus.FAILURE

        monkeypatch.delenv(PLANT_ENV)  # the source is fixed; re-execute the failed steps
        options = dg.ReexecutionOptions.from_failure(failed.run_id, instance)
        # execute_job does not copy the parent's tags (the UI's re-execute and the daemon's run retries
        # do): the range must be passed again, or the step has no partition range
        parent_tags = instance.get_run_by_id(failed.run_id).tags
        retry = dg.execute_job(dg.reconstructable(raw_ingest_job), instance, reexecution_options=options,
                               tags={k: v for k, v in parent_tags.items() if k in _range_tags()})
        assert retry.success
        run = instance.get_run_by_id(retry.run_id)
        assert run.parent_run_id == failed.run_id and run.root_run_id == failed.run_id
        assert run.tags["dagster/asset_partition_range_start"] == START  # the same range
        statuses = {r.run_id: r.status for r in instance.get_runs()}
        assert statuses == {failed.run_id: dg.DagsterRunStatus.FAILURE, retry.run_id: dg.DagsterRunStatus.SUCCESS}
        assert instance.get_materialized_partitions(dg.AssetKey("raw_option_chain")) == DAYS
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("raw_option_chain"), "contract")])
        assert next(iter(latest.values())).run_id == retry.run_id
    assert not quarantined.exists()  # the fixed batch replaced the partition and cleared its quarantine
    assert sorted(_sql(pg, "SELECT status FROM runs")) == [("FAILURE",), ("SUCCESS",)]


def test_a_missing_profile_file_or_an_unknown_executor_is_refused_by_name(lake, monkeypatch):
    from dvol_pipeline.settings import executor_name

    monkeypatch.setenv("DVOL_DAGSTER_YAML", str(lake / "nope.yaml"))
    with pytest.raises(ValueError, match="DVOL_DAGSTER_YAML=.*nope.yaml is not a file"):
        prepare_home(lake)
    monkeypatch.setenv("DVOL_EXECUTOR", "dask")
    with pytest.raises(ValueError, match="DVOL_EXECUTOR='dask': use one of in_process, multiprocess, celery, k8s"):
        executor_name()
    monkeypatch.delenv("DVOL_EXECUTOR")
    assert executor_name() == "in_process"
