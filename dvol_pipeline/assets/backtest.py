"""backtest and model_promotion: forecasts turned into net-of-cost P&L and a live decision."""

import dagster as dg
import polars as pl

from dvol_pipeline.assets.forecasts import forecast_metrics, oos_predictions
from dvol_pipeline.assets.metadata import markdown
from dvol_pipeline.lake.backtest import (
    TABLE_DOCS,
    live_promotion,
    read_backtest_table,
    run_backtests,
    write_tables,
)
from dvol_pipeline.lake.forecasts import read_predictions
from dvol_pipeline.resources import LakeResource, MarketResource

RAW_CHAIN, RAW_OHLCV, FEATURES = dg.AssetKey("raw_option_chain"), dg.AssetKey("raw_ohlcv"), dg.AssetKey("features_daily")


def _headline(metrics: pl.DataFrame) -> pl.DataFrame:
    return (
        metrics.filter(pl.col("asset") == "ALL")
        .select("strategy", "family", pl.col("net_usd").round(0), pl.col("sharpe").round(2),
                pl.col("max_drawdown_usd").round(0), pl.col("hit_rate").round(3), pl.col("turnover").round(3))
        .sort("sharpe", descending=True, nulls_last=True)
    )


@dg.asset(
    group_name="backtest",
    deps=[oos_predictions, forecast_metrics, FEATURES, RAW_CHAIN, RAW_OHLCV],
    kinds={"parquet", "polars"},
    description="Cost-aware backtests of every fold: DVOL futures per family and horizon (threshold chosen on "
    "past folds, risk controls, cost sensitivity, tau x cost sweep, noise injection) and the delta-hedged "
    "option book (straddle / iron condor) with daily greek attribution. Tables:\n\n"
    + "\n".join(f"- `{k}`: {v}" for k, v in TABLE_DOCS.items() if k != "model_promotion"),
)
def backtest(context: dg.AssetExecutionContext, lake: LakeResource, market: MarketResource) -> dg.MaterializeResult:
    run = run_backtests(lake.path, market.coins)
    tables = run.tables()
    sizes = write_tables(lake.path, tables)
    context.log.info(run.option_note)
    meta = {
        "dagster/row_count": sizes["backtest_daily"],
        "tables": dg.MetadataValue.json(sizes),
        "net_of_costs_both_coins": markdown(_headline(run.futures.metrics), rows=25),
        "cost_sensitivity_both_coins": markdown(
            run.futures.cost_sensitivity.filter(pl.col("asset") == "ALL")
            .pivot(on="cost_mult", index=["strategy", "family"], values="sharpe").sort("strategy", "family"),
            rows=25,
        ),
        "option_book": run.option_note,
    }
    if run.options is not None:
        parts = ["delta_usd", "gamma_usd", "vega_usd", "theta_usd", "residual_usd", "cost_usd", "net_usd"]
        meta["option_attribution_usd"] = markdown(
            run.options.daily.group_by("asset").agg(pl.col(parts).sum().round(0)).sort("asset")
        )
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    group_name="backtest",
    deps=[backtest],
    kinds={"parquet"},
    description=TABLE_DOCS["model_promotion"] + " A family is promoted only if, over past folds, its futures "
    "strategy beats HAR on net Sharpe AND max drawdown (both coins); otherwise HAR stays.",
)
def model_promotion(lake: LakeResource, market: MarketResource) -> dg.MaterializeResult:
    predictions = read_predictions(lake.path).filter(pl.col("asset").is_in(market.coins))
    table, evidence = live_promotion(
        read_backtest_table(lake.path, "backtest_daily"), read_backtest_table(lake.path, "thresholds"), predictions
    )
    write_tables(lake.path, {"model_promotion": table, "promotion_evidence": evidence})
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "as_of_fold": table["as_of_fold"][0],
            "decision": markdown(table.select("asset", "horizon", "promoted_family", pl.col("tau").round(3),
                                              pl.col("hit_rate_active").round(3), "primary", "reason")),
            "evidence_vs_har": markdown(evidence.with_columns(pl.col(pl.Float64).round(3)), rows=30),
        }
    )


@dg.asset(
    group_name="backtest",
    deps=[backtest, model_promotion],
    kinds={"html", "mlflow"},
    description="One self-contained HTML tear sheet per coin and run (opens offline): key numbers, equity and "
    "drawdown, forecast vs realised, calibration, rolling hit-rate, SHAP, cost sensitivity, regime and yearly "
    "tables, in-sample vs out-of-sample, robustness heatmap, risk controls, option book with greek attribution, "
    "promotion. Written to <lake>/reports/<run id>/ and reports/latest/, and logged to MLflow.",
)
def tear_sheets(context: dg.AssetExecutionContext, lake: LakeResource, market: MarketResource) -> dg.MaterializeResult:
    from datetime import UTC, datetime

    from dvol_pipeline.lake.tearsheets import write_tearsheets
    from dvol_pipeline.lake.tracking import log_report_run, tracking_uri

    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    notes = [
        "Every figure is out of sample: forecasts come from walk-forward folds, each month's threshold and "
        "promoted family were chosen on earlier months only.",
        "DVOL futures are modelled as tracking the index (no basis or roll); costs and contract size are in "
        "quant/backtest/config.py.",
    ]
    files = write_tearsheets(lake.path, market.coins, context.run.run_id, generated, notes)
    metrics = read_backtest_table(lake.path, "strategy_metrics").filter(pl.col("asset") == "ALL")
    best = metrics.with_columns(pl.col("sharpe").fill_nan(None)).sort("sharpe", descending=True, nulls_last=True)
    mlflow_run, artifacts = log_report_run(
        lake.path, f"tearsheets-{context.run.run_id[:8]}", {"dagster_run_id": context.run.run_id},
        {"best_net_sharpe": float(best["sharpe"][0] or float("nan"))} if best.height else {},
        [f.path for f in files],
    )
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
