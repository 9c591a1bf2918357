"""Walk-forward in Dagster: folds as monthly partitions, MLflow runs, metrics, reproducibility."""

from __future__ import annotations

import hashlib

import dagster as dg
import mlflow
import polars as pl
import pytest

from dvol_pipeline.cli import main
from dvol_pipeline.lake.catalog import table as catalog_table
from dvol_pipeline.lake.tracking import EXPERIMENT, tracking_uri
from dvol_pipeline.lake.warehouse import query


@pytest.mark.slow
def test_folds_predict_log_to_mlflow_and_reproduce_exactly(lake):
    assert main(["materialize", "--select", "group:raw or group:features", "--start", "2021-03-24",
                 "--end", "2022-06-30"]) == 0
    assert main(["materialize", "--select", "group:forecasts or group:warehouse",
                 "--start", "2022-04", "--end", "2022-06"]) == 0
    with dg.DagsterInstance.from_config(str(lake / ".dagster")) as instance:
        assert instance.get_materialized_partitions(dg.AssetKey("oos_predictions")) == {"2022-04", "2022-05", "2022-06"}

    may = pl.read_parquet(catalog_table("oos_predictions").fold_file(lake, "2022-05"))
    assert set(may["family"]) == {"zero", "mean_reversion", "har", "garch", "lightgbm", "lstm", "ensemble"}
    assert set(may["horizon"]) == {1, 7, 14}
    assert may["date"].min().isoformat() == "2022-05-01" and may["date"].max().isoformat() == "2022-05-31"
    # the zero-change family really predicts zero, and every other family something finite
    assert (may.filter(pl.col("family") == "zero")["y_hat"] == 0).all()
    assert may.filter(pl.col("family") == "har")["y_hat"].is_finite().all()

    mlflow.set_tracking_uri(tracking_uri(lake))
    runs = mlflow.search_runs(experiment_names=[EXPERIMENT], filter_string="tags.fold = '2022-05'")
    assert len(runs) == 3 * 7  # every family x horizon of the fold
    har = runs[(runs["tags.family"] == "har") & (runs["tags.horizon"] == "7")].iloc[0]
    assert har["metrics.rmse"] > 0 and har["params.train_window.end"] <= "2022-04-23"

    # SHAP for the fold's own LightGBM, on its own test month; ablations per present group; by
    # default only the run's newest fold (2022-06) and every 6th month from 2022-04 are explained
    assert set(query(lake, "SELECT DISTINCT fold FROM feature_importance")["fold"]) == {"2022-04", "2022-06"}
    shap = query(lake, "SELECT * FROM feature_importance WHERE fold = '2022-06' AND horizon = 7 "
                       "ORDER BY mean_abs_shap DESC")
    assert shap["mean_abs_shap"][0] > 0 and shap["feature"][0] in shap["feature"].to_list()
    ablations = query(lake, "SELECT DISTINCT \"group\" FROM ablations WHERE fold = '2022-06'")
    assert {"rv", "vrp", "flow", "calendar"} <= set(ablations["group"])

    metrics = query(lake, "SELECT * FROM forecast_metrics WHERE scope = 'overall' AND asset = 'ALL'")
    assert set(metrics["horizon"]) == {1, 7, 14} and metrics["n"].min() > 0

    # re-materializing a fold reproduces it exactly
    before = hashlib.sha256(catalog_table("oos_predictions").fold_file(lake, "2022-05").read_bytes()).hexdigest()
    assert main(["materialize", "--select", "key:oos_predictions", "--start", "2022-05", "--end", "2022-05"]) == 0
    assert hashlib.sha256(catalog_table("oos_predictions").fold_file(lake, "2022-05").read_bytes()).hexdigest() == before

    _backtest_promotion_tearsheets_and_signals(lake)


def _backtest_promotion_tearsheets_and_signals(lake):
    """The monthly half of the loop (backtest, promotion, tear sheets) and one end-of-day signal."""
    import re

    from dvol_pipeline.pipeline.dvol.backtest import read_backtest_table
    from dvol_pipeline.lake.tracking import REPORTS_EXPERIMENT

    assert main(["materialize", "--select", "group:backtest or group:warehouse", "--start", "2022-04",
                 "--end", "2022-06"]) == 0
    promotion = read_backtest_table(lake, "model_promotion")
    assert promotion.select("asset", "horizon").sort("asset", "horizon").rows() == [
        (a, h) for a in ("BTC", "ETH") for h in (1, 7, 14)
    ]
    assert promotion.group_by("asset").agg(pl.col("primary").sum())["primary"].to_list() == [1, 1]
    # the tear sheets: one per coin, every section filled, nothing fetched from outside
    for coin in ("BTC", "ETH"):
        html = (lake / "reports" / "latest" / f"tearsheet_{coin}.html").read_text()
        for section in ("key-numbers", "equity", "forecast", "calibration", "hit-rate", "shap", "costs",
                        "regimes", "years", "oos-vs-is", "robustness", "risk", "options", "promotion"):
            assert f'id="{section}"' in html, section
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    mlflow.set_tracking_uri(tracking_uri(lake))
    reports = mlflow.search_runs(experiment_names=[REPORTS_EXPERIMENT])
    assert len(reports) == 1
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(reports["run_id"][0], "tearsheets")}
    assert artifacts == {"tearsheets/tearsheet_BTC.html", "tearsheets/tearsheet_ETH.html"}

    # end of day: the signal for 2022-06-30 is what the promoted 7-day model predicted out of sample
    assert main(["materialize", "--select", "key:signals", "--start", "2022-06-30", "--end", "2022-06-30"]) == 0
    sig = pl.read_parquet(lake / "signals" / "signals" / "asset=BTC" / "date=2022-06-30" / "part-0.parquet")
    family = promotion.filter((pl.col("asset") == "BTC") & (pl.col("horizon") == 7))["promoted_family"][0]
    oos = pl.read_parquet(catalog_table("oos_predictions").fold_file(lake, "2022-06")).filter(
        (pl.col("asset") == "BTC") & (pl.col("horizon") == 7) & (pl.col("family") == family)
        & (pl.col("date") == pl.date(2022, 6, 30))
    )
    assert sig["yhat_7d"][0] == pytest.approx(oos["y_hat"][0], abs=1e-9)
    assert sig["model_version"][0].split()[1] == f"7d={family}@2022-06"
    # the family the direction follows is a column: the primary horizon's promoted family
    primary = promotion.filter((pl.col("asset") == "BTC") & pl.col("primary"))
    assert sig["primary_horizon"][0] == primary["horizon"][0] and sig["family"][0] == primary["promoted_family"][0]
    assert sig["direction"][0] in (-1, 0, 1) and 0.0 <= sig["confidence"][0] <= 1.0
    _the_signals_metadata_links_the_api_that_serves_the_same_signal(lake, sig)


def _the_signals_metadata_links_the_api_that_serves_the_same_signal(lake, sig):
    import dagster as dg
    import httpx

    from dvol_pipeline.serve.app import create_app
    from dvol_pipeline.settings import api_url
    from dvol_pipeline_tests.serve.live_server import live_server

    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("signals"))
    link = event.asset_materialization.metadata["signal_api_BTC"].value
    assert link == f"{api_url()}/signal/BTC?date=2022-06-30"
    with live_server(create_app(lake)) as url:
        served = httpx.get(link.replace(api_url(), url), timeout=10).json()
    assert served["as_of"] == "2022-06-30" and served["yhat_7d"] == pytest.approx(sig["yhat_7d"][0])
    assert served["model_version"] == sig["model_version"][0]
