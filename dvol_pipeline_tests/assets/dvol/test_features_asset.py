"""features_daily in Dagster: written per (coin, day), gated by the no-look-ahead check."""

from __future__ import annotations

import functools

import dagster as dg
import polars as pl
import pytest

from dvol_pipeline.assets.dvol import features as features_asset_module
from dvol_pipeline.assets.dvol.features import features_daily
from dvol_pipeline.assets.raw import raw_assets
from dvol_pipeline.assets.warehouse import warehouse
from dvol_pipeline.pipeline.dvol.features import build_range
from dvol_pipeline.lake.warehouse import query
from dvol_pipeline.resources import LakeResource, MarketResource

START, END = "2021-03-24", "2021-07-31"


def _run(lake, selection="*"):
    with dg.DagsterInstance.ephemeral() as instance:
        return dg.materialize(
            [*raw_assets, features_daily, warehouse],
            selection=selection,
            instance=instance,
            resources={"lake": LakeResource(root=str(lake)), "market": MarketResource()},
            tags={"dagster/asset_partition_range_start": START, "dagster/asset_partition_range_end": END},
            raise_on_error=False,
        )


def _check(result, name):
    return next(e.asset_check_evaluation_data for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.asset_check_evaluation_data.check_name == name)


@pytest.mark.slow
def test_features_land_per_coin_and_day_and_pass_the_lookahead_check(lake):
    result = _run(lake)
    assert result.success
    check = _check(result, "no_lookahead")
    assert check.passed and check.metadata["days_checked"].value >= 5
    meta = result.asset_materializations_for_node("features_daily")[0].metadata
    assert "iv" in meta["groups_used"].value and "flow" in meta["groups_used"].value
    got = query(lake, "SELECT asset, count(*) n, count(y_14d) labelled FROM features_daily GROUP BY ALL ORDER BY ALL")
    # 130 days per coin; the last 14 have no 14-day label yet, because no later DVOL exists
    assert got.to_dicts() == [{"asset": "BTC", "n": 130, "labelled": 116}, {"asset": "ETH", "n": 130, "labelled": 116}]
    cols = query(lake, "SELECT comment FROM duckdb_columns() WHERE table_name = 'features_daily' AND column_name = 'rv_22d'")
    assert cols["comment"][0].startswith("[rv]")


@pytest.mark.slow
def test_a_feature_that_peeks_ahead_fails_the_check_and_blocks_downstream(lake, monkeypatch):
    def peek(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(pl.col("dvol").shift(-1).over("asset").alias("dvol_tomorrow"))

    monkeypatch.setattr(features_asset_module, "build_range", functools.partial(build_range, extra_features=peek))
    result = _run(lake)
    assert not result.success
    check = _check(result, "no_lookahead")
    assert not check.passed and "dvol_tomorrow" in check.metadata["violations"].value
    assert result.asset_materializations_for_node("warehouse") == []


@pytest.mark.slow
def test_an_end_of_day_run_fills_in_the_labels_of_the_days_before_it(lake):
    """Day D's row is written before D+1..D+14 exist; later daily runs must label it."""

    def run(start, end):
        with dg.DagsterInstance.ephemeral() as instance:
            return dg.materialize(
                [*raw_assets, features_daily], instance=instance,
                resources={"lake": LakeResource(root=str(lake)), "market": MarketResource()},
                tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
            )

    run(START, END)
    before = query_labels(lake)
    for day in ("2021-08-01", "2021-08-02", "2021-08-03"):  # three end-of-day runs
        assert run(day, day).success
    after = query_labels(lake)
    # 2021-07-31 now has its 1-day label, and three more days have 14-day labels
    assert before["2021-07-31"] == (False, False) and after["2021-07-31"] == (True, False)
    assert sum(v[1] for v in after.values()) == sum(v[1] for v in before.values()) + 3
    labelled_14 = [d for d, (_, y14) in after.items() if y14]
    assert max(labelled_14) == "2021-07-20"  # 2021-08-03 - 14 days


def query_labels(lake) -> dict[str, tuple[bool, bool]]:
    from dvol_pipeline.lake.parquet import read_table

    rows = read_table(lake, "features_daily", coins=["BTC"]).sort("date")
    return {str(d): (y1 is not None, y14 is not None) for d, y1, y14 in rows.select("date", "y_1d", "y_14d").iter_rows()}
