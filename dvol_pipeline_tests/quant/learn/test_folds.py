"""Walk-forward folds and forecast metrics: purge, no look-ahead, honest statistics."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.evaluate.forecast import diebold_mariano, forecast_metrics, regime_labels
from dvol_pipeline.quant.learn.folds import (
    WalkForwardConfig,
    feature_span,
    fold_for_month,
    month_start,
    month_folds,
    monthly_folds,
    split,
)

FIRST, LAST = date(2021, 3, 24), date(2024, 12, 31)


def test_month_start_from_a_day_or_a_fold_key():
    assert month_start(date(2024, 2, 29)) == month_start("2024-02") == date(2024, 2, 1)
    assert month_start("2021-12") == date(2021, 12, 1) == fold_for_month("2021-12", 7, FIRST).test_start


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


def test_a_months_folds_are_the_ones_monthly_folds_generates_and_the_rest_say_why():
    config = WalkForwardConfig(min_history_days=365)
    generated = {h: {f.key: f for f in monthly_folds(FIRST, LAST, h, 365)} for h in (1, 7, 14)}
    for key in ("2022-03", "2022-04", "2022-05", "2023-01"):
        month = month_folds(key, (1, 7, 14), FIRST, config)
        assert set(month.runs) | set(month.skipped) == {1, 7, 14} and not set(month.runs) & set(month.skipped)
        for h in (1, 7, 14):
            assert month.runs.get(h) == generated[h].get(key)
    april = month_folds("2022-04", (1, 7, 14), FIRST, config)
    assert april.skipped == {14: "359 days of purged history < 365"} and set(april.runs) == {1, 7}


def test_the_feature_span_covers_training_windows_and_the_prediction_context():
    folds = [f for k in ("2022-05", "2022-06") for f in month_folds(k, (1, 7, 14), FIRST).runs.values()]
    assert feature_span(folds, 120) == (FIRST, date(2022, 6, 30))  # expanding: from the first day
    rolling = WalkForwardConfig(window="rolling", rolling_days=60)
    short = list(month_folds("2023-04", (1, 7, 14), FIRST, rolling).runs.values())
    assert min(f.train_start for f in short) > date(2023, 4, 1) - timedelta(days=120)
    assert feature_span(short, 120) == (date(2023, 4, 1) - timedelta(days=120), date(2023, 4, 30))
    assert feature_span([], 120) is None


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


def test_which_folds_are_explained_is_decided_by_the_config():
    default = WalkForwardConfig()
    months = [f"{y}-{m:02d}" for y in (2022, 2023, 2024) for m in range(1, 13) if f"{y}-{m:02d}" >= "2022-04"]
    assert [k for k in months if default.explains(k)] == ["2022-04", "2022-10", "2023-04", "2023-10", "2024-04",
                                                         "2024-10"]
    assert default.explains("2024-12", newest=True) and not default.explains("2024-12", newest=False)
    assert default.explains("2021-10")  # counted backwards from the anchor too
    assert all(WalkForwardConfig(explain_every=1).explains(k) for k in months)
    assert not any(WalkForwardConfig(explain=False).explains(k, newest=True) for k in months)
    assert [k for k in months if WalkForwardConfig(explain_every=12, explain_from="2023-01").explains(k)] == [
        "2023-01", "2024-01"]
    with pytest.raises(ValueError):
        WalkForwardConfig(explain_from="2023-13")
    with pytest.raises(ValueError):
        WalkForwardConfig(explain_every=0)


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


def test_metrics_table_scopes_and_regimes_from_past_data():
    from dvol_pipeline.quant.evaluate.forecast import metrics_table

    rng = np.random.default_rng(1)
    days = [date(2023, 1, 1) + timedelta(days=i) for i in range(150)]
    dvol = pl.DataFrame({"date": days * 2, "asset": ["BTC"] * 150 + ["ETH"] * 150,
                         "dvol": np.r_[np.linspace(40, 80, 150), np.linspace(60, 100, 150)]})
    test_days = [d for d in days if d >= date(2023, 4, 1)]
    y = rng.normal(size=len(test_days))
    rows = []
    for fam, noise in (("har", 1.0), ("good", 0.3)):
        for asset in ("BTC", "ETH"):
            rows.append(pl.DataFrame({"date": test_days, "asset": asset, "horizon": 7, "family": fam,
                                      "fold": [f"{d:%Y-%m}" for d in test_days], "y": y,
                                      "y_hat": y + rng.normal(scale=noise, size=len(y))}))
    table = metrics_table(pl.concat(rows), dvol)
    overall = table.filter((pl.col("scope") == "overall") & (pl.col("asset") == "ALL"))
    assert set(overall["family"]) == {"har", "good"}
    good = overall.filter(pl.col("family") == "good").row(0, named=True)
    assert good["n"] == 2 * len(test_days) and good["dm_vs_har"] < -3
    # DVOL rises all the time, so after the fold starts it sits above past terciles: "high"
    regimes = set(table.filter(pl.col("scope") == "regime")["regime"])
    assert regimes == {"high"}
    assert set(table.filter(pl.col("scope") == "fold")["fold"]) == {"2023-04", "2023-05"}
