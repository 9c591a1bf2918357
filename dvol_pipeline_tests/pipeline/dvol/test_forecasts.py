"""run_month asks the walk-forward config which folds get SHAP and group ablations; the
walk-forward reads only the feature days its folds use."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from dvol_pipeline.lake.parquet import write_partitions
from dvol_pipeline.pipeline.dvol.forecasts import read_fold_features, run_month
from dvol_pipeline.quant.dvol.features import build_features
from dvol_pipeline.quant.learn.folds import WalkForwardConfig
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

START, END = date(2021, 3, 24), date(2022, 5, 31)
INPUTS = ("raw_dvol", "raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain")


@pytest.fixture(scope="module")
def features():
    market = SimulatedMarket(SimConfig(), end=END)
    return build_features({name: market.table(name, START, END) for name in INPUTS}).frame.sort("asset", "date")


def test_only_the_folds_the_config_picks_are_explained(lake, features):
    # every family: with no earlier fold the ensemble weighs all its members equally
    plain = run_month(lake, features, "2022-05", START, WalkForwardConfig(), newest=False)
    assert plain.shap is None and plain.ablations is None  # 2022-05 is not a 6th month from 2022-04
    newest = run_month(lake, features, "2022-05", START, WalkForwardConfig(), newest=True)
    assert set(newest.shap["horizon"]) == set(newest.ablations["horizon"]) == {1, 7, 14}
    assert newest.predictions.equals(plain.predictions)  # explaining changes no forecast
    off = run_month(lake, features, "2022-05", START, WalkForwardConfig(explain=False), newest=True)
    assert off.shap is None and off.predictions.equals(plain.predictions)


def test_the_walk_forward_reads_the_feature_days_of_its_folds_only(tmp_path):
    days = [START + timedelta(days=i) for i in range((date(2023, 8, 31) - START).days + 1)]
    write_partitions(tmp_path, "features_daily", pl.DataFrame(
        {"date": days * 2, "asset": ["BTC"] * len(days) + ["ETH"] * len(days), "dvol": 50.0}))
    expanding = read_fold_features(tmp_path, ["BTC"], ["2022-05", "2022-06"], START)
    assert (expanding["date"].min(), expanding["date"].max()) == (START, date(2022, 6, 30))
    assert expanding["asset"].unique().to_list() == ["BTC"]
    rolling = WalkForwardConfig(window="rolling", rolling_days=200)
    late = read_fold_features(tmp_path, ["BTC", "ETH"], ["2023-04"], START, rolling)
    # the 14-day fold's training window starts first: it ends 15 days before April, 200 days long
    assert (late["date"].min(), late["date"].max()) == (date(2022, 8, 30), date(2023, 4, 30))
    # a month with no fold that has enough history reads nothing
    assert read_fold_features(tmp_path, ["BTC"], ["2021-06"], START).is_empty()


def test_a_folds_saved_residual_models_carry_the_track_record_gate_that_wrote_its_rows(tmp_path, features):
    """Phase 2 gates LightGBM's and the LSTM's λ on earlier folds' residual forecasts and re-saves
    them, so the model an end-of-day run loads forecasts what the fold's rows say. The lake's
    first fold has no earlier fold (no track record: HAR); the second reads the first's."""
    from dvol_pipeline.pipeline.dvol.forecasts import model_store, read_predictions

    outcomes = {key: run_month(tmp_path, features, key, START, WalkForwardConfig(explain=False), newest=False)
                for key in ("2022-04", "2022-05")}
    rows = read_predictions(tmp_path)
    store = model_store(tmp_path)
    checked = 0
    for key, outcome in outcomes.items():
        for h, fitted in outcome.fitted.items():
            mine = rows.filter((pl.col("fold") == key) & (pl.col("horizon") == h))
            har = mine.filter(pl.col("family") == "har").sort("date", "asset")
            before = rows.filter((pl.col("fold") < key) & (pl.col("horizon") == h))["fold"].n_unique()
            for family in ("lightgbm", "lstm"):
                model = store.load(family, key, h)
                record = model.state["track_record"]
                assert record["folds"] == before, (key, h, family, record)
                own = mine.filter(pl.col("family") == family).sort("date", "asset")
                assert own["residual_hat"].is_not_null().any()  # recorded for the next fold's record
                if record["lambda"] == 0:
                    assert model.state["shrinkage"] == 0.0 and own["y_hat"].equals(har["y_hat"])
                checked += 1
    assert checked >= 6 and outcomes["2022-05"].fitted.keys() >= {1, 7}
