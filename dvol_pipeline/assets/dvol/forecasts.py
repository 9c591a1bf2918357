"""oos_predictions: one partition per monthly walk-forward fold (key "2023-04")."""

from datetime import date

import dagster as dg
import polars as pl

from dvol_pipeline.assets.metadata import catalog_metadata, markdown
from dvol_pipeline.assets.dvol.config import WalkForwardRunConfig, to_quant
from dvol_pipeline.lake.tracking import tracking_uri
from dvol_pipeline.pipeline.dvol.forecasts import add_ensembles, build_metrics, fit_members, read_fold_features
from dvol_pipeline.quant.dvol.explain import explanation_summary
from dvol_pipeline.quant.evaluate.forecast import fold_summary
from dvol_pipeline.quant.learn.folds import WalkForwardConfig
from dvol_pipeline.partitions import fold_keys, fold_partitions
from dvol_pipeline.resources import LakeResource, MarketResource
from dvol_pipeline.settings import HISTORY_START


@dg.op(ins={"features_daily": dg.In(dg.Nothing)}, out=dg.DynamicOut(dict))
def fold_units(context: dg.OpExecutionContext, config: WalkForwardRunConfig, lake: LakeResource):
    """One step per monthly fold of the run's range: the executor may place each on any worker."""
    from dvol_pipeline.lake.tracking import experiment_id

    keys = fold_keys(context)
    experiment_id(lake.path)  # created here, once: folds on two workers must not race to create it
    for i, key in enumerate(keys):
        yield dg.DynamicOutput({"key": key, "newest": i == len(keys) - 1, "settings": config.model_dump()},
                               mapping_key="m" + key.replace("-", "_"))


@dg.op
def fold_members(context: dg.OpExecutionContext, lake: LakeResource, market: MarketResource, unit: dict):
    """Phase 1 of one fold: every member family at every horizon fitted, saved and logged
    (`pipeline/dvol/forecasts.py` `fit_members`); its predictions go to the next step."""
    first = date.fromisoformat(HISTORY_START)
    settings = to_quant(WalkForwardRunConfig(**unit["settings"]), WalkForwardConfig)
    features = read_fold_features(lake.path, market.coins, [unit["key"]], first, settings)
    outcome = fit_members(lake.path, features, unit["key"], first, settings, newest=unit["newest"])
    context.log.info(f"fold {unit['key']}: {outcome.predictions.height} member predictions, skipped {outcome.skipped}")
    return outcome


@dg.op(out=dg.Out(dg.Nothing))
def folds_collected(context: dg.OpExecutionContext, config: WalkForwardRunConfig, lake: LakeResource,
                    members: list):
    """Phase 2, oldest fold first: each fold's ensemble (weighted by the folds before it) and its
    partition written whole; then the run's summary as the asset's metadata."""
    first = date.fromisoformat(HISTORY_START)
    settings = to_quant(config, WalkForwardConfig)
    outcomes = [add_ensembles(lake.path, o, first, settings) for o in sorted(members, key=lambda o: o.key)]
    preds = pl.concat([o.predictions for o in outcomes])
    explained = [o for o in outcomes if o.shap is not None]
    top_shap, ablations = explanation_summary([o.shap for o in explained], [o.ablations for o in explained])
    explain_meta = {} if top_shap is None else {
        "lightgbm_top_shap": markdown(top_shap, rows=24),
        "group_ablation_delta_rmse": markdown(ablations, rows=30),
    }
    yield dg.Output(None, metadata={
        "dagster/row_count": preds.height,
        "folds": ", ".join(o.key for o in outcomes),
        "skipped": dg.MetadataValue.json({o.key: o.skipped for o in outcomes if o.skipped}),
        "metrics_in_these_folds": markdown(fold_summary(preds), rows=30),
        "mlflow_runs": dg.MetadataValue.json({o.key: o.runs for o in outcomes}),
        **explain_meta,
        "mlflow_ui": dg.MetadataValue.md(f"```\n.venv/bin/mlflow ui --backend-store-uri {tracking_uri(lake.path)}\n```"),
    })


@dg.config_mapping
def _fold_config(config: WalkForwardRunConfig) -> dict:
    """The graph's config goes to the ops that read it: run config stays `ops: {oos_predictions: {config: ...}}`."""
    return {"fold_units": {"config": config.model_dump()}, "folds_collected": {"config": config.model_dump()}}


@dg.graph_asset(
    group_name="forecasts",
    ins={"features_daily": dg.AssetIn("features_daily", dagster_type=dg.Nothing)},
    partitions_def=fold_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"parquet", "mlflow"},
    metadata=catalog_metadata("oos_predictions"),
    config=_fold_config,
    description="Walk-forward out-of-sample ΔDVOL forecasts (1/7/14 d) of every model family for one month: "
                "one step per fold fits the members, then one step adds the ensembles oldest fold first.",
)
def oos_predictions(features_daily):
    return folds_collected(fold_units(features_daily=features_daily).map(fold_members).collect())


@dg.asset(
    group_name="forecasts",
    deps=["oos_predictions"],
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
