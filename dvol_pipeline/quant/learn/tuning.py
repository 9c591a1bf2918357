"""A small, seeded Optuna search inside a training window only.

    best_params, best_score = tune(train, space, score, purge=h, n_trials=4, seed=0)

The window's last `valid_days` days (by `date`) are the validation split and the `purge`
days before them are dropped (their labels reach into the validation days); the earlier
rows are the fit split. `space(trial)` suggests a parameter dict, `score(params, fit,
valid)` fits on the fit split and scores on the validation split, so a search never sees
a row after the window it is given: pass it a fold's training window, never its test
month. TPE sampler seeded with `seed`; the budget is capped at `max_trials`. A window
too short for the splits gives no search: ({}, NaN), i.e. the lane's default parameters.

Lanes configure it: quant/universe/tuning.py (the pooled LightGBM, QLIKE).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import polars as pl

MAX_TRIALS = 30


def window_split(train: pl.DataFrame, valid_days: int, purge: int,
                 date: str = "date") -> tuple[pl.DataFrame, pl.DataFrame]:
    """(fit, valid): valid = the last `valid_days` days of `train`, fit = the rows dated more
    than `purge` days before the validation start."""
    last = train[date].max()
    valid_start = last - timedelta(days=valid_days - 1)
    fit = train.filter(pl.col(date) < valid_start - timedelta(days=purge))
    valid = train.filter(pl.col(date) >= valid_start)
    return fit, valid


def tune(
    train: pl.DataFrame,
    space: Callable[[Any], dict[str, Any]],
    score: Callable[[dict[str, Any], pl.DataFrame, pl.DataFrame], float],
    *,
    purge: int,
    n_trials: int,
    seed: int,
    valid_days: int = 90,
    min_fit_rows: int = 1000,
    min_valid_rows: int = 100,
    max_trials: int = MAX_TRIALS,
    direction: str = "minimize",
) -> tuple[dict[str, Any], float]:
    """(best params, their validation score); ({}, NaN) when the window is too short."""
    import optuna

    if not 1 <= n_trials <= max_trials:
        raise ValueError(f"n_trials must be within 1..{max_trials}, got {n_trials}")
    fit, valid = window_split(train, valid_days, purge)
    if fit.height < min_fit_rows or valid.height < min_valid_rows:
        return {}, float("nan")

    def objective(trial: optuna.Trial) -> float:
        return score(space(trial), fit, valid)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials)
    return dict(study.best_params), float(study.best_value)
