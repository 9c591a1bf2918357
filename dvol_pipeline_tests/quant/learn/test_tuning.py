"""The Optuna helper: fit and validation splits inside the window with a purge, seeded, bounded."""

from __future__ import annotations

import math
from datetime import date, timedelta

import polars as pl
import pytest

from dvol_pipeline.quant.learn.tuning import tune, window_split

DAYS = [date(2022, 1, 1) + timedelta(days=i) for i in range(400)]
TRAIN = pl.DataFrame({"date": [d for d in DAYS for _ in range(5)], "y": [float(i % 7) for i in range(5 * len(DAYS))]})


def space(trial) -> dict:
    return {"x": trial.suggest_float("x", -1.0, 1.0)}


def test_the_search_sees_only_its_window_split_with_a_purge():
    seen = []

    def score(params, fit, valid):
        seen.append((fit["date"].min(), fit["date"].max(), valid["date"].min(), valid["date"].max()))
        return (params["x"] - 0.3) ** 2

    best, value = tune(TRAIN, space, score, purge=10, n_trials=12, seed=1, valid_days=90)
    valid_start = DAYS[-1] - timedelta(days=89)
    assert set(seen) == {(DAYS[0], valid_start - timedelta(days=11), valid_start, DAYS[-1])}
    assert abs(best["x"] - 0.3) < 0.3 and value == pytest.approx((best["x"] - 0.3) ** 2)
    assert tune(TRAIN, space, score, purge=10, n_trials=12, seed=1) == (best, value)  # seeded
    fit, valid = window_split(TRAIN, 90, 10)
    assert fit.height + valid.height + 5 * 10 == TRAIN.height


def test_a_short_window_is_no_search_and_the_budget_is_bounded():
    short = TRAIN.filter(pl.col("date") >= DAYS[-150])
    best, value = tune(short, space, lambda p, f, v: 0.0, purge=10, n_trials=3, seed=0)
    assert best == {} and math.isnan(value)
    with pytest.raises(ValueError, match="n_trials"):
        tune(TRAIN, space, lambda p, f, v: 0.0, purge=10, n_trials=31, seed=0)
