"""Issue 23, item 7, step 6 of residual.py: a residual family keeps its window's λ only if its
residual forecasts of earlier folds, out of sample, also add to HAR (the track record).

The panels are test_residual.py's, built by hand so the truth is known: with
2·sign(skew) in y, a family's window opens λ > 0. The track record is then made by hand:
the residual forecasts of an earlier fold replaced by noise unrelated to HAR's errors
(must close the gate) or left as the family made them (they carry the signal: must stay
open). "Equal to HAR" is the `har` family's own rows; the slope is the least-squares
formula computed here.
"""

from __future__ import annotations

import copy
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.lake.model_store import ModelStore
from dvol_pipeline.quant.dvol.forecast import PREDICTION_SCHEMA, gate_residual_families
from dvol_pipeline.quant.learn.folds import fold_for_month
from dvol_pipeline.quant.learn.registry import load_forecaster
from dvol_pipeline.quant.learn.residual import track_record
from dvol_pipeline_tests.quant.learn.test_residual import FIRST, H, fit, fold_split, panel

FAMILIES = ("har", "lightgbm")


def _past(n_days: int = 120, slope: float = 0.5, seed: int = 0) -> pl.DataFrame:
    """`oos_predictions`-shaped rows of two families for two assets: HAR's y_hat, the residual
    family's raw residual forecast f, and y = HAR + slope·f + N(0, 0.1²)."""
    rng = np.random.default_rng(seed)
    days = [FIRST + timedelta(days=k) for k in range(n_days) for _ in range(2)]
    base = pl.DataFrame({"date": days, "asset": ["BTC", "ETH"] * n_days}).with_columns(
        pl.lit(H, pl.Int32).alias("horizon"), pl.lit("2021-01").alias("fold"))
    har, f = rng.normal(0, 3, 2 * n_days), rng.normal(0, 1, 2 * n_days)
    y = har + slope * f + rng.normal(0, 0.1, 2 * n_days)
    return pl.concat([
        base.with_columns(pl.lit("har").alias("family"), pl.Series("y_hat", har), pl.Series("y", y),
                          pl.lit(None, pl.Float64).alias("residual_hat")),
        base.with_columns(pl.lit("lightgbm").alias("family"), pl.Series("y_hat", har + f), pl.Series("y", y),
                          pl.Series("residual_hat", f)),
    ])


def test_the_track_record_is_the_encompassing_test_of_har_errors_on_the_residual_forecasts():
    past = _past()
    mine = past.filter(pl.col("family") == "lightgbm")
    r = (mine["y"] - past.filter(pl.col("family") == "har")["y_hat"]).to_numpy()
    f = mine["residual_hat"].to_numpy()
    record = track_record(past, "lightgbm", H)
    assert record["lambda"] == pytest.approx(float(np.sum(r * f) / np.sum(f * f)), abs=1e-6)  # OLS through 0
    assert 0.45 < record["lambda"] < 0.55 and record["folds"] == 1
    # noise unrelated to HAR's errors, another horizon's rows only, or a lake written before the column: closed
    noise = past.with_columns(pl.when(pl.col("family") == "lightgbm")
                              .then(pl.Series(np.random.default_rng(9).normal(0, 1, past.height)))
                              .alias("residual_hat"))
    assert track_record(noise, "lightgbm", H)["lambda"] == 0.0
    assert track_record(past, "lightgbm", 14)["lambda"] == 0.0
    assert track_record(past.drop("residual_hat"), "lightgbm", H)["lambda"] == 0.0
    assert track_record(past.head(0), "lightgbm", H)["folds"] == 0


def _rows(models: dict, test: pl.DataFrame, key: str) -> pl.DataFrame:
    """The fold's `oos_predictions` rows as run_fold writes them (the residual family's raw
    residual forecast with its rows)."""
    base = test.select("date", "asset", pl.lit(H, pl.Int32).alias("horizon"), pl.lit(key).alias("fold"),
                       pl.col("y_7").alias("y"))
    return pl.concat([base.with_columns(pl.lit(f).alias("family"), pl.Series("y_hat", m.predict(test)),
                                        pl.Series("residual_hat", m.residual(test) if f != "har" else
                                                  np.full(test.height, None, dtype=float)))
                      for f, m in models.items()]).select(*PREDICTION_SCHEMA).cast(PREDICTION_SCHEMA)


@pytest.fixture(scope="module")
def signal_folds():
    """The signal panel's folds 2023-04 (the track record: its rows) and 2023-05 (fitted models,
    its rows), LightGBM's window λ > 0 in both."""
    frame = panel(2.0)
    folds = {}
    for key in ("2023-04", "2023-05"):
        train, test = fold_split(frame, key)
        folds[key] = {f: fit(f, train) for f in FAMILIES}, test
    earlier = _rows(*folds["2023-04"], "2023-04")
    models, test = folds["2023-05"]
    return models, test, _rows(models, test, "2023-05"), earlier


def _gate(signal_folds, past):
    models, test, rows, _ = signal_folds
    fresh = {f: copy.deepcopy(m) for f, m in models.items()}
    closed, out = gate_residual_families(fold_for_month("2023-05", H, FIRST), fresh, rows, past)
    return fresh, closed, {f: g.sort("date", "asset") for (f,), g in out.group_by("family")}


def test_a_residual_family_whose_earlier_residual_forecasts_did_not_help_forecasts_har(signal_folds):
    """The window says λ > 0; earlier folds' residual forecasts were noise: the fold forecasts
    HAR exactly (its rows are the `har` rows), and the model says why (it is saved so)."""
    models, test, rows, earlier = signal_folds
    window = models["lightgbm"].state["shrinkage"]
    assert window > 0  # what the window alone uses
    rng = np.random.default_rng(4)
    noise = earlier.with_columns(pl.when(pl.col("family") == "lightgbm")
                                 .then(pl.Series(rng.normal(0, 3, earlier.height))).alias("residual_hat"))
    gated, closed, out = _gate(signal_folds, noise)
    assert closed == ["lightgbm"]
    assert out["lightgbm"]["y_hat"].equals(out["har"]["y_hat"])
    model = gated["lightgbm"]
    assert model.state["shrinkage"] == 0.0 and model.state["window_shrinkage"] == window
    assert model.params()["track_record"]["lambda"] == 0.0
    assert np.array_equal(model.predict(test), models["har"].predict(test))
    # a run without the `har` family: the rows are taken back to HAR's by subtracting λ·r̂ (to rounding)
    fresh = {f: copy.deepcopy(m) for f, m in models.items()}
    _, alone = gate_residual_families(fold_for_month("2023-05", H, FIRST), fresh,
                                      rows.filter(pl.col("family") != "har"), noise)
    assert np.allclose(alone.sort("date", "asset")["y_hat"].to_numpy(), out["har"]["y_hat"].to_numpy(),
                       rtol=0, atol=1e-9)
    # the raw residual forecast stays recorded: the next fold's track record reads it
    assert out["lightgbm"]["residual_hat"].equals(rows.filter(pl.col("family") == "lightgbm")
                                                  .sort("date", "asset")["residual_hat"])


def test_a_residual_family_whose_earlier_residual_forecasts_helped_keeps_its_window_lambda(signal_folds):
    models, _, rows, earlier = signal_folds
    gated, closed, out = _gate(signal_folds, earlier)
    assert closed == [] and gated["lightgbm"].params()["track_record"]["lambda"] > 0
    assert gated["lightgbm"].state["shrinkage"] == models["lightgbm"].state["shrinkage"] > 0
    assert pl.concat(out.values()).sort("family", "date", "asset").equals(rows.sort("family", "date", "asset"))
    # no earlier folds (the first fold of a lake): no track record, so HAR
    _, closed, _ = _gate(signal_folds, earlier.head(0))
    assert closed == ["lightgbm"]


def test_the_model_store_re_saves_a_model_loaded_from_the_folder_it_replaces(tmp_path):
    """add_ensembles re-saves the residual families it gates, loaded from their own folder, which
    read their weights on first use: the store writes beside the folder, then swaps (before, it
    removed the folder first and the save found no booster to read)."""
    train, test = fold_split(panel(2.0))
    store = ModelStore(tmp_path, loader=load_forecaster)
    store.save(fit("lightgbm", train), "lightgbm", "2023-05", H)
    loaded = store.load("lightgbm", "2023-05", H)
    loaded.state["shrinkage"] = 0.0
    store.save(loaded, "lightgbm", "2023-05", H)
    again = store.load("lightgbm", "2023-05", H)
    assert again.state["shrinkage"] == 0.0 and np.isfinite(again.residual(test)).all()
    assert sorted(p.name for p in store.folder("lightgbm", "2023-05", H).parent.iterdir()) == [f"h{H}"]
