"""A small, seeded Optuna search for the pooled LightGBM, inside a training window only.

The window's last `valid_days` days are the validation split and the `purge` days before
them are dropped (their labels reach into the validation days), so the search never sees
a test month. The budget is capped at `MAX_TRIALS` per fold group; the walk-forward tunes
once per group (a calendar year of folds) and reuses the choice for the group's folds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from dvol_pipeline.quant.stats import qlike
from dvol_pipeline.quant.universe.models import VOL_FLOOR, lgbm_regressor

MAX_TRIALS = 30


def tune_lgbm(train: pl.DataFrame, features: list[str], target: str, purge: int, n_trials: int, seed: int,
              valid_days: int = 90) -> tuple[dict[str, Any], float]:
    """(best params, validation QLIKE); default params when the window is too short."""
    import optuna

    if not 1 <= n_trials <= MAX_TRIALS:
        raise ValueError(f"n_trials must be within 1..{MAX_TRIALS}, got {n_trials}")
    last = train["date"].max()
    valid_start = last - timedelta(days=valid_days - 1)
    fit = train.filter(pl.col("date") < valid_start - timedelta(days=purge))
    valid = train.filter(pl.col("date") >= valid_start)
    if fit.height < 1000 or valid.height < 100:
        return {}, float("nan")
    y_valid = valid[target].to_numpy()

    def objective(trial: optuna.Trial) -> float:
        params = {
            "num_leaves": trial.suggest_int("num_leaves", 7, 63, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 20, 300, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        }
        model = lgbm_regressor(fit, features, target, params, seed)
        return qlike(y_valid, np.maximum(model.predict(valid), VOL_FLOOR))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials)
    return dict(study.best_params), float(study.best_value)
