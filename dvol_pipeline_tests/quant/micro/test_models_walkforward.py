"""Walk-forward: finds a planted signal out of sample, nothing on noise, the same predictions for the same
seed, cross-symbol rows never trained on the test symbol, and the MLflow records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.micro.models.ic import spearman
from dvol_pipeline.quant.micro.models.select import SelectConfig
from dvol_pipeline.quant.micro.models.validate import FoldConfig
from dvol_pipeline.quant.micro.models.walkforward import (
    CROSS_SCHEMA,
    FOLD_SCHEMA,
    PRED_SCHEMA,
    WalkForwardConfig,
    mlflow_records,
    run_walkforward,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
LABEL = "label_ret_10s"
FEATURES = ["x", "z0", "z1", "z2"]


def _synth(n: int, beta: float, symbols=("BTCUSDT",), seed: int = 0) -> pl.DataFrame:
    """1-s bars; y = beta x + N(0, 1), x and the z's N(0, 1)."""
    rng = np.random.default_rng(seed)
    ts = pl.datetime_range(T0, T0 + timedelta(seconds=n - 1), "1s", eager=True, time_unit="ns")
    parts = []
    for s in symbols:
        x = rng.standard_normal(n)
        parts.append(pl.DataFrame({"ts": ts, "venue": "sim_usdm", "symbol": s, "bar": "1s", "x": x,
                                   **{f"z{i}": rng.standard_normal(n) for i in range(3)},
                                   LABEL: beta * x + rng.standard_normal(n)}))
    return pl.concat(parts)


def _config(**kw) -> WalkForwardConfig:
    # scaled down: 4 h minimum training, 1 h test and step, 1 min embargo (the plan's days as hours)
    folds = FoldConfig(timedelta(hours=4), timedelta(hours=1), timedelta(hours=1), timedelta(minutes=1))
    base = {"horizon": "10s", "horizon_bars": 10, "bar_width": timedelta(seconds=1), "folds": folds,
            "families": ("lgbm_reg",), "select": SelectConfig(max_features=3), "n_trials": 0, "rounds": 40}
    return WalkForwardConfig(**(base | kw))


def test_finds_a_planted_signal():
    res = run_walkforward(_synth(5 * 3600 + 60, 0.1), FEATURES, LABEL, _config())
    p = res.predictions
    assert p.schema == pl.Schema(PRED_SCHEMA) and res.fold_metrics.schema == pl.Schema(FOLD_SCHEMA)
    assert p["fold"].unique().to_list() == [0] and p.height == 3600
    ic = spearman(p["y_hat"].to_numpy(), p["y"].to_numpy())
    assert ic > 0.05, ic  # y = 0.1 x + noise: the population rank IC is ~0.095
    assert res.records[0].selection.kept[0] == "x"


def test_finds_nothing_on_noise():
    res = run_walkforward(_synth(5 * 3600 + 60, 0.0, seed=3), FEATURES, LABEL, _config())
    ic = res.fold_metrics["ic"][0]
    assert abs(ic) < 0.05, ic  # 3540 test rows: the IC's standard error is ~0.017


@pytest.mark.slow
def test_same_seed_same_predictions_with_tuning():
    frame = _synth(4 * 3600 + 1860, 0.1, seed=1)
    cfg = _config(families=("lgbm_reg", "lgbm_clf"), n_trials=2, cv_splits=3, cv_embargo_bars=10,
                  max_tune_rows=3000, folds=FoldConfig(timedelta(hours=4), timedelta(minutes=30),
                                                       timedelta(minutes=30), timedelta(minutes=1)))
    a = run_walkforward(frame, FEATURES, LABEL, cfg)
    b = run_walkforward(frame, FEATURES, LABEL, cfg)
    assert a.predictions.equals(b.predictions) and a.predictions.height > 0
    assert [r.params for r in a.records] == [r.params for r in b.records]
    clf = a.predictions.filter(pl.col("family") == "lgbm_clf")
    assert clf["p_up"].is_between(0, 1).all()
    np.testing.assert_allclose(clf["y_hat"].to_numpy(), 2 * clf["p_up"].to_numpy() - 1)
    recs = mlflow_records(a)
    assert len(recs) == 2 and {"ic", "auc", "cv_score"} <= set(recs[0]["metrics"])
    assert recs[0]["params"]["features_kept"] and "lgbm.num_leaves" in recs[0]["params"]
    assert any(k.startswith("shap.") for k in recs[0]["metrics"])


def test_cross_symbol_never_trains_on_the_test_symbol():
    frame = _synth(2 * 3600 + 1860, 0.1, symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"))
    cfg = _config(folds=FoldConfig(timedelta(hours=2), timedelta(minutes=30), timedelta(minutes=30),
                                   timedelta(minutes=1)), rounds=20)
    a = run_walkforward(frame, FEATURES, LABEL, cfg)
    assert a.cross_symbol.schema == pl.Schema(CROSS_SCHEMA)
    assert a.cross_symbol["train_symbol"].unique().to_list() == ["BTCUSDT"]
    assert sorted(a.cross_symbol["test_symbol"].to_list()) == ["ETHUSDT", "SOLUSDT"]
    assert (a.cross_symbol["ic"] > 0.03).all()  # the same planted relation holds on every coin
    # rewrite ETH's and SOL's training-window labels: the cross-symbol result cannot move
    cut = T0 + timedelta(hours=2)
    changed = frame.with_columns(pl.when((pl.col("symbol") != "BTCUSDT") & (pl.col("ts") < cut))
                                 .then(-pl.col(LABEL)).otherwise(pl.col(LABEL)).alias(LABEL))
    b = run_walkforward(changed, FEATURES, LABEL, cfg)
    assert a.cross_symbol.equals(b.cross_symbol)
