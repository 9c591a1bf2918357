"""Feature selection: a planted duplicate and a constant column are dropped, SHAP pruning keeps the signal,
TreeSHAP equals the shap package's, and only the training window is read."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.learn.explain import tree_shap
from dvol_pipeline.quant.micro.models.select import (
    SHAP_PARAMS,
    SelectConfig,
    select_features,
)


def _frame(n: int = 2000, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    return pl.DataFrame({"x": x, "dup": 3 * x + 1, "near": x + 0.2 * rng.standard_normal(n), "const": np.ones(n),
                         "empty": np.full(n, np.nan), **{f"z{i}": rng.standard_normal(n) for i in range(5)},
                         "y": 0.3 * x + rng.standard_normal(n)})


def test_drops_duplicate_and_constant():
    frame = _frame()
    feats = ["x", "dup", "near", "const", "empty", *[f"z{i}" for i in range(5)]]
    sel = select_features(frame, feats, "y", SelectConfig(max_features=40))
    assert set(sel.dropped("variance")) == {"const", "empty"}
    # dup has rho = 1 with x and the same |IC|: the first listed (x) stays; `near` (rho ~ 0.98) has a lower |IC|
    assert set(sel.dropped("correlation")) == {"dup", "near"}
    assert "x" in sel.kept and sel.kept[0] == "x"  # highest |IC| first
    assert sel.log.filter(pl.col("feature") == "near")["reason"][0].startswith("|rho| with x")
    assert len(sel.kept) == 6 and not sel.dropped("shap")


def test_shap_pruning_keeps_the_signal():
    frame = _frame()
    sel = select_features(frame, ["z0", "z1", "x", "z2", "z3", "z4"], "y", SelectConfig(max_features=2))
    assert len(sel.kept) == 2 and sel.kept[0] == "x"
    assert len(sel.dropped("shap")) == 4 and sel.shap["x"] == max(sel.shap.values())


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # shap's own colour maps
def test_tree_shap_matches_the_shap_package():
    import lightgbm as lgb
    import shap

    frame = _frame(500)
    x = frame.select("x", "z0", "z1").to_numpy()
    booster = lgb.train({**SHAP_PARAMS, "num_threads": 1, "seed": 0}, lgb.Dataset(x, frame["y"].to_numpy()), 20)
    np.testing.assert_allclose(tree_shap(booster, x), shap.TreeExplainer(booster).shap_values(x), atol=1e-8)


def test_selection_reads_the_training_window_only():
    frame = _frame().with_row_index("i")
    train = frame.filter(pl.col("i") < 1500)
    feats = ["x", "dup", "near", "const", *[f"z{i}" for i in range(5)]]
    a = select_features(train, feats, "y", SelectConfig(max_features=3))
    # the test period (rows >= 1500) is rewritten: the selection on the training rows cannot move
    changed = frame.with_columns(pl.when(pl.col("i") >= 1500).then(pl.col(c) * 100 - 7).otherwise(pl.col(c))
                                 for c in ["z0", "z1", "const", "y"])
    b = select_features(changed.filter(pl.col("i") < 1500), feats, "y", SelectConfig(max_features=3))
    assert a.kept == b.kept and a.log.equals(b.log)
