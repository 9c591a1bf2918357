"""The desk tear sheet (group `backtest`): one HTML per coin over every lane's tables.

A composer, like `definitions.py`: the tear sheet puts the dvol lane's forecasts and
backtests next to the options lane's surface comparison and IV-rank gate, so it reads each
lane's tables from the lake and depends on their assets by key, never by import.
"""

import dagster as dg

from dvol_pipeline.lake.tracking import tracking_uri
from dvol_pipeline.pipeline.tearsheet import publish_tearsheets
from dvol_pipeline.resources import LakeResource, MarketResource


@dg.asset(
    group_name="backtest",
    deps=[dg.AssetKey("backtest"), dg.AssetKey("model_promotion"), dg.AssetKey("ivrank")],
    kinds={"html", "mlflow"},
    description="One self-contained HTML tear sheet per coin and run (opens offline): key numbers, equity and "
    "drawdown, forecast vs realised, calibration, rolling hit-rate, SHAP, cost sensitivity, regime and yearly "
    "tables, in-sample vs out-of-sample, robustness heatmap, risk controls, option book with greek attribution, "
    "promotion. Written to <lake>/reports/<run id>/ and reports/latest/, and logged to MLflow.",
)
def tear_sheets(context: dg.AssetExecutionContext, lake: LakeResource, market: MarketResource) -> dg.MaterializeResult:
    from datetime import UTC, datetime

    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    published = publish_tearsheets(lake.path, market.coins, context.run.run_id, generated)
    files, mlflow_run, artifacts = published.files, published.mlflow_run_id, published.artifact_uri
    meta = {f"tearsheet_{f.asset}": dg.MetadataValue.path(str(f.path)) for f in files}
    meta |= {f"open_{f.asset}": dg.MetadataValue.url(f.path.as_uri()) for f in files}
    meta |= {f"latest_{f.asset}": dg.MetadataValue.path(str(f.latest)) for f in files}
    meta |= {
        "mlflow_run_id": mlflow_run,
        "mlflow_artifacts": dg.MetadataValue.text(f"{artifacts}/tearsheets"),
        "mlflow_ui": dg.MetadataValue.md(f"```\n.venv/bin/mlflow ui --backend-store-uri {tracking_uri(lake.path)}\n```"),
        "size_kb": dg.MetadataValue.json({f.asset: round(f.path.stat().st_size / 1024) for f in files}),
    }
    return dg.MaterializeResult(metadata=meta)
