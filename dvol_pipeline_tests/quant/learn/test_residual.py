"""Issue 23, item 7: LightGBM and the LSTM are HAR plus a shrunk residual, never worse than HAR
where the data cannot support more.

The panels are built by hand so the truth is known: y is HAR's regression on its own terms
plus i.i.d. noise (no signal beyond HAR: the families must be HAR exactly, λ = 0), or plus a
sign-dependent term of a feature HAR does not read (a signal only a nonlinear model finds:
λ > 0 and the family beats HAR out of sample). Expected values come from the construction,
not from the code under test: "equal to HAR" is the `har` family's own forecast, and
"beats HAR" is measured against the known test labels.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.learn import make_forecaster
from dvol_pipeline.quant.learn.folds import fold_for_month, split
from dvol_pipeline.quant.learn.residual import choose_shrinkage, combine

H = 7
FEATURES = ["dvol", "dvol_mean_5", "dvol_mean_22", "rv_1", "rv_5", "rv_22", "skew", "noise"]
FIRST = date(2021, 1, 1)
FAST = {"lstm": {"seq_len": 10, "min_history": 10, "hidden": 8, "max_epochs": 25, "patience": 3, "lr": 1e-2}}


@lru_cache(maxsize=4)
def panel(signal: float, n_days: int = 900, seed: int = 0) -> pl.DataFrame:
    """Two assets; HAR's terms are AR/noise series around a level; `skew` and `noise` are
    i.i.d. N(0, 1) features HAR does not read. y_7 = a linear function of HAR's terms +
    `signal` · sign(skew) + N(0, 2²) noise, i.i.d. across rows (so nothing beyond HAR's
    linear part is predictable when signal = 0)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, asset in enumerate(("BTC", "ETH")):
        level = 60.0 + 10 * i + np.cumsum(rng.normal(0, 0.3, n_days))
        dvol = level + rng.normal(0, 2.0, n_days)
        f = pl.DataFrame({
            "date": [FIRST + timedelta(days=k) for k in range(n_days)], "asset": asset, "dvol": dvol,
            "rv_1": level * 0.8 + rng.normal(0, 5.0, n_days), "skew": rng.normal(0, 1, n_days),
            "noise": rng.normal(0, 1, n_days),
        }).with_columns(
            pl.col("dvol").rolling_mean(5, min_samples=1).alias("dvol_mean_5"),
            pl.col("dvol").rolling_mean(22, min_samples=1).alias("dvol_mean_22"),
            pl.col("rv_1").rolling_mean(5, min_samples=1).alias("rv_5"),
            pl.col("rv_1").rolling_mean(22, min_samples=1).alias("rv_22"),
        )
        linear = 0.3 * (f["dvol_mean_22"] - f["dvol"]) + 0.05 * (f["rv_22"] - f["dvol"])
        y = linear.to_numpy() + signal * np.sign(f["skew"].to_numpy()) + rng.normal(0, 2.0, n_days)
        frames.append(f.with_columns(pl.Series("y_7", y)))
    return pl.concat(frames).sort("date", "asset")


def fold_split(frame: pl.DataFrame, key: str = "2023-05") -> tuple[pl.DataFrame, pl.DataFrame]:
    """The walk-forward fold of month `key`: purged expanding training window, the month as test."""
    return split(frame, fold_for_month(key, H, FIRST), "y_7")


def fit(family: str, train: pl.DataFrame, seed: int = 0):
    return make_forecaster(family, H, seed, **FAST.get(family, {})).fit(train, FEATURES, "y_7")


def r2(y_hat: np.ndarray, y: np.ndarray) -> float:
    return 1.0 - float(np.sum((y - y_hat) ** 2) / np.sum(y**2))


@pytest.mark.parametrize("family", ["lightgbm", "lstm"])
def test_a_residual_of_pure_noise_gives_exactly_har(family):
    """No signal beyond HAR: λ = 0, and the forecasts are the `har` family's, bit for bit
    (before the residual construction the family forecast y directly: not HAR's numbers)."""
    train, test = fold_split(panel(0.0))
    model = fit(family, train)
    har = make_forecaster("har", H).fit(train, FEATURES, "y_7")
    assert np.array_equal(model.predict(test), har.predict(test))
    assert model.state["shrinkage"] == 0.0
    assert model.params()["shrinkage"]["lambda"] == 0.0  # logged with the fold's parameters


@pytest.mark.parametrize("family", ["lightgbm", "lstm"])
def test_a_nonlinear_residual_signal_is_used_and_beats_har(family):
    """y carries 2·sign(skew), which HAR (linear, without skew) cannot see: λ > 0, and on the
    test rows the family's R² beats HAR's by most of what the term explains."""
    frame = panel(2.0)
    train, test = split(frame, fold_for_month("2023-05", H, FIRST), "y_7")
    test = frame.filter(pl.col("date") >= test["date"].min())  # the rest of the panel: a long test
    model = fit(family, train)
    har = make_forecaster("har", H).fit(train, FEATURES, "y_7")
    y = test["y_7"].to_numpy()
    assert 0.0 < model.state["shrinkage"] <= 1.0
    gain = r2(model.predict(test), y) - r2(har.predict(test), y)
    # the term's variance is 4 against y's ~4 + 4 + the linear part: a perfect model gains ~0.4
    assert gain > 0.15, gain


@pytest.mark.parametrize("family", ["lightgbm", "lstm"])
def test_test_window_targets_do_not_change_shrinkage_or_forecasts(family):
    """λ is chosen inside the training window: rewriting every label from the test month on
    (and the features are untouched) leaves λ, its statistics and the forecasts unchanged."""
    frame = panel(2.0)
    fold = fold_for_month("2023-05", H, FIRST)
    changed = frame.with_columns(
        pl.when(pl.col("date") >= fold.test_start).then(pl.col("y_7") * -5 + 30).otherwise(pl.col("y_7")).alias("y_7"))
    (train, test), (train2, test2) = split(frame, fold, "y_7"), split(changed, fold, "y_7")
    a, b = fit(family, train), fit(family, train2)
    assert a.state["shrinkage"] > 0  # a case where λ is not trivially 0
    assert a.state["shrinkage_info"] == b.state["shrinkage_info"]
    assert np.array_equal(a.predict(test), b.predict(test2))


def test_shrinkage_is_the_encompassing_slope_gated_by_its_t_statistic():
    """Hand-computed: r = 0.5·f + small noise gives slope ~0.5 with a large t, so λ = 0.5; a
    slope above 1 is capped at 1; a forecast unrelated to r gives λ = 0; a negative slope too."""
    rng = np.random.default_rng(1)
    days = np.repeat(np.arange(200), 2)  # two assets per day
    f = rng.normal(0, 1, 400)
    noise = rng.normal(0, 0.1, 400)
    half = choose_shrinkage(0.5 * f + noise, f, days, horizon=1)
    assert half["lambda"] == pytest.approx(np.sum((0.5 * f + noise) * f) / np.sum(f * f), abs=1e-6)
    assert 0.45 < half["lambda"] < 0.55 and half["t_hac"] > 2
    assert choose_shrinkage(3.0 * f + noise, f, days, horizon=1)["lambda"] == 1.0
    assert choose_shrinkage(rng.normal(0, 1, 400), f, days, horizon=1)["lambda"] == 0.0
    assert choose_shrinkage(-f + noise, f, days, horizon=1)["lambda"] == 0.0
    assert choose_shrinkage(f[:10], f[:10], days[:10], horizon=1)["lambda"] == 0.0  # too few rows


def test_shrinkage_t_statistic_is_driscoll_kraay():
    """The t-statistic's standard error is statsmodels' Driscoll–Kraay ("hac-groupsum"), which
    on one asset is Newey–West: checked against statsmodels' HAC OLS of a single series."""
    import statsmodels.api as sm

    rng = np.random.default_rng(2)
    f = rng.normal(0, 1, 300)
    r = 0.2 * f + np.convolve(rng.normal(0, 1, 306), np.ones(7) / 7, mode="valid")  # MA(6) errors, like h = 7
    got = choose_shrinkage(r, f, np.arange(300), horizon=7, min_t=0.0)
    nw = sm.OLS(r, f[:, None]).fit(cov_type="HAC", cov_kwds={"maxlags": 7, "use_correction": False})
    assert got["t_hac"] == pytest.approx(float(nw.tvalues[0]), rel=1e-3)
    # the gated t: Harvey, Leybourne & Newbold's (1997) factor, sqrt((T + 1 - 2h + h(h-1)/T) / T), T = 300 days
    assert got["t"] == pytest.approx(got["t_hac"] * np.sqrt((300 + 1 - 14 + 42 / 300) / 300), rel=1e-3)


def test_combine_falls_back_to_har_where_no_residual_forecast():
    har = np.array([1.0, 2.0, 3.0])
    assert np.array_equal(combine(har, np.array([np.nan, 1.0, 2.0]), 0.5), [1.0, 2.5, 4.0])
    assert np.array_equal(combine(har, np.array([np.nan, 1.0, 2.0]), 0.0), har)


def test_a_saved_model_carries_its_har_and_one_saved_before_the_construction_still_loads(tmp_path):
    """The HAR travels in the model folder (`har/`), so a loaded model forecasts the same; a folder
    saved before the residual construction (no `har/`) loads as what it was: the booster's y."""
    import shutil

    from dvol_pipeline.quant.learn import load_forecaster

    train, test = fold_split(panel(2.0))
    model = fit("lightgbm", train)
    model.save(tmp_path / "m")
    assert np.array_equal(load_forecaster(tmp_path / "m").predict(test), model.predict(test))
    shutil.rmtree(tmp_path / "m" / "har")
    assert np.array_equal(load_forecaster(tmp_path / "m").predict(test), model.residual(test))
