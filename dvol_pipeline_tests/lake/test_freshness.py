"""Freshness: the newest raw partition per coin, judged against today, as a Dagster check."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import polars as pl

from dvol_pipeline.assets.freshness import FRESH_CHECK, raw_freshness_checks
from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.definitions import defs
from dvol_pipeline.lake.freshness import freshness_report, newest_by_asset, newest_partition
from dvol_pipeline_tests.lake_paths import partition_dir, partition_file
from dvol_pipeline.resources import LakeResource, MarketResource

TODAY = date(2024, 6, 10)


def _touch(root, table, asset, day, complete=True):
    """A partition folder; only its name matters to freshness (no Parquet is opened)."""
    folder = partition_dir(root, "raw", table, asset, day)
    folder.mkdir(parents=True, exist_ok=True)
    if complete:
        partition_file(root, "raw", table, asset, day).write_bytes(b"not parquet: never read")


def _fill(root, newest: date, days: int = 3, coins=("BTC", "ETH"), tables=tuple(RAW_TABLES)):
    for table in tables:
        for coin in coins:
            for k in range(days):
                _touch(root, table, coin, newest - timedelta(days=k))


def test_newest_partition_reads_folder_names_and_skips_incomplete_days(tmp_path):
    _touch(tmp_path, "raw_dvol", "BTC", date(2024, 6, 8))
    _touch(tmp_path, "raw_dvol", "BTC", date(2024, 6, 9), complete=False)  # a run killed before the rename
    _touch(tmp_path, "raw_dvol", "ETH", date(2024, 5, 31))
    (tmp_path / "raw" / "raw_dvol" / "asset=ETH" / "date=not-a-day").mkdir()
    assert newest_by_asset(tmp_path, "raw_dvol") == {"BTC": date(2024, 6, 8), "ETH": date(2024, 5, 31)}
    assert newest_partition(tmp_path, "raw_dvol") == date(2024, 6, 8)
    assert newest_partition(tmp_path, "raw_dvol", asset="ETH") == date(2024, 5, 31)
    assert newest_partition(tmp_path, "raw_funding") is None


def test_report_ages_each_coin_and_flags_only_those_past_the_limit(tmp_path):
    _touch(tmp_path, "raw_dvol", "BTC", TODAY - timedelta(days=1))
    _touch(tmp_path, "raw_dvol", "ETH", TODAY - timedelta(days=5))
    _touch(tmp_path, "raw_ohlcv", "BTC", TODAY - timedelta(days=2))  # exactly the limit: still fresh
    report = freshness_report(tmp_path, ["raw_dvol", "raw_ohlcv"], TODAY, 2, coins=["BTC", "ETH"])
    assert report.columns == ["table", "asset", "newest", "age_days", "stale"]
    assert report.rows() == [
        ("raw_dvol", "BTC", TODAY - timedelta(days=1), 1, False),
        ("raw_dvol", "ETH", TODAY - timedelta(days=5), 5, True),
        ("raw_ohlcv", "BTC", TODAY - timedelta(days=2), 2, False),
        ("raw_ohlcv", "ETH", None, None, True),  # an expected coin that never arrived
    ]
    found_only = freshness_report(tmp_path, ["raw_ohlcv", "raw_funding"], TODAY, 2)
    assert found_only.select("table", "asset", "stale").rows() == [
        ("raw_ohlcv", "BTC", False), ("raw_funding", None, True)]  # an empty table: one row, no coin


def _check(lake, today=TODAY, max_age_days=None, coins=("BTC", "ETH")):
    """Run only the `fresh` checks, as freshness_check_job does, and return them by table."""
    job = defs.resolve_job_def("freshness_check_job")
    config = {"today": today.isoformat(), **({} if max_age_days is None else {"max_age_days": max_age_days})}
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance,
            run_config={
                "ops": {raw_freshness_checks.op.name: {"config": config}},
                "resources": {"lake": {"config": {"root": str(lake)}}, "market": {"config": {"coins": list(coins)}}},
            },
        )
    assert result.success  # a stale lake fails checks, never the run
    assert not result.get_asset_materialization_events()  # checks only: no asset is rebuilt
    return {
        e.asset_check_evaluation_data.asset_key.path[-1]: e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_a_lake_five_days_old_fails_with_a_two_day_limit(tmp_path):
    _fill(tmp_path, TODAY - timedelta(days=5))
    checks = _check(tmp_path, max_age_days=2)
    assert set(checks) == set(RAW_TABLES)
    dvol = checks["raw_dvol"]
    assert not dvol.passed and dvol.severity == dg.AssetCheckSeverity.ERROR and dvol.check_name == FRESH_CHECK
    assert "raw_dvol BTC: newest partition 2024-06-05 is 5 days old at 2024-06-10 (> 2 allowed)" in dvol.description
    meta = {k: v.value for k, v in dvol.metadata.items()}
    assert meta["newest_by_coin"] == {"BTC": "2024-06-05", "ETH": "2024-06-05"}
    assert meta["oldest_age_days"] == 5 and meta["max_age_days"] == 2 and meta["today"] == "2024-06-10"
    assert all(not c.passed for c in checks.values())


def test_a_fresh_lake_passes_and_the_limit_is_the_check_config(tmp_path):
    _fill(tmp_path, TODAY - timedelta(days=1))
    assert all(c.passed for c in _check(tmp_path).values())
    checks = _check(tmp_path, max_age_days=0)  # same lake, a desk that wants today's partition already
    assert not checks["raw_funding"].passed
    assert checks["raw_funding"].metadata["max_age_days"].value == 0


def test_one_late_coin_fails_its_table_and_no_other(tmp_path):
    _fill(tmp_path, TODAY - timedelta(days=1))
    for k in range(3):  # ETH funding stopped 4 days ago
        day = TODAY - timedelta(days=1 + k)
        partition_file(tmp_path, "raw", "raw_funding", "ETH", day).unlink()
    _touch(tmp_path, "raw_funding", "ETH", TODAY - timedelta(days=4))
    checks = _check(tmp_path)
    assert [t for t, c in checks.items() if not c.passed] == ["raw_funding"]
    assert "raw_funding ETH: newest partition 2024-06-06 is 4 days old" in checks["raw_funding"].description


def test_an_empty_lake_fails_and_says_nothing_was_ingested(tmp_path):
    checks = _check(tmp_path, coins=("BTC",))
    dvol = checks["raw_dvol"]
    assert not dvol.passed
    expected = f"raw_dvol BTC: no partitions under {tmp_path / 'raw' / 'raw_dvol'} (nothing ingested yet)"
    assert expected in dvol.description
    assert "eod_job" in dvol.description  # and what to do about it
    assert dvol.metadata["newest_by_coin"].value == {"BTC": None}


def test_a_real_ingestion_is_judged_fresh_by_folder_name(lake, toy):
    from dvol_pipeline.assets.raw import raw_assets

    day = TODAY - timedelta(days=1)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            raw_assets, selection="raw_dvol", instance=instance, partition_key=day.isoformat(),
            resources={"lake": LakeResource(root=str(lake)), "market": MarketResource(source="toy")},
        )
    assert result.success
    assert pl.read_parquet(partition_file(lake, "raw", "raw_dvol", "BTC", day)).height == 1
    report = freshness_report(lake, ["raw_dvol"], TODAY, 2, coins=["BTC", "ETH"])
    assert report["newest"].to_list() == [day, day] and not report["stale"].any()
