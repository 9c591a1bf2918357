"""The universe's search for the pooled LightGBM: quant/learn/tuning.py's `tune`, configured.

The search space is five LightGBM parameters (`lgbm_space`); the score is the validation
QLIKE of the regressor fitted on the fit split (forecasts floored at `VOL_FLOOR`). As the
core does, the search stays inside the training window: the last `valid_days` days are
the validation split, the `purge` days before them are dropped. The budget is capped at
`MAX_TRIALS` per fold group; the walk-forward tunes once per group (a calendar year of
folds) and reuses the choice for the group's folds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from dvol_pipeline.quant.learn.tuning import MAX_TRIALS, tune
from dvol_pipeline.quant.stats import qlike
from dvol_pipeline.quant.universe.models import VOL_FLOOR, lgbm_regressor

__all__ = ["MAX_TRIALS", "lgbm_space", "tune_lgbm"]


def lgbm_space(trial) -> dict[str, Any]:
    """The parameters searched (over the universe's LGBM_BASE)."""
    return {
        "num_leaves": trial.suggest_int("num_leaves", 7, 63, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 20, 300, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    }


def tune_lgbm(train: pl.DataFrame, features: list[str], target: str, purge: int, n_trials: int, seed: int,
              valid_days: int = 90) -> tuple[dict[str, Any], float]:
    """(best params, validation QLIKE); default params ({}, NaN) when the window is too short."""

    def score(params: dict[str, Any], fit: pl.DataFrame, valid: pl.DataFrame) -> float:
        model = lgbm_regressor(fit, features, target, params, seed)
        return qlike(valid[target].to_numpy(), np.maximum(model.predict(valid), VOL_FLOOR))

    return tune(train, lgbm_space, score, purge=purge, n_trials=n_trials, seed=seed, valid_days=valid_days)
