"""A fold's families fitted in a process pool give exactly the serial result."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.dvol.features import build_features
from dvol_pipeline.quant.dvol.forecast import run_fold
from dvol_pipeline.quant.learn.parallel import balanced_groups, process_pool
from dvol_pipeline.quant.learn.folds import fold_for_month
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket

START, END = date(2021, 3, 24), date(2022, 7, 31)
INPUTS = ("raw_dvol", "raw_ohlcv", "raw_funding", "raw_options_summary", "raw_onchain")


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    market = SimulatedMarket(SimConfig(), end=END)
    return build_features({name: market.table(name, START, END) for name in INPUTS}).frame


def test_balanced_groups_split_by_cost_and_keep_the_order():
    families = ("zero", "mean_reversion", "har", "garch", "lightgbm", "lstm")
    groups = balanced_groups(families, 2)
    assert sorted(f for g in groups for f in g) == sorted(families)
    assert ["lstm"] in groups  # the LSTM alone costs about as much as the rest together
    assert all(g == sorted(g, key=families.index) for g in groups)
    assert balanced_groups(families, 1) == [list(families)]
    assert balanced_groups(("har",), 4) == [["har"]]


def test_a_pooled_fold_equals_the_serial_fold(frame):
    fold = fold_for_month("2022-06", 7, START)
    families = ("zero", "mean_reversion", "har", "garch", "lightgbm", "lstm")
    serial = run_fold(frame, fold, families, seed=4)
    pooled = run_fold(frame, fold, families, seed=4, executor=process_pool(2))
    assert serial.predictions.height == 6 * 2 * 30
    assert pooled.predictions.equals(serial.predictions)
    assert list(pooled.models) == list(serial.models) == list(families)
    tail = frame.filter(pl.col("date") <= fold.test_end)
    for family in families:
        assert np.array_equal(pooled.models[family].predict(tail), serial.models[family].predict(tail), equal_nan=True)
        assert pooled.models[family].params() == serial.models[family].params()


def test_a_run_with_fewer_families_gets_an_ensemble_of_those_it_fitted(frame):
    """Leaving the LSTM (or any member) out must not break the ensemble: it combines what was fitted."""
    past_fold = fold_for_month("2022-05", 7, START)
    past = run_fold(frame, past_fold, ("har", "lightgbm"), seed=1).predictions
    fold = fold_for_month("2022-06", 7, START)
    result = run_fold(frame, fold, ("zero", "har", "lightgbm"), past_oos=past, seed=1)
    ensemble = result.models["ensemble"]
    assert set(ensemble.weighted()) <= {"har", "lightgbm"} and abs(sum(ensemble.weights.values()) - 1) < 1e-12
    rows = result.predictions.filter(pl.col("family") == "ensemble")
    assert rows.height == 2 * 30 and rows["y_hat"].is_finite().all()
    alone = run_fold(frame, fold, ("zero",), past_oos=past, seed=1)
    assert "ensemble" not in alone.models  # no member fitted: no ensemble, and no error
