"""The Dagster graph: range backfills in one run, blocking contracts, quarantine, metadata."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl

from dvol_pipeline.assets.raw import raw_assets
from dvol_pipeline.assets.warehouse import warehouse
from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.definitions import defs
from dvol_pipeline_tests.lake_paths import partition_file
from dvol_pipeline.resources import LakeResource, MarketResource
from dvol_pipeline_tests.toy_market import ToySource, install

START, END = "2024-02-27", "2024-03-02"  # crosses a leap day: 5 daily partitions


def _run(lake, instance, selection="*", start=START, end=END):
    return dg.materialize(
        [*raw_assets, warehouse],
        selection=selection,
        instance=instance,
        resources={"lake": LakeResource(root=str(lake)), "market": MarketResource(source="toy")},
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
        raise_on_error=False,
    )


def _checks(result):
    return {
        (e.asset_check_evaluation_data.asset_key.path[-1], e.asset_check_evaluation_data.check_name):
            e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_definitions_load_with_every_raw_table_and_its_checks():
    repo = defs.get_repository_def()
    keys = {k.path[-1] for k in repo.asset_graph.get_all_asset_keys()}
    assert keys == {
        *RAW_TABLES, "surface_params", "surface_grid", "surface_features", "surface_model_comparison", "chain_greeks",
        "features_daily", "vol_regimes",
        "oos_predictions", "forecast_metrics", "backtest", "model_promotion", "ivrank", "tear_sheets", "signals", "warehouse",
        "paper_fills", "paper_positions", "paper_pnl", "paper_reconciliation",
        "paper_option_fills", "paper_option_positions", "paper_option_book",
        # the universe lane (group universe)
        "raw_universe_daily", "universe_symbols", "universe_features", "universe_predictions",
        "universe_forecast_metrics", "universe_class_metrics", "universe_strategy_metrics", "universe_report",
        # the micro lane (group micro)
        "raw_trades", "raw_book_deltas", "raw_top_of_book", "raw_liquidations", "raw_derivative_ticker",
        "book_top", "book_snapshots", "book_quality", "micro_gaps", "micro_bars", "micro_features", "micro_daily",
        "micro_predictions", "micro_fold_metrics", "micro_cross_symbol", "micro_ic", "micro_trades",
        "micro_strategy_metrics", "micro_gates", "micro_report",
        "micro_drift", "micro_paper_fills", "micro_paper_pnl", "micro_fill_quality", "micro_health",
    }
    check_names = {(c.asset_key.path[-1], c.name) for c in repo.asset_graph.asset_check_keys}
    assert {(t, "contract") for t in RAW_TABLES} <= check_names
    assert {("surface_params", "butterfly_arbitrage"), ("surface_params", "calendar_arbitrage"),
            ("surface_params", "atm_pricing_error"), ("surface_features", "dvol_replica"),
            ("surface_model_comparison", "svi_fit_residuals")} <= check_names


def test_a_range_is_one_run_and_marks_every_partition(lake):
    source = install(ToySource())
    with dg.DagsterInstance.ephemeral() as instance:
        result = _run(lake, instance)
        assert result.success
        assert len(instance.get_runs()) == 1
        days = instance.get_materialized_partitions(dg.AssetKey("raw_dvol"))
        assert days == {"2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01", "2024-03-02"}
    # the source was asked once per table, for the whole range, not once per day
    assert sorted(c[0] for c in source.calls) == sorted(RAW_TABLES)
    assert {(c[1], c[2]) for c in source.calls} == {(date(2024, 2, 27), date(2024, 3, 2))}
    checks = _checks(result)
    assert all(checks[(t, "contract")].passed for t in RAW_TABLES)
    # one step ingests every table (one source opened), one materialization per table
    mats = {m.asset_key.path[-1]: m for m in result.asset_materializations_for_node("raw_tables")}
    assert set(mats) == set(RAW_TABLES)
    mat = mats["raw_funding"].metadata
    assert mat["dagster/row_count"].value == 5 * 2 * 3
    assert mat["source"].value == "toy" and mat["rows_quarantined"].value == 0
    assert "toy://market" in mat["source_files_sha256"].value
    assert (lake / "warehouse.duckdb").exists()


def test_a_single_day_works_the_same_for_the_end_of_day_run(lake):
    install(ToySource())
    with dg.DagsterInstance.ephemeral() as instance:
        assert _run(lake, instance, "group:raw", "2024-03-02", "2024-03-02").success
        assert instance.get_materialized_partitions(dg.AssetKey("raw_ohlcv")) == {"2024-03-02"}
    assert pl.read_parquet(partition_file(lake, "raw", "raw_ohlcv", "ETH", date(2024, 3, 2))).height == 48


def _plant_bid_above_ask(table, frame):
    if table != "raw_option_chain":
        return frame
    first = pl.int_range(pl.len()) == 0
    return frame.with_columns(
        pl.when(first).then(0.9).otherwise(pl.col("bid")).alias("bid"),
        pl.when(first).then(0.1).otherwise(pl.col("ask")).alias("ask"),
    )


def test_a_planted_bad_row_fails_the_blocking_check_and_is_quarantined(lake):
    install(ToySource(plant=_plant_bid_above_ask))
    with dg.DagsterInstance.ephemeral() as instance:
        result = _run(lake, instance)
    assert not result.success
    check = _checks(result)[("raw_option_chain", "contract")]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    text = check.description
    assert "raw_option_chain [2024-02-27..2024-03-02]" in text and "1 row(s): bid must be <= ask" in text
    assert check.metadata["reasons"].value == {"bid must be <= ask": 1}
    # the downstream warehouse did not consume the bad batch
    assert result.asset_materializations_for_node("warehouse") == []
    assert not (lake / "warehouse.duckdb").exists()
    bad = pl.read_parquet(partition_file(lake, "quarantine", "raw_option_chain", "BTC", date(2024, 2, 27)))
    assert bad["reason"].to_list() == ["bid must be <= ask"]
    assert bad["bid"].to_list() == ["0.9"] and bad["ask"].to_list() == ["0.1"]


def test_naive_timestamps_and_duplicate_keys_fail_with_clear_messages(lake):
    def plant(table, frame):
        if table == "raw_funding":
            return frame.with_columns(pl.col("ts").dt.replace_time_zone(None))
        if table == "raw_onchain":
            return pl.concat([frame, frame.head(1)])
        return frame

    install(ToySource(plant=plant))
    with dg.DagsterInstance.ephemeral() as instance:
        result = _run(lake, instance, "group:raw")
    checks = _checks(result)
    assert "column ts is timezone-naive" in checks[("raw_funding", "contract")].description
    assert "exact duplicate of an earlier row with key (asset,date)" in checks[("raw_onchain", "contract")].description
    assert checks[("raw_dvol", "contract")].passed
    quarantined = pl.read_parquet(lake / "quarantine" / "raw_funding" / "asset=BTC" / "date=2024-02-27" / "part-0.parquet")
    assert quarantined.height == 3 and quarantined["reason"].str.contains("timezone-naive").all()
