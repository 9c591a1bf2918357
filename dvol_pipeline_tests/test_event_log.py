"""The batched SQLite event log records a range backfill exactly as Dagster's stock one does."""

import dagster as dg
import pytest

from dvol_pipeline.cli import prepare_home
from dvol_pipeline.event_log import BatchedSqliteEventLogStorage
from dvol_pipeline.partitions import single_run_asset

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-02-01")  # 31 days


def _asset(tag: str):
    @single_run_asset(name="toy_daily", partitions_def=DAYS)
    def toy_daily(context: dg.AssetExecutionContext):
        # Dagster records one materialization per partition of the range, as for the lake's assets
        return dg.MaterializeResult(metadata={"run": tag, "days": len(context.partition_keys)})

    return toy_daily


def _backfill(instance: dg.DagsterInstance, tag: str) -> str:
    result = dg.materialize(
        [_asset(tag)], instance=instance,
        tags={"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-31"},
    )
    assert result.success
    return result.run_id


def _state(instance: dg.DagsterInstance) -> dict:
    key = dg.AssetKey("toy_daily")
    latest = instance.get_latest_storage_id_by_partition(key, dg.DagsterEventType.ASSET_MATERIALIZATION)
    records = instance.fetch_materializations(key, limit=1000).records
    return {
        "partitions": sorted(instance.get_materialized_partitions(key)),
        "count": len(records),
        "newest_first": [(r.run_id, r.partition_key) for r in records],
        "last": instance.get_latest_materialization_event(key).asset_materialization.partition,
        "latest": latest,
        "ids_by_run": {r.storage_id: r.run_id for r in records},
    }


@pytest.mark.parametrize("batch", ["0", "500", "7"])
def test_batched_sqlite_log_matches_the_stock_one(lake, monkeypatch, batch):
    """Two single-run backfills of 31 days: every partition materialized, the newer run wins each
    partition, ids in write order; the same with batches of 500 (one insert), 7 (several) or none."""
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", batch)
    calls = []
    original = BatchedSqliteEventLogStorage.store_event_batch
    monkeypatch.setattr(BatchedSqliteEventLogStorage, "store_event_batch",
                        lambda self, events: (calls.append(len(events)), original(self, events))[1])
    prepare_home(lake)
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, BatchedSqliteEventLogStorage)
        first, second = _backfill(instance, "first"), _backfill(instance, "second")
        state = _state(instance)
    days = [f"2024-01-{d:02d}" for d in range(1, 32)]
    assert state["partitions"] == days
    assert state["count"] == 62
    # newest first: the second run's 31 days in reverse write order, then the first run's
    assert state["newest_first"] == [(second, d) for d in reversed(days)] + [(first, d) for d in reversed(days)]
    assert state["last"] == "2024-01-31"
    # what the UI's partition status reads: each day's newest materialization is the second run's
    assert sorted(state["latest"]) == days
    assert {state["ids_by_run"][i] for i in state["latest"].values()} == {second}
    if batch == "0":
        assert calls == []
    else:
        assert sum(n for n in calls if n > 1) >= 62 - 2 and max(calls) == min(int(batch), 31)
