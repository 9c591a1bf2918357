"""The explanation helper: TreeSHAP values are the shap package's, and add up to the forecast;
a group ablation refits without each group once and reports the change against the baseline."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.learn.explain import ablate_groups, mean_abs_shap, tree_shap
from dvol_pipeline.quant.learn.gbm import LightGBMRegressor


def test_tree_shap_is_the_shap_packages_treeexplainer_and_adds_up_to_the_prediction():
    shap = pytest.importorskip("shap")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    data = pl.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": x[:, 0] - x[:, 1] + rng.normal(0, 0.3, 400)})
    model = LightGBMRegressor(0, params={"num_leaves": 7, "verbose": -1}, rounds=30).fit(data, ["a", "b", "c"], "y")
    values = tree_shap(model.booster, x)
    assert np.array_equal(values, np.asarray(shap.TreeExplainer(model.booster).shap_values(x)))
    bias = model.booster.predict(x, pred_contrib=True)[:, -1]
    assert np.allclose(values.sum(axis=1) + bias, model.predict(data))
    importance = mean_abs_shap(model.booster, x)
    assert importance[2] < importance[0] and importance[2] < importance[1]  # c is noise


def test_ablate_groups_refits_once_per_group_and_subtracts_the_baseline():
    group_of = {"a1": "a", "a2": "a", "b1": "b", "c1": "c"}.__getitem__
    calls = []

    def refit(group, kept):
        calls.append((group, kept))
        return 1.0 + len(kept)

    rows = ablate_groups(["b1", "a1", "c1", "a2"], group_of, refit, baseline=4.0, skip=("c",))
    assert calls == [("a", ["b1", "c1"]), ("b", ["a1", "c1", "a2"])]
    assert rows == [{"group": "a", "score": 3.0, "delta": -1.0}, {"group": "b", "score": 4.0, "delta": 0.0}]
