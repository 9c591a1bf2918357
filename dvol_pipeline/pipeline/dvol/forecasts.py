"""Walk-forward folds: read features, fit and predict (quant), save models, log to MLflow, write.

Folds run oldest first, so the ensemble of fold M reads the out-of-sample predictions of
folds before M (from the lake, or from earlier in the same run) and nothing else.
Predictions land in the `oos_predictions` fold table and models in the model store;
re-running a fold replaces both with identical content. Which horizons of a month run is
the fold generator's answer (quant/learn/folds.py `month_folds`), and the features read
are the days those folds use (`feature_span`), nothing earlier or later.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.model_store import ModelStore
from dvol_pipeline.lake.parquet import read_folds, read_table, write_fold, write_single
from dvol_pipeline.progress import track
from dvol_pipeline.quant.dvol.explain import group_ablations, shap_importance
from dvol_pipeline.quant.dvol.features import LABELS
from dvol_pipeline.quant.dvol.features import HORIZONS
from dvol_pipeline.quant.dvol.forecast import (CONTEXT_DAYS, PREDICTION_SCHEMA, fold_ensemble, gate_residual_families,
                                               run_fold)
from dvol_pipeline.quant.learn.names import RESIDUAL_FAMILIES
from dvol_pipeline.quant.learn.registry import MEMBER_FAMILIES, load_forecaster
from dvol_pipeline.quant.evaluate.forecast import forecast_metrics, metrics_table
from dvol_pipeline.quant.learn.base import flatten_params
from dvol_pipeline.quant.learn.parallel import process_pool
from dvol_pipeline.quant.learn.folds import WalkForwardConfig, feature_span, month_folds, split

PREDICTIONS = "oos_predictions"


@dataclass
class FoldOutcome:
    key: str
    predictions: pl.DataFrame
    skipped: dict[int, str] = field(default_factory=dict)  # horizon -> why
    runs: dict[str, str] = field(default_factory=dict)  # "family/h7" -> MLflow run id
    fitted: dict[int, list[str]] = field(default_factory=dict)  # horizon -> families fitted (models saved)
    train_rows: dict[int, int] = field(default_factory=dict)  # horizon -> training rows
    fit_seconds: dict[str, float] = field(default_factory=dict)
    shap: pl.DataFrame | None = None
    ablations: pl.DataFrame | None = None


def read_predictions(root: Path, before: str | None = None) -> pl.DataFrame:
    """Every fold's out-of-sample predictions (only folds before `before`, when given)."""
    return read_folds(root, PREDICTIONS, before=before, schema=PREDICTION_SCHEMA)


def read_features(root: Path, coins: list[str], start: date | None = None, end: date | None = None) -> pl.DataFrame:
    """features_daily for [start, end] (all of it when not given), sorted by coin and day."""
    try:
        return read_table(root, "features_daily", start, end, coins).sort("asset", "date")
    except FileNotFoundError:
        raise FileNotFoundError(f"no features_daily {start or ''}..{end or ''} under {root}; "
                                "materialize features_daily first") from None


def read_fold_features(root: Path, coins: list[str], keys: list[str], first_day: date,
                       config: WalkForwardConfig = WalkForwardConfig()) -> pl.DataFrame:
    """The features_daily days that the folds of months `keys` read (quant's `feature_span`)."""
    span = feature_span((f for k in keys for f in month_folds(k, HORIZONS, first_day, config).runs.values()),
                        CONTEXT_DAYS)
    if span is None:  # no fold of these months runs: nothing to read
        return pl.DataFrame(schema={"date": pl.Date, "asset": pl.Utf8})
    return read_features(root, coins, *span)


def run_month(
    root: Path, features: pl.DataFrame, key: str, first_day: date,
    config: WalkForwardConfig = WalkForwardConfig(), newest: bool = True,
) -> FoldOutcome:
    """Every horizon of fold `key`, members and ensemble; LightGBM's SHAP and group ablations too
    when `config.explains(key, newest)` (`newest`: `key` is the last fold of this run).
    The two phases the `oos_predictions` asset runs as separate steps, one after the other."""
    return add_ensembles(root, fit_members(root, features, key, first_day, config, newest), first_day, config)


def fit_members(
    root: Path, features: pl.DataFrame, key: str, first_day: date,
    config: WalkForwardConfig = WalkForwardConfig(), newest: bool = True,
) -> FoldOutcome:
    """Phase 1 of fold `key`: fit and predict every member family at every horizon, save the
    models, log their MLflow runs, write the fold's SHAP and ablations. Reads nothing any other
    fold of the run writes, so the folds of a range can run at once, on any worker. The
    predictions are returned (members only), not written: the fold's partition is written
    whole by `add_ensembles`, never without its ensemble."""
    explain = config.explains(key, newest)
    families = config.families or MEMBER_FAMILIES
    outcome = FoldOutcome(key, pl.DataFrame(schema=PREDICTION_SCHEMA))
    pool = process_pool(config.workers)
    frames, shap_frames, ablation_frames = [], [], []
    # MLflow runs are logged on one background thread: their SQLite commits wait on the disk, the
    # next horizon's fits need the CPU (the runs' contents are fixed before they are queued)
    tracker, pending, store = ThreadPoolExecutor(1, thread_name_prefix="mlflow"), {}, model_store(root)
    folds = month_folds(key, HORIZONS, first_day, config)
    outcome.skipped.update(folds.skipped)
    # the progress line of the step (a terminal run): the fold's horizons, each every family's fit
    for h, fold in track(list(folds.runs.items()), f"oos_predictions {key}", unit="horizon",
                         note=lambda item: f"{item[0]} d x {len(families)} families"):
        result = run_fold(features, fold, families, seed=config.seed, executor=pool)
        if not result.models:
            outcome.skipped[h] = "no feature rows in the fold's training window"
            continue
        outcome.fitted[h], outcome.train_rows[h] = list(result.models), result.train_rows
        if result.predictions.is_empty():
            outcome.skipped[h] = "no feature rows in the month yet: models trained and saved for live signals"
        else:
            frames.append(result.predictions)
        if explain and "lightgbm" in result.models and not result.predictions.is_empty():
            _, test = split(features, fold, LABELS[h])
            gbm_rows = result.predictions.filter(pl.col("family") == "lightgbm")
            baseline = forecast_metrics(gbm_rows["y"].to_numpy(), gbm_rows["y_hat"].to_numpy()).rmse
            shap_frames.append(shap_importance(result.models["lightgbm"], test, fold))
            gbm = result.models["lightgbm"]
            ablation_frames.append(group_ablations(features, fold, baseline, config.seed, rounds=gbm.state["rounds"],
                                                   shrinkage=gbm.state.get("shrinkage")))
        for family, model in result.models.items():
            if family in RESIDUAL_FAMILIES:  # logged by add_ensembles, once their λ has met the track record
                store.save(model, family, fold.key, fold.horizon)
            else:
                rows = result.predictions.filter(pl.col("family") == family)
                pending[f"{family}/h{h}"] = _save_and_log(store, fold, family, model, rows, result.train_rows, tracker)
            outcome.fit_seconds[f"{family}/h{h}"] = result.fit_seconds.get(family, 0.0)
    tracker.shutdown(wait=True)
    outcome.runs = {k: f.result() for k, f in pending.items()}  # a failed log fails the fold here
    if frames:
        outcome.predictions = pl.concat(frames)
    if shap_frames:
        outcome.shap, outcome.ablations = pl.concat(shap_frames), pl.concat(ablation_frames)
        write_fold(root, "feature_importance", key, outcome.shap)
        write_fold(root, "ablations", key, outcome.ablations)
    return outcome


def add_ensembles(root: Path, outcome: FoldOutcome, first_day: date,
                  config: WalkForwardConfig = WalkForwardConfig()) -> FoldOutcome:
    """Phase 2 of fold `outcome.key`, every fitted horizon, reading the out-of-sample rows of the
    folds before it in the lake (so the folds of a run go through here oldest first): the
    residual families' λ meets their track record (`gate_residual_families`; they are re-saved
    and logged to MLflow here), then the ensemble is weighted, its members loaded from the model
    store where phase 1 saved them; then the fold's partition of `oos_predictions` is written
    whole (members and ensemble)."""
    key = outcome.key
    past = read_predictions(root, before=key)
    store = model_store(root)
    folds = month_folds(key, HORIZONS, first_day, config).runs
    tracker, pending = ThreadPoolExecutor(1, thread_name_prefix="mlflow"), {}
    frames = []
    for h, fitted in outcome.fitted.items():
        fold = folds[h]
        members = _StoredModels(store, key, h, fitted)
        rows_h = outcome.predictions.filter(pl.col("horizon") == h)
        residual = {f: members[f] for f in RESIDUAL_FAMILIES if f in fitted}
        _, rows_h = gate_residual_families(fold, residual, rows_h, past)
        for family, model in residual.items():
            pending[f"{family}/h{h}"] = _save_and_log(store, fold, family, model,
                                                      rows_h.filter(pl.col("family") == family),
                                                      outcome.train_rows[h], tracker)
        ensemble, rows = fold_ensemble(fold, members, rows_h, past)
        frames += [rows_h, rows]
        if ensemble is not None:
            pending[f"ensemble/h{h}"] = _save_and_log(store, fold, "ensemble", ensemble, rows,
                                                      outcome.train_rows[h], tracker)
            outcome.fit_seconds[f"ensemble/h{h}"] = 0.0
    tracker.shutdown(wait=True)
    outcome.runs |= {k: f.result() for k, f in pending.items()}
    predictions = pl.concat(frames) if frames else outcome.predictions
    if not predictions.is_empty():
        outcome.predictions = predictions.sort("horizon", "family", "asset", "date")
        write_fold(root, PREDICTIONS, key, outcome.predictions)
    return outcome


def model_store(root: Path) -> ModelStore:
    """The lake's model store, loading whatever family a folder holds (the registry's loader)."""
    return ModelStore(root, loader=load_forecaster)


class _StoredModels(Mapping):
    """The fold's fitted families for one horizon, each loaded from the model store on first use
    (the ensemble reads only its members with weight)."""

    def __init__(self, store: ModelStore, key: str, horizon: int, families: list[str]):
        self._store, self._key, self._horizon, self._families, self._loaded = store, key, horizon, families, {}

    def __getitem__(self, family: str):
        if family not in self._families:
            raise KeyError(family)
        if family not in self._loaded:
            self._loaded[family] = self._store.load(family, self._key, self._horizon)
        return self._loaded[family]

    def __iter__(self):
        return iter(self._families)

    def __len__(self) -> int:
        return len(self._families)


def _save_and_log(store: ModelStore, fold, family: str, model, rows: pl.DataFrame, train_rows: int,
                  tracker: ThreadPoolExecutor) -> Future:
    """Save the model now; queue its MLflow run on `tracker` (the run id is the future's result).
    `rows`: the model's out-of-sample rows of the fold (its metrics)."""
    rows = rows.drop_nulls("y")
    metrics = {} if rows.is_empty() else forecast_metrics(rows["y"].to_numpy(), rows["y_hat"].to_numpy()).as_dict()
    saved = store.save(model, family, fold.key, fold.horizon)
    params = model.params()
    return tracker.submit(
        store.log_run,
        run_name=f"{family}-h{fold.horizon}-{fold.key}",
        tags={"fold": fold.key, "family": family, "horizon": str(fold.horizon), "dagster_asset": PREDICTIONS},
        params=flatten_params({k: v for k, v in params.items() if k not in ("features", "fitted")}),
        metrics={k: float(v) for k, v in metrics.items()},
        folder=saved,
        extra={"features": params.get("features", []), "fitted": params.get("fitted", {}),
               "window": {"train_start": fold.train_start, "train_end": fold.train_end,
                          "test_start": fold.test_start, "test_end": fold.test_end, "train_rows": train_rows}},
    )


def build_metrics(root: Path, coins: list[str]) -> pl.DataFrame:
    """forecast_metrics over every fold in the lake, written as one table."""
    predictions = read_predictions(root)
    if predictions.is_empty():
        raise FileNotFoundError(f"no oos_predictions under {root}; materialize some folds first")
    features = read_features(root, coins)
    dvol = features.select("date", "asset", "dvol", *(["regime_code"] if "regime_code" in features.columns else []))
    table = metrics_table(predictions.filter(pl.col("asset").is_in(coins)), dvol)
    write_single(root, "forecast_metrics", table, nan_as_null=False)
    return table
