"""oos_predictions: one partition per monthly walk-forward fold (key "2023-04")."""

from datetime import date

import dagster as dg
import polars as pl

from dvol_pipeline.assets.dvol.features import features_daily
from dvol_pipeline.assets.metadata import catalog_metadata, markdown
from dvol_pipeline.assets.dvol.config import WalkForwardRunConfig, to_quant
from dvol_pipeline.lake.tracking import tracking_uri
from dvol_pipeline.pipeline.dvol.forecasts import build_metrics, read_fold_features, run_month
from dvol_pipeline.progress import track
from dvol_pipeline.quant.dvol.explain import explanation_summary
from dvol_pipeline.quant.dvol.features import HORIZONS
from dvol_pipeline.quant.evaluate.forecast import fold_summary
from dvol_pipeline.quant.learn.folds import WalkForwardConfig
from dvol_pipeline.partitions import fold_keys, fold_partitions, single_run_asset
from dvol_pipeline.resources import LakeResource, MarketResource
from dvol_pipeline.settings import HISTORY_START


@single_run_asset(
    group_name="forecasts",
    deps=[features_daily],
    partitions_def=fold_partitions,
    kinds={"parquet", "mlflow"},
    metadata=catalog_metadata("oos_predictions"),
    description="Walk-forward out-of-sample ΔDVOL forecasts (1/7/14 d) of every model family for one month.",
)
def oos_predictions(
    context: dg.AssetExecutionContext, config: WalkForwardRunConfig, lake: LakeResource, market: MarketResource
):
    keys = fold_keys(context)
    first = date.fromisoformat(HISTORY_START)
    settings = to_quant(config, WalkForwardConfig)
    features = read_fold_features(lake.path, market.coins, keys, first, settings)
    outcomes = []
    for i, key in enumerate(track(keys, "oos_predictions", unit="fold", note=lambda k: f"fold {k} x {len(HORIZONS)} horizons")):
        outcome = run_month(lake.path, features, key, first, settings, newest=i == len(keys) - 1)
        context.log.info(f"fold {key}: {outcome.predictions.height} predictions, skipped {outcome.skipped}")
        outcomes.append(outcome)
    preds = pl.concat([o.predictions for o in outcomes])
    explained = [o for o in outcomes if o.shap is not None]
    top_shap, ablations = explanation_summary([o.shap for o in explained], [o.ablations for o in explained])
    explain_meta = {} if top_shap is None else {
        "lightgbm_top_shap": markdown(top_shap, rows=24),
        "group_ablation_delta_rmse": markdown(ablations, rows=30),
    }
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": preds.height,
            "folds": ", ".join(keys),
            "skipped": dg.MetadataValue.json({o.key: o.skipped for o in outcomes if o.skipped}),
            "metrics_in_these_folds": markdown(fold_summary(preds), rows=30),
            "mlflow_runs": dg.MetadataValue.json({o.key: o.runs for o in outcomes}),
            **explain_meta,
            "mlflow_ui": dg.MetadataValue.md(
                f"```\n.venv/bin/mlflow ui --backend-store-uri {tracking_uri(lake.path)}\n```"
            ),
        }
    )


@dg.asset(
    group_name="forecasts",
    deps=[oos_predictions],
    kinds={"parquet"},
    metadata=catalog_metadata("forecast_metrics"),
    description="RMSE, MAE, R²_oos vs zero change, Spearman, hit-rate and Diebold–Mariano vs HAR, "
    "per family, horizon, coin, fold and DVOL regime (terciles from past data only).",
)
def forecast_metrics(lake: LakeResource, market: MarketResource) -> dg.MaterializeResult:
    table = build_metrics(lake.path, market.coins)
    headline = table.filter((pl.col("scope") == "overall") & (pl.col("asset") == "ALL")).select(
        "horizon", "family", "n", pl.col("rmse").round(3), pl.col("r2_oos").round(4),
        pl.col("hit_rate").round(3), pl.col("dm_vs_har").round(2), pl.col("dm_pvalue").round(4),
    ).sort("horizon", "rmse")
    best = headline.group_by("horizon").agg(pl.col("family").first(), pl.col("r2_oos").first()).sort("horizon")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "overall": markdown(headline, rows=40),
            "best_by_horizon": dg.MetadataValue.json({str(h): {"family": f, "r2_oos": r} for h, f, r in best.iter_rows()}),
        }
    )
