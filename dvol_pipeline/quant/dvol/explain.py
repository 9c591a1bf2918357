"""Why a fold's forecasts are what they are: SHAP for LightGBM, and feature-group ablations.

SHAP (exact TreeSHAP, quant/learn/explain.py) is computed on the fold's own test rows with
the fold's own model. An ablation drops one feature group, refits LightGBM on the same
purged training window and reports the change in test RMSE: positive means the group
helped (the mechanics are quant/learn/explain.py's `ablate_groups`).
"""

from __future__ import annotations

import polars as pl

from dvol_pipeline.quant.dvol.features import FEATURES
from dvol_pipeline.quant.dvol.forecast import feature_columns, run_fold
from dvol_pipeline.quant.evaluate.forecast import forecast_metrics
from dvol_pipeline.quant.learn.explain import ablate_groups, mean_abs_shap
from dvol_pipeline.quant.learn.folds import Fold

GROUP_OF = {f.name: f.group for f in FEATURES}


def _base_feature(column: str) -> str:
    return column.removeprefix("gap_")


def shap_importance(model, test: pl.DataFrame, fold: Fold) -> pl.DataFrame:
    """Mean |SHAP| per model column over the fold's test rows (LightGBM only): of the residual
    booster, i.e. what each column adds to HAR's forecast before the shrinkage λ."""
    x, columns = model.design_matrix(test)
    mean_abs = mean_abs_shap(model.booster, x, num_iteration=model.state["rounds"])
    return pl.DataFrame({
        "fold": fold.key, "horizon": pl.Series([fold.horizon] * len(columns), dtype=pl.Int32), "feature": columns,
        "group": [GROUP_OF.get(_base_feature(c), "derived") for c in columns],
        "mean_abs_shap": mean_abs.astype(float),
    }).sort("mean_abs_shap", descending=True)


def group_ablations(
    frame: pl.DataFrame, fold: Fold, baseline_rmse: float, seed: int = 0, rounds: int | None = None,
    shrinkage: float | None = None,
) -> pl.DataFrame:
    """ΔRMSE (ablated − full) of LightGBM when each present feature group is dropped.

    `rounds` and `shrinkage`: the full model's boosting rounds and λ (LightGBM forecasts HAR +
    λ·residual, quant/learn/residual.py). Each ablated model is then trained once with them on
    the whole window, exactly as the full model's refit was (so dropping no group reproduces
    the baseline), instead of repeating the inner slices, early stopping and the choice of λ
    per group: fewer fits, and the comparison isolates the group, not a new round count or λ.
    A group holding HAR terms changes HAR too; with λ = 0 only those groups can matter."""
    configs = {"lightgbm": {"fixed_rounds": rounds, "shrinkage": shrinkage}} if rounds else None

    def refit_rmse(group: str, kept: list[str]) -> float:
        result = run_fold(frame, fold, families=("lightgbm",), seed=seed, drop_groups=(group,), configs=configs)
        p = result.predictions
        return forecast_metrics(p["y"].to_numpy(), p["y_hat"].to_numpy()).rmse

    # without DVOL itself ("iv") there is no model of its change
    ablated = ablate_groups(feature_columns(frame), GROUP_OF.__getitem__, refit_rmse, baseline_rmse, skip=("iv",))
    rows = [{"fold": fold.key, "horizon": fold.horizon, "group": a["group"], "rmse": a["score"],
             "delta_rmse": a["delta"]} for a in ablated]
    schema = {"fold": pl.Utf8, "horizon": pl.Int32, "group": pl.Utf8, "rmse": pl.Float64, "delta_rmse": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def explanation_summary(
    shap_frames: list[pl.DataFrame], ablation_frames: list[pl.DataFrame], top: int = 8
) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """(top mean |SHAP| features per horizon, mean ΔRMSE per dropped group) over several folds."""
    if not shap_frames:
        return None, None
    shap = pl.concat(shap_frames).group_by("horizon", "feature", "group").agg(
        pl.col("mean_abs_shap").mean()
    ).sort("horizon", "mean_abs_shap", descending=[False, True])
    ablations = pl.concat(ablation_frames).group_by("horizon", "group").agg(
        pl.col("delta_rmse").mean().round(4)
    ).sort("horizon", "delta_rmse", descending=[False, True])
    return shap.group_by("horizon", maintain_order=True).head(top), ablations
