"""The LightGBM wrapper every lane configures: the same booster as a direct LightGBM call,
the scikit-learn classifier's probabilities, labels in `classes` order, save / load."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm
import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.learn.base import Model
from dvol_pipeline.quant.learn.gbm import LightGBMClassifier, LightGBMRegressor

PARAMS = {"learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20, "feature_fraction": 0.8,
          "bagging_fraction": 0.8, "bagging_freq": 1, "verbose": -1}
FEATURES = ["a", "b", "c", "empty"]


def frame(n: int = 600, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x[:, 0] - 0.5 * x[:, 1] + rng.normal(0, 0.5, n)
    a = np.where(rng.uniform(size=n) < 0.05, np.nan, x[:, 0])  # some missing values
    return pl.DataFrame({
        "a": a, "b": x[:, 1], "c": x[:, 2], "empty": pl.Series([None] * n, dtype=pl.Float64), "y": y,
        "win": y > 0, "tier": np.where(y < -0.5, "low", np.where(y > 0.5, "high", "mid")),
    })


def test_the_regressor_is_a_direct_lightgbm_train_with_seed_threads_and_determinism():
    data = frame()
    model = LightGBMRegressor(3, params=PARAMS, rounds=40).fit(data, FEATURES, "y")
    x = data.select(FEATURES).to_numpy()
    direct = lightgbm.train({**PARAMS, "objective": "regression", "seed": 3, "num_threads": 1, "deterministic": True,
                             "force_row_wise": True}, lightgbm.Dataset(x, data["y"].to_numpy()), num_boost_round=40)
    assert np.array_equal(model.predict(data), direct.predict(x))
    assert isinstance(model, Model) and model.params()["fitted"]["rounds"] == 40
    assert model.lgb_params()["seed"] == 3 and "bagging_seed" not in model.lgb_params()
    seeded = LightGBMRegressor(3, params=PARAMS, seed_all=True).lgb_params()
    assert seeded["bagging_seed"] == seeded["feature_fraction_seed"] == seeded["data_random_seed"] == 3
    with pytest.raises(TypeError, match="no class probabilities"):
        model.predict_proba(data)


def test_the_binary_classifier_gives_the_scikit_learn_classifiers_probabilities():
    data = frame()
    model = LightGBMClassifier(7, params={**PARAMS, "max_bin": 63}, rounds=30, classes=[False, True]).fit(
        data, FEATURES, "win")
    sk = lightgbm.LGBMClassifier(n_estimators=30, learning_rate=0.1, num_leaves=7, min_child_samples=20, max_bin=63,
                                 subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=7,
                                 deterministic=True, force_row_wise=True, n_jobs=1, verbose=-1)
    x = data.select(FEATURES).to_numpy()
    expected = sk.fit(x, data["win"].to_numpy()).predict_proba(x)
    assert np.array_equal(model.predict_proba(data), expected)
    assert model.predict(data).tolist() == [bool(p > 0.5) for p in expected[:, 1]]


def test_multiclass_labels_follow_the_classes_order():
    data = frame()
    classes = ["low", "mid", "high"]
    model = LightGBMClassifier(0, params=PARAMS, rounds=20, classes=classes).fit(data, ["a", "b"], "tier")
    p = model.predict_proba(data)
    assert p.shape == (data.height, 3) and np.allclose(p.sum(axis=1), 1)
    assert model.lgb_params()["objective"] == "multiclass" and model.lgb_params()["num_class"] == 3
    # the most likely class is mostly right, so the columns are in `classes` order
    assert (model.predict(data) == data["tier"].to_numpy()).mean() > 0.6
    with pytest.raises(ValueError, match="not one of"):
        LightGBMClassifier(0, params=PARAMS, rounds=5, classes=["low", "high"]).fit(data, ["a"], "tier")
    with pytest.raises(ValueError, match="distinct"):
        LightGBMClassifier(0, classes=["low", "low"])


def test_early_stopping_keeps_the_best_iteration_through_save_and_load(tmp_path: Path):
    data = frame(900)
    x, y = data.select(FEATURES).to_numpy(), data["y"].to_numpy()
    model = LightGBMRegressor(0, params=PARAMS, rounds=500, early_stopping_rounds=10)
    model.fit_matrix(x[:600], y[:600], FEATURES, valid=(x[600:], y[600:]))
    best = model.state["best_iteration"]
    assert 1 <= best < 500 and model.params()["fitted"]["rounds"] == best
    assert np.array_equal(model.predict(data), model.booster.predict(x, num_iteration=best))
    model.save(tmp_path / "m")
    again = LightGBMRegressor.load(tmp_path / "m")
    assert np.array_equal(again.predict(data), model.predict(data))
    assert again.params() == model.params() and json.dumps(again.params())
    with pytest.raises(ValueError, match="holds a `lightgbm_regressor` model"):
        LightGBMClassifier.load(tmp_path / "m")


def test_a_missing_feature_column_is_an_error_not_a_silent_nan():
    data = frame()
    with pytest.raises(ValueError, match="missing column"):
        LightGBMRegressor(0, params=PARAMS, rounds=5).fit(data.drop("c"), FEATURES, "y")
    model = LightGBMRegressor(0, params=PARAMS, rounds=5).fit(data, FEATURES, "y")
    with pytest.raises(ValueError, match="missing column"):
        model.predict(data.drop("b"))
    with pytest.raises(RuntimeError, match="fit"):
        LightGBMRegressor(0).predict(data)
