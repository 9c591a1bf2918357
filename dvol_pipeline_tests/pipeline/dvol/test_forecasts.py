"""run_month asks the walk-forward config which folds get SHAP and group ablations."""

from __future__ import annotations

from datetime import date

import pytest

from dvol_pipeline.pipeline.dvol.forecasts import run_month
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
