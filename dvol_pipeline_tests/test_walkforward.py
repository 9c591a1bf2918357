"""Walk-forward folds and forecast metrics: purge, no look-ahead, honest statistics."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.metrics import diebold_mariano, forecast_metrics, regime_labels
from dvol_pipeline.quant.walkforward import fold_for_month, monthly_folds, split

FIRST, LAST = date(2021, 3, 24), date(2024, 12, 31)


@pytest.mark.parametrize("horizon", [1, 7, 14])
def test_folds_purge_the_horizon_and_never_train_on_the_future(horizon):
    folds = monthly_folds(FIRST, LAST, horizon)
    assert folds[-1].key == "2024-12"
    for f in folds:
        assert f.train_end + timedelta(days=horizon) < f.test_start  # every training label is known
        assert (f.train_end - f.train_start).days + 1 >= 365
        assert f.test_start.day == 1 and f.test_end.month == f.test_start.month
    first = folds[0]
    # the first fold is the first month with a full year of purged history
    earlier = fold_for_month(f"{first.test_start - timedelta(days=1):%Y-%m}", horizon, FIRST)
    assert (earlier.train_end - FIRST).days + 1 < 365


def test_rolling_window_and_split():
    fold = fold_for_month("2023-04", 7, FIRST, window="rolling", rolling_days=400)
    assert (fold.train_end - fold.train_start).days + 1 == 400
    days = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
    frame = pl.DataFrame({"date": days, "y_7d": [1.0] * (len(days) - 7) + [None] * 7})
    train, test = split(frame, fold, "y_7d")
    assert train["date"].max() == date(2023, 3, 24) and test["date"].min() == date(2023, 4, 1)
    assert test.height == 30
    with pytest.raises(ValueError, match="rolling_days"):
        fold_for_month("2023-04", 7, FIRST, window="rolling")


def test_forecast_metrics_against_known_values():
    y = np.array([1.0, -2.0, 3.0, -1.0, 0.0])
    perfect = forecast_metrics(y, y)
    assert perfect.rmse == 0 and perfect.r2_oos == 1 and perfect.hit_rate == 1 and perfect.spearman == pytest.approx(1)
    zero = forecast_metrics(y, np.zeros(5))
    assert zero.r2_oos == 0 and zero.rmse == pytest.approx(np.sqrt(15 / 5))
    assert forecast_metrics(y, -y).hit_rate == 0
    assert forecast_metrics(np.array([1.0, np.nan]), np.array([1.0, 2.0])).n == 1


def test_diebold_mariano_detects_a_better_forecast_and_not_a_coin_flip():
    rng = np.random.default_rng(0)
    y = rng.normal(size=2000)
    good = y + rng.normal(scale=0.5, size=2000)
    bad = y + rng.normal(scale=1.0, size=2000)
    stat, p = diebold_mariano(y, good, bad, horizon=7)
    assert stat < -5 and p < 1e-6
    stat, p = diebold_mariano(y, bad, bad + rng.normal(scale=1e-3, size=2000), horizon=1)
    assert p > 0.01


def test_regimes_use_the_given_history_only():
    history = pl.Series(range(1, 100), dtype=pl.Float64)
    labels = regime_labels(pl.Series([10.0, 50.0, 90.0, 500.0]), history)
    assert labels.to_list() == ["low", "mid", "high", "high"]
