"""Preprocessing learns from the training window only; validation is the window's end, purged."""

from __future__ import annotations

import copy
from datetime import date, timedelta

import lightgbm
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvol_pipeline.quant.learn import Preprocessor, make_forecaster, split_validation
from dvol_pipeline.quant.learn.preprocess import add_gaps
from dvol_pipeline_tests.quant.learn.test_models import FEATURES, make_panel, split


def test_scaler_is_fit_on_train_only_and_never_refit():
    train, test = split(make_panel(), 7)
    extreme = test.with_columns(pl.col(c) * 50 + 1000 for c in ("dvol", "rv_22", "dvol_mean_22"))
    pre = Preprocessor(["dvol", "rv_22", "dvol_mean_22"]).fit(train)
    before = pre.to_dict()
    x_train = pre.transform(train)
    x_extreme = pre.transform(extreme)
    assert pre.to_dict() == before
    assert np.abs(x_train).max() < 10 and np.abs(x_extreme).min() > 100  # extremes are outside the training scale
    assert before["means"]["dvol"] == pytest.approx(train["dvol"].mean(), rel=1e-12)
    # a model's stored scaler is unchanged by predicting extremes, and equals one fit on train alone
    model = make_forecaster("lstm", 7, max_epochs=3).fit(train, FEATURES, "y_7")
    stored = copy.deepcopy(model.state["preprocessor"])
    model.predict(pl.concat([train, extreme]))
    assert model.state["preprocessor"] == stored
    assert stored["means"]["dvol"] == before["means"]["dvol"] and stored["stds"]["dvol"] == before["stds"]["dvol"]
    # fitting on a frame whose later rows are extreme changes nothing if those rows are cut off first
    polluted = pl.concat([train, extreme]).filter(pl.col("date") <= train["date"].max())
    assert Preprocessor(["dvol", "rv_22", "dvol_mean_22"]).fit(polluted).to_dict() == before


def test_imputation_fills_forward_within_asset_then_uses_training_medians():
    frame = pl.DataFrame({
        "date": [date(2024, 1, d) for d in (1, 2, 3, 1, 2, 3)],
        "asset": ["BTC"] * 3 + ["ETH"] * 3,
        "x": [None, 10.0, None, float("nan"), None, 30.0],
    }).sample(fraction=1.0, shuffle=True, seed=3)
    pre = Preprocessor(["x"], standardize=False).fit(frame)
    assert pre.medians["x"] == 20.0  # median of the observed 10 and 30 (after forward fill: 10, 10, 30)
    out = dict(zip(zip(frame["asset"], frame["date"].dt.day()), pre.transform(frame)[:, 0]))
    assert out == {("BTC", 1): 20.0, ("BTC", 2): 10.0, ("BTC", 3): 10.0,  # BTC's own history only
                   ("ETH", 1): 20.0, ("ETH", 2): 20.0, ("ETH", 3): 30.0}


def test_gap_features_replace_levels_but_keep_dvol():
    frame = pl.DataFrame({"date": [date(2024, 1, 1)], "asset": ["BTC"], "dvol": [50.0], "rv_22": [40.0], "weekday": [1]})
    out, columns = add_gaps(frame, ["dvol", "rv_22", "weekday"])
    assert columns == ["dvol", "weekday", "gap_rv_22"] and out["gap_rv_22"].item() == -10.0
    assert add_gaps(frame, ["dvol", "rv_22"], "add")[1] == ["dvol", "rv_22", "gap_rv_22"]
    assert add_gaps(frame, ["dvol", "rv_22"], "none")[1] == ["dvol", "rv_22"]


@settings(max_examples=60, deadline=None)
@given(n_days=st.integers(60, 900), horizon=st.sampled_from([1, 7, 14]), fraction=st.floats(0.05, 0.4))
def test_validation_is_the_end_of_the_window_with_a_horizon_purge(n_days, horizon, fraction):
    days = [date(2021, 1, 1) + timedelta(days=k) for k in range(n_days)]
    dates = pl.Series("date", days + days)  # two assets
    result = split_validation(dates, horizon, fraction=fraction, min_days=30)
    if result is None:
        assert n_days - max(30, round(fraction * n_days)) < 60 + horizon
        return
    train, val, info = result
    d = dates.to_numpy()
    assert not (train & val).any()
    assert d[val].min() > d[train].max()  # validation strictly after train-proper
    assert d[val].max() == d.max()  # it runs to the end of the window
    first_val = d[val].min()
    assert (d[train] + np.timedelta64(horizon, "D") < first_val).all()  # no train label reaches validation
    assert (d[~train & ~val] >= first_val - np.timedelta64(horizon, "D")).all()  # only the purge is dropped
    assert (~train & ~val).sum() == 2 * horizon
    assert info["purge_days"] == horizon and info["validation_end"] == str(days[-1])


def test_lightgbm_early_stops_on_the_purged_inner_slices(monkeypatch):
    """The booster learns HAR's residual on inner-train and early-stops on the stopping slice;
    the λ slice is the window's last 15 % of dates; each slice is purged from the next by h
    days; λ's booster learns on every row before the λ slice, the final one on the whole
    window. The expected labels are the `har` family's own residuals on the same rows."""
    train, _ = split(make_panel(), 7)
    calls = []
    real_train = lightgbm.train

    def spy(params, train_set, num_boost_round=100, valid_sets=None, **kwargs):
        calls.append((train_set, valid_sets, num_boost_round, params))
        return real_train(params, train_set, num_boost_round=num_boost_round, valid_sets=valid_sets, **kwargs)

    monkeypatch.setattr(lightgbm, "train", spy)
    model = make_forecaster("lightgbm", 7, seed=4).fit(train, FEATURES, "y_7")
    info = model.params()["fitted"]["validation"]
    labelled = train.drop_nulls("y_7")
    val_start, val_end = date.fromisoformat(info["validation_start"]), date.fromisoformat(info["validation_end"])
    shrink_start = date.fromisoformat(info["shrinkage_start"])
    assert info["shrinkage_end"] == str(labelled["date"].max())
    assert date.fromisoformat(info["train_end"]) + timedelta(days=7) < val_start
    assert val_end + timedelta(days=7) < shrink_start
    n_dates = labelled["date"].n_unique()
    assert labelled.filter(pl.col("date") >= shrink_start)["date"].n_unique() == round(0.15 * n_dates)
    (fit_set, (val_set,), _, params), (pre_set, _, pre_rounds, _), (refit_set, _, rounds, _) = calls
    inner = labelled.filter(pl.col("date") < val_start - timedelta(days=7))
    har = make_forecaster("har", 7, seed=4).fit(inner, FEATURES, "y_7")
    stop = labelled.filter(pl.col("date").is_between(val_start, val_end))
    expected_val = stop["y_7"].to_numpy() - har.predict(stop)
    expected_fit = inner["y_7"].to_numpy() - har.predict(inner)
    np.testing.assert_allclose(np.sort(val_set.get_label()), np.sort(expected_val).astype(np.float32), rtol=1e-5)
    np.testing.assert_allclose(np.sort(fit_set.get_label()), np.sort(expected_fit).astype(np.float32), rtol=1e-5)
    assert expected_val.size >= 0.2 * labelled.height  # 30 % of the dates before the λ slice by default
    # λ's booster: every row before the λ slice (purged), on the residuals of HAR fitted on those rows
    pre = labelled.filter(pl.col("date") < shrink_start - timedelta(days=7))
    pre_har = make_forecaster("har", 7, seed=4).fit(pre, FEATURES, "y_7")
    np.testing.assert_allclose(pre_set.get_label(), (pre["y_7"].to_numpy() - pre_har.predict(pre)).astype(np.float32),
                               rtol=1e-5)
    assert pre_rounds == rounds
    full_har = make_forecaster("har", 7, seed=4).fit(train, FEATURES, "y_7")
    np.testing.assert_allclose(refit_set.get_label(), (labelled["y_7"].to_numpy() - full_har.predict(labelled))
                               .astype(np.float32), rtol=1e-5)  # the refit learns the full HAR's residual
    assert refit_set.num_data() == labelled.height and rounds == model.params()["fitted"]["rounds"]
    assert params["deterministic"] and params["force_row_wise"] and params["num_threads"] == 1 and params["seed"] == 4


def test_short_windows_train_without_a_validation_slice():
    train, test = split(make_panel(), 7)
    short = train.filter(pl.col("date") >= train["date"].max() - timedelta(days=80))
    gbm = make_forecaster("lightgbm", 7, rounds_no_val=30).fit(short, FEATURES, "y_7")
    assert gbm.params()["fitted"]["validation"] is None and gbm.params()["fitted"]["rounds"] == 30
    assert any("too short" in n for n in gbm.params()["notes"])
    assert np.isfinite(gbm.predict(test)).all()
