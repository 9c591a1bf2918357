"""Walk-forward folds in the lake: fit, predict, save models, log to MLflow, write predictions.

Folds run oldest first, so the ensemble of fold M reads the out-of-sample predictions of
folds before M (from the lake, or from earlier in the same run) and nothing else.
Predictions land in `predictions/oos_predictions/fold=YYYY-MM/part-0.parquet`, models in
`models/<family>/<fold>/h<h>/`; re-running a fold replaces both with identical content.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.parquet import read_table, write_parquet_atomic
from dvol_pipeline.lake.tracking import log_model_run
from dvol_pipeline.quant.explain import group_ablations, shap_importance
from dvol_pipeline.quant.features import LABELS
from dvol_pipeline.quant.forecast import HORIZONS, MEMBER_FAMILIES, PREDICTION_SCHEMA, run_fold
from dvol_pipeline.quant.metrics import forecast_metrics
from dvol_pipeline.quant.models.base import flatten_params
from dvol_pipeline.quant.walkforward import DEFAULT_MIN_HISTORY_DAYS, fold_for_month, split

PREDICTIONS = "oos_predictions"
ZONE = "predictions"


@dataclass
class FoldOutcome:
    key: str
    predictions: pl.DataFrame
    skipped: dict[int, str] = field(default_factory=dict)  # horizon -> why
    runs: dict[str, str] = field(default_factory=dict)  # "family/h7" -> MLflow run id
    fit_seconds: dict[str, float] = field(default_factory=dict)
    shap: pl.DataFrame | None = None
    ablations: pl.DataFrame | None = None


def predictions_path(root: Path, key: str) -> Path:
    return root / ZONE / PREDICTIONS / f"fold={key}" / "part-0.parquet"


def read_predictions(root: Path, before: str | None = None) -> pl.DataFrame:
    folder = root / ZONE / PREDICTIONS
    files = sorted(folder.glob("fold=*/part-0.parquet")) if folder.exists() else []
    keep = [f for f in files if before is None or f.parent.name.split("=", 1)[1] < before]
    if not keep:
        return pl.DataFrame(schema=PREDICTION_SCHEMA)
    return pl.concat([pl.read_parquet(f) for f in keep])


def read_features(root: Path, coins: list[str]) -> pl.DataFrame:
    """All of features_daily: each fold takes only what its purged window allows."""
    try:
        return read_table(root, "features", "features_daily", coins=coins).sort("asset", "date")
    except FileNotFoundError:
        raise FileNotFoundError(f"no features_daily under {root}; materialize features_daily first") from None


def run_month(
    root: Path, features: pl.DataFrame, key: str, first_day: date, seed: int = 0,
    families: tuple[str, ...] = MEMBER_FAMILIES, min_history_days: int = DEFAULT_MIN_HISTORY_DAYS,
    explain: bool = True,
) -> FoldOutcome:
    """Every horizon of fold `key`; with `explain`, LightGBM's SHAP and group ablations too."""
    outcome = FoldOutcome(key, pl.DataFrame(schema=PREDICTION_SCHEMA))
    past = read_predictions(root, before=key)
    frames, shap_frames, ablation_frames = [], [], []
    for h in HORIZONS:
        fold = fold_for_month(key, h, first_day)
        history = (fold.train_end - first_day).days + 1
        if history < min_history_days:
            outcome.skipped[h] = f"{history} days of purged history < {min_history_days}"
            continue
        result = run_fold(features, fold, families, past_oos=past, seed=seed)
        if not result.models:
            outcome.skipped[h] = "no feature rows in the fold's training window"
            continue
        if result.predictions.is_empty():
            outcome.skipped[h] = "no feature rows in the month yet: models trained and saved for live signals"
        else:
            frames.append(result.predictions)
        if explain and "lightgbm" in result.models and not result.predictions.is_empty():
            _, test = split(features, fold, LABELS[h])
            gbm_rows = result.predictions.filter(pl.col("family") == "lightgbm")
            baseline = forecast_metrics(gbm_rows["y"].to_numpy(), gbm_rows["y_hat"].to_numpy()).rmse
            shap_frames.append(shap_importance(result.models["lightgbm"], test, fold))
            ablation_frames.append(group_ablations(features, fold, baseline, seed))
        for family, model in result.models.items():
            outcome.runs[f"{family}/h{h}"] = _save_and_log(root, fold, family, model, result)
            outcome.fit_seconds[f"{family}/h{h}"] = result.fit_seconds.get(family, 0.0)
    if frames:
        outcome.predictions = pl.concat(frames).sort("horizon", "family", "asset", "date")
        write_parquet_atomic(outcome.predictions, predictions_path(root, key))
    if shap_frames:
        outcome.shap, outcome.ablations = pl.concat(shap_frames), pl.concat(ablation_frames)
        write_parquet_atomic(outcome.shap, root / ZONE / "feature_importance" / f"fold={key}" / "part-0.parquet")
        write_parquet_atomic(outcome.ablations, root / ZONE / "ablations" / f"fold={key}" / "part-0.parquet")
    return outcome


def _save_and_log(root: Path, fold, family: str, model, result) -> str:
    rows = result.predictions.filter(pl.col("family") == family).drop_nulls("y")
    metrics = {} if rows.is_empty() else forecast_metrics(rows["y"].to_numpy(), rows["y_hat"].to_numpy()).as_dict()
    folder = root / "models" / family / fold.key / f"h{fold.horizon}"
    if folder.exists():
        shutil.rmtree(folder)
    saved = None
    if getattr(model, "window", None) is not None:  # the ensemble only combines: nothing to save
        model.save(folder)
        saved = folder
    params = model.params()
    return log_model_run(
        root,
        run_name=f"{family}-h{fold.horizon}-{fold.key}",
        tags={"fold": fold.key, "family": family, "horizon": str(fold.horizon), "dagster_asset": PREDICTIONS},
        params=flatten_params({k: v for k, v in params.items() if k not in ("features", "fitted")}),
        metrics={k: float(v) for k, v in metrics.items()},
        model_dir=saved,
        extra={"features": params.get("features", []), "fitted": params.get("fitted", {}),
               "window": {"train_start": fold.train_start, "train_end": fold.train_end,
                          "test_start": fold.test_start, "test_end": fold.test_end, "train_rows": result.train_rows}},
    )


METRICS = "forecast_metrics"


def build_metrics(root: Path, coins: list[str]) -> pl.DataFrame:
    """forecast_metrics over every fold in the lake, written as one Parquet file."""
    from dvol_pipeline.quant.metrics import metrics_table

    predictions = read_predictions(root)
    if predictions.is_empty():
        raise FileNotFoundError(f"no oos_predictions under {root}; materialize some folds first")
    dvol = read_features(root, coins).select("date", "asset", "dvol")
    table = metrics_table(predictions.filter(pl.col("asset").is_in(coins)), dvol)
    write_parquet_atomic(table, root / ZONE / METRICS / "part-0.parquet")
    return table


def fold_summary(predictions: pl.DataFrame) -> pl.DataFrame:
    """RMSE and R²_oos per family and horizon over the given folds (for the asset's metadata)."""
    rows = []
    for (family, h), g in predictions.group_by("family", "horizon", maintain_order=True):
        m = forecast_metrics(g["y"].to_numpy(), g["y_hat"].to_numpy())
        rows.append({"family": family, "h": h, "n": m.n, "rmse": round(m.rmse, 3), "r2_oos": round(m.r2_oos, 4)})
    return pl.DataFrame(rows).sort("h", "rmse") if rows else pl.DataFrame()


def explanation_summary(outcomes: list[FoldOutcome]) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """(top-8 mean |SHAP| features per horizon, mean ΔRMSE per dropped group) over the folds."""
    explained = [o for o in outcomes if o.shap is not None]
    if not explained:
        return None, None
    shap = pl.concat([o.shap for o in explained]).group_by("horizon", "feature", "group").agg(
        pl.col("mean_abs_shap").mean()
    ).sort("horizon", "mean_abs_shap", descending=[False, True])
    ablations = pl.concat([o.ablations for o in explained]).group_by("horizon", "group").agg(
        pl.col("delta_rmse").mean().round(4)
    ).sort("horizon", "delta_rmse", descending=[False, True])
    return shap.group_by("horizon", maintain_order=True).head(8), ablations
