"""The universe's model families: small fit/predict functions over polars frames.

persistence (trailing realised vol of the last h days), GARCH(1,1) per coin (the feature),
HAR-RV per coin and pooled (OLS of the next h days' vol on daily, weekly and monthly
realised vol), pooled LightGBM on every feature (quant/learn/gbm.py's regressor; gamma objective: a log link for a positive, right-skewed
target that still estimates its mean; a least-squares fit of log vol estimates the geometric
mean instead and under-forecasts, which QLIKE punishes),
LightGBM multiclass on the regime (its classifier), and the ensemble. Predictions are floored at
`VOL_FLOOR` so QLIKE stays defined.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from dvol_pipeline.quant.learn.gbm import LightGBMClassifier, LightGBMRegressor

VOL_FLOOR = 0.01
HAR_COLS = ("har_d", "har_w", "har_m")
CLASSES = ("low", "mid", "high")
LGBM_BASE: dict[str, Any] = {
    "objective": "gamma", "learning_rate": 0.08, "num_leaves": 15, "min_child_samples": 50,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "max_bin": 63,
    "verbose": -1,
}
"""The universe's LightGBM parameters; the wrapper (quant/learn/gbm.py) adds the seed, one
thread, `deterministic` and `force_row_wise`."""
N_ROUNDS = 100
MAX_TRAIN_ROWS = 30_000
"""LightGBM trains on the newest 30,000 labelled rows (about 18 months of 57 coins): fit time grows
with rows, and older regimes teach less; the HAR families keep the whole expanding window.
One thread: on a shared 2-core box a second thread measured slower, not faster."""


def newest_rows(train: pl.DataFrame, limit: int = MAX_TRAIN_ROWS) -> pl.DataFrame:
    return train if train.height <= limit else train.sort("date", "symbol").tail(limit)


def persistence(test: pl.DataFrame, horizon: int) -> np.ndarray:
    return test[f"ret_std_{horizon}"].to_numpy()


def _design(frame: pl.DataFrame) -> np.ndarray:
    x = frame.select(HAR_COLS).to_numpy()
    return np.column_stack([np.ones(len(x)), x])


def har_fit(train: pl.DataFrame, target: str) -> np.ndarray:
    x, y = _design(train), train[target].to_numpy()
    return np.linalg.lstsq(x, y, rcond=None)[0]


def har_pooled(train: pl.DataFrame, test: pl.DataFrame, target: str) -> np.ndarray:
    return _design(test) @ har_fit(train, target)


def har_per_coin(train: pl.DataFrame, test: pl.DataFrame, target: str) -> np.ndarray:
    """One OLS per coin on its own training rows (the pooled fit for a coin without enough)."""
    pooled = har_fit(train, target)
    out = np.full(test.height, np.nan)
    sym = test["symbol"].to_numpy()
    for s in np.unique(sym):
        rows = train.filter(pl.col("symbol") == s)
        beta = har_fit(rows, target) if rows.height >= 60 else pooled
        mask = sym == s
        out[mask] = _design(test.filter(pl.col("symbol") == s)) @ beta
    return out


def floor(y_hat: np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(y_hat, float), VOL_FLOOR)


def lgbm_regressor(train: pl.DataFrame, features: list[str], target: str, params: dict[str, Any],
                   seed: int) -> LightGBMRegressor:
    """The pooled regressor (quant/learn/gbm.py's, `N_ROUNDS` rounds), fitted on the newest training rows."""
    model = LightGBMRegressor(seed, params={**LGBM_BASE, **params}, rounds=N_ROUNDS)
    return model.fit(newest_rows(train), features, target)


def lgbm_classifier(train: pl.DataFrame, features: list[str], params: dict[str, Any], seed: int) -> LightGBMClassifier:
    """The regime classifier (multiclass over `CLASSES`, `N_ROUNDS // 2` rounds) on the newest training rows."""
    model = LightGBMClassifier(seed, params={**LGBM_BASE, **params}, rounds=N_ROUNDS // 2, classes=list(CLASSES))
    return model.fit(newest_rows(train), features, "class")


def classify(values: pl.Expr, lo: pl.Expr, hi: pl.Expr) -> pl.Expr:
    """low below the lower tercile, high above the upper one, mid between (null stays null)."""
    return (pl.when(values.is_null() | lo.is_null()).then(None).when(values < lo).then(pl.lit("low"))
            .when(values > hi).then(pl.lit("high")).otherwise(pl.lit("mid")))


def ensemble_weights(past: pl.DataFrame, families: list[str]) -> dict[str, float]:
    """Inverse-MSE weights from earlier folds' scored forecasts (equal weights without any)."""
    if past.is_empty():
        return {f: 1 / len(families) for f in families}
    scored = past.filter(pl.col("family").is_in(families) & pl.col("y").is_not_null() & pl.col("y_hat").is_not_null())
    if scored.is_empty():
        return {f: 1 / len(families) for f in families}
    mse = scored.group_by("family").agg(((pl.col("y") - pl.col("y_hat")) ** 2).mean().alias("mse"))
    # summed in `families`' order: group_by's row order varies run to run, and so would the last bits
    inv = {f: 1 / m for f, m in sorted(mse.iter_rows(), key=lambda r: families.index(r[0])) if m and m > 0}
    total = sum(inv.values())
    return {f: inv.get(f, 0.0) / total for f in families} if total else {f: 1 / len(families) for f in families}
