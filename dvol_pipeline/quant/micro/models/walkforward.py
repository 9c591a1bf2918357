"""Walk-forward LightGBM (regression and classification) with selection and tuning inside each training window.

Per fold (`validate.walkforward_folds`) and per (venue, symbol):
1. training rows: the fold's window with the label ending before train_end (`validate.fold_rows`);
2. `select.select_features` on those rows only;
3. Optuna (TPE, seeded) over a small LightGBM space, scored by purged k-fold inside the training rows
   (`validate.purged_kfold`, embargo `cv_embargo_bars` set explicitly): mean Spearman IC (regression) or
   AUC (classification) over the k test blocks; `n_trials` = 0 skips it (the defaults);
4. refit on every training row, predict the fold's test rows.
Classification is up (y > 0) against down (y < 0) on rows with y != 0; its `p_up` is P(up) and its
`y_hat` the signed score 2 p_up - 1. The model fitted on `cross_train` (BTC) also predicts the test window
of each `cross_test` coin on the same venue (`micro_cross_symbol`): it never sees their rows.
Everything is deterministic for a seed (LightGBM one thread, deterministic mode; TPE seeded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from dvol_pipeline.quant.evaluate.classification import roc_auc
from dvol_pipeline.quant.learn.explain import mean_abs_shap
from dvol_pipeline.quant.learn.gbm import (
    LightGBMClassifier,
    LightGBMRegressor,
    feature_matrix,
)
from dvol_pipeline.quant.micro.features.frames import coin_expr
from dvol_pipeline.quant.micro.models.ic import spearman
from dvol_pipeline.quant.micro.models.select import (
    SelectConfig,
    Selection,
    select_features,
)
from dvol_pipeline.quant.micro.models.validate import (
    FoldConfig,
    TimeFold,
    fold_rows,
    purged_kfold,
    walkforward_folds,
)
from dvol_pipeline.quant.stats import hit_rate, r2_oos

FAMILIES = ("lgbm_reg", "lgbm_clf")
PRED_SCHEMA = {"ts": pl.Datetime("ns", "UTC"), "venue": pl.Utf8, "symbol": pl.Utf8, "bar": pl.Utf8,
               "horizon": pl.Utf8, "family": pl.Utf8, "fold": pl.Int32, "y": pl.Float64, "y_hat": pl.Float64,
               "p_up": pl.Float64}
FOLD_SCHEMA = {"fold": pl.Int32, "venue": pl.Utf8, "symbol": pl.Utf8, "horizon": pl.Utf8, "family": pl.Utf8,
               "n_train": pl.Int64, "n_test": pl.Int64, "ic": pl.Float64, "r2": pl.Float64, "auc": pl.Float64,
               "hit_rate": pl.Float64, "features_kept": pl.Int64}
CROSS_SCHEMA = {"train_symbol": pl.Utf8, "test_symbol": pl.Utf8, "venue": pl.Utf8, "horizon": pl.Utf8,
                "family": pl.Utf8, "n": pl.Int64, "ic": pl.Float64, "r2": pl.Float64, "auc": pl.Float64}
BASE_PARAMS = {"learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 100, "feature_fraction": 0.8,
               "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "verbosity": -1}


@dataclass(frozen=True)
class WalkForwardConfig:
    horizon: str
    """The label's horizon name (e.g. "5m"), written to every row."""
    horizon_bars: int
    bar_width: timedelta
    folds: FoldConfig = field(default_factory=FoldConfig)
    families: tuple[str, ...] = FAMILIES
    select: SelectConfig = field(default_factory=SelectConfig)
    n_trials: int = 3
    cv_splits: int = 3
    cv_embargo_bars: int = 10
    max_tune_rows: int = 20_000
    rounds: int = 100
    seed: int = 0
    num_threads: int = 1
    cross_train: str = "BTC"
    cross_test: tuple[str, ...] = ("ETH", "SOL")
    shap_rows: int = 2_000

    @property
    def horizon_span(self) -> timedelta:
        return self.horizon_bars * self.bar_width


@dataclass
class FoldRecord:
    """One fitted model: what the MLflow hook logs."""

    fold: TimeFold
    venue: str
    symbol: str
    family: str
    params: dict[str, Any]
    cv_score: float
    selection: Selection
    metrics: dict[str, float]
    shap: dict[str, float] = field(default_factory=dict)


@dataclass
class WalkForwardResult:
    predictions: pl.DataFrame
    fold_metrics: pl.DataFrame
    cross_symbol: pl.DataFrame
    records: list[FoldRecord]
    config: WalkForwardConfig


def _model(family: str, params: dict[str, Any], config: WalkForwardConfig):
    cls = LightGBMRegressor if family == "lgbm_reg" else LightGBMClassifier
    return cls(config.seed, params={**BASE_PARAMS, **params}, rounds=config.rounds, seed_all=True,
               num_threads=config.num_threads)


def _fit(family: str, params: dict[str, Any], x: np.ndarray, y: np.ndarray, names: list[str],
         config: WalkForwardConfig):
    if family == "lgbm_reg":
        return _model(family, params, config).fit_matrix(x, y, names)
    keep = y != 0
    return _model(family, params, config).fit_matrix(x[keep], y[keep] > 0, names)


def _score(model, family: str, x: np.ndarray) -> np.ndarray:
    """The forecast: the regression value, or P(up) for the classifier."""
    return model.raw_predict(x)


def _cv_score(family: str, params: dict[str, Any], x: np.ndarray, y: np.ndarray, names: list[str],
              config: WalkForwardConfig) -> float:
    t0 = np.arange(y.size)
    scores = []
    for tr, te in purged_kfold(t0, t0 + config.horizon_bars, config.cv_splits, config.cv_embargo_bars):
        if tr.size < 50 or (family == "lgbm_clf" and len(np.unique(y[tr][y[tr] != 0] > 0)) < 2):
            continue
        s = _score(_fit(family, params, x[tr], y[tr], names, config), family, x[te])
        scores.append(spearman(s, y[te]) if family == "lgbm_reg" else roc_auc(y[te][y[te] != 0] > 0, s[y[te] != 0]))
    scores = [s for s in scores if np.isfinite(s)]
    return float(np.mean(scores)) if scores else float("-inf")


def _space(trial) -> dict[str, Any]:
    return {"num_leaves": trial.suggest_int("num_leaves", 7, 63, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 500, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True)}


def tune_params(family: str, x: np.ndarray, y: np.ndarray, names: list[str],
                config: WalkForwardConfig) -> tuple[dict[str, Any], float]:
    """(best params, their purged-CV score) over `config.n_trials` seeded TPE trials on the training rows
    (thinned evenly to `max_tune_rows`); ({}, NaN) with no trial or too few rows for the folds."""
    if config.n_trials <= 0 or y.size < 10 * config.cv_splits:
        return {}, float("nan")
    import optuna

    step = int(np.ceil(y.size / config.max_tune_rows))
    xs, ys = x[::step], y[::step]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed))
    study.optimize(lambda t: _cv_score(family, _space(t), xs, ys, names, config), n_trials=config.n_trials)
    return dict(study.best_params), float(study.best_value)


def _metrics(family: str, y: np.ndarray, y_hat: np.ndarray, p_up: np.ndarray | None) -> dict[str, float]:
    nz = np.isfinite(y) & (y != 0)
    score = p_up if p_up is not None else y_hat
    return {"ic": spearman(score, y), "r2": r2_oos(y, y_hat, np.zeros_like(y)) if family == "lgbm_reg" else np.nan,
            "auc": roc_auc(y[nz] > 0, score[nz]), "hit_rate": hit_rate(y_hat, y)}


def _pred_frame(test: pl.DataFrame, config: WalkForwardConfig, family: str, fold: int, y: np.ndarray,
                y_hat: np.ndarray, p_up: np.ndarray | None) -> pl.DataFrame:
    return test.select("ts", "venue", "symbol", "bar").with_columns(
        pl.lit(config.horizon).alias("horizon"), pl.lit(family).alias("family"), pl.lit(fold, pl.Int32).alias("fold"),
        pl.Series("y", y, pl.Float64), pl.Series("y_hat", y_hat, pl.Float64),
        pl.Series("p_up", p_up if p_up is not None else np.full(y.size, np.nan), pl.Float64, nan_to_null=True))


def _predict(model, family: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    s = _score(model, family, x)
    return (s, None) if family == "lgbm_reg" else (2 * s - 1, s)


def run_walkforward(frame: pl.DataFrame, features: Sequence[str], label: str,
                    config: WalkForwardConfig) -> WalkForwardResult:
    """Walk-forward over `frame` (KEY + `features` + `label`, one bar kind, any venues and symbols).

    Folds come from the frame's whole time range, so every series shares the calendar."""
    frame = frame.filter(pl.col(label).cast(pl.Float64).fill_nan(None).is_not_null()).sort(["venue", "symbol", "ts"])
    preds, metrics, cross, records = [], [], [], []
    if frame.height == 0:
        return WalkForwardResult(pl.DataFrame(schema=PRED_SCHEMA), pl.DataFrame(schema=FOLD_SCHEMA),
                                 pl.DataFrame(schema=CROSS_SCHEMA), [], config)
    end = frame["ts"].max() + config.bar_width
    folds = walkforward_folds(frame["ts"].min(), end, config.folds)
    coins = frame.with_columns(__coin=coin_expr("symbol"))
    series = coins.partition_by(["venue", "symbol"], maintain_order=True)
    for fold in folds:
        for part in series:
            venue, symbol, coin = part["venue"][0], part["symbol"][0], part["__coin"][0]
            train, test = fold_rows(part, fold, config.horizon_span)
            if train.height < config.select.min_rows or test.height == 0:
                continue
            selection = select_features(train, list(features), label, config.select)
            kept = selection.kept
            if not kept:
                continue
            x, y = feature_matrix(train, kept), train[label].cast(pl.Float64).to_numpy()
            xt, yt = feature_matrix(test, kept), test[label].cast(pl.Float64).to_numpy()
            for family in config.families:
                if family == "lgbm_clf" and len(np.unique(y[y != 0] > 0)) < 2:
                    continue
                params, cv = tune_params(family, x, y, kept, config)
                model = _fit(family, params, x, y, kept, config)
                y_hat, p_up = _predict(model, family, xt)
                preds.append(_pred_frame(test, config, family, fold.fold, yt, y_hat, p_up))
                m = _metrics(family, yt, y_hat, p_up)
                metrics.append({"fold": fold.fold, "venue": venue, "symbol": symbol, "horizon": config.horizon,
                                "family": family, "n_train": train.height, "n_test": test.height, **m,
                                "features_kept": len(kept)})
                shap = {}
                if family == "lgbm_reg" and config.shap_rows > 0:
                    step = int(np.ceil(xt.shape[0] / config.shap_rows))
                    shap = dict(zip(kept, map(float, mean_abs_shap(model.booster, xt[::step])), strict=True))
                records.append(FoldRecord(fold, venue, symbol, family, {**BASE_PARAMS, **params}, cv, selection, m,
                                          shap))
                if coin != config.cross_train:
                    continue
                for other in series:
                    if other["venue"][0] != venue or other["__coin"][0] not in config.cross_test:
                        continue
                    _, otest = fold_rows(other, fold, config.horizon_span)
                    if otest.height == 0:
                        continue
                    oy = otest[label].cast(pl.Float64).to_numpy()
                    oh, op = _predict(model, family, feature_matrix(otest, kept))
                    cross.append(otest.select("symbol").with_columns(
                        pl.lit(symbol).alias("train_symbol"), pl.lit(venue).alias("venue"),
                        pl.lit(family).alias("family"), pl.Series("y", oy), pl.Series("y_hat", oh),
                        pl.Series("p_up", op if op is not None else np.full(oy.size, np.nan))))
    return WalkForwardResult(
        pl.concat(preds).cast(PRED_SCHEMA) if preds else pl.DataFrame(schema=PRED_SCHEMA),
        pl.DataFrame(metrics, schema=FOLD_SCHEMA) if metrics else pl.DataFrame(schema=FOLD_SCHEMA),
        _cross_table(cross, config), records, config)


def _cross_table(parts: list[pl.DataFrame], config: WalkForwardConfig) -> pl.DataFrame:
    """One row per (train symbol, test symbol, venue, family) over every fold's test window."""
    if not parts:
        return pl.DataFrame(schema=CROSS_SCHEMA)
    rows = []
    for (train_symbol, test_symbol, venue, family), g in pl.concat(parts).group_by(
            ["train_symbol", "symbol", "venue", "family"], maintain_order=True):
        y, yh = g["y"].to_numpy(), g["y_hat"].to_numpy()
        p = g["p_up"].fill_nan(None).to_numpy() if family == "lgbm_clf" else None
        m = _metrics(family, y, yh, p)
        rows.append({"train_symbol": train_symbol, "test_symbol": test_symbol, "venue": venue,
                     "horizon": config.horizon, "family": family, "n": g.height, "ic": m["ic"], "r2": m["r2"],
                     "auc": m["auc"]})
    return pl.DataFrame(rows, schema=CROSS_SCHEMA).sort(["train_symbol", "test_symbol", "venue", "family"])


def mlflow_records(result: WalkForwardResult) -> list[dict[str, Any]]:
    """Per fitted model: {run_name, tags, params, metrics} for MLflow (the lead logs them). Params hold the
    tuned hyper-parameters, the kept features and the selection's drops; metrics the fold's scores and the
    mean |SHAP| per kept feature (`shap.<feature>`, regression)."""
    cfg = result.config
    out = []
    for r in result.records:
        sel = r.selection
        params = {**{f"lgbm.{k}": v for k, v in r.params.items()},
                  "features_kept": ",".join(sel.kept), "n_features_kept": len(sel.kept),
                  **{f"dropped.{s}": ",".join(sel.dropped(s)) for s in ("variance", "correlation", "shap")},
                  "horizon": cfg.horizon, "horizon_bars": cfg.horizon_bars, "seed": cfg.seed,
                  "n_trials": cfg.n_trials, "cv_splits": cfg.cv_splits, "cv_embargo_bars": cfg.cv_embargo_bars,
                  **{f"folds.{k}": str(v) for k, v in asdict(cfg.folds).items()},
                  "train_start": str(r.fold.train_start), "train_end": str(r.fold.train_end),
                  "test_start": str(r.fold.test_start), "test_end": str(r.fold.test_end)}
        metrics = {**{k: float(v) for k, v in r.metrics.items()}, "cv_score": r.cv_score,
                   **{f"shap.{k}": v for k, v in r.shap.items()}}
        out.append({"run_name": f"micro_{r.family}_{r.venue}_{r.symbol}_{cfg.horizon}_fold{r.fold.fold}",
                    "tags": {"lane": "micro", "family": r.family, "venue": r.venue, "symbol": r.symbol,
                             "fold": str(r.fold.fold)},
                    "params": params, "metrics": metrics})
    return out
