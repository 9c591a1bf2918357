"""backtest and model_promotion: forecasts turned into net-of-cost P&L and a live decision."""

import dagster as dg
import polars as pl

from dvol_pipeline.assets.dvol.forecasts import forecast_metrics, oos_predictions
from dvol_pipeline.assets.metadata import catalog_metadata, markdown
from dvol_pipeline.assets.dvol.config import BacktestRunConfig, to_quant
from dvol_pipeline.lake.catalog import in_zone, table
from dvol_pipeline.pipeline.dvol.backtest import promote_live, run_backtests, write_tables
from dvol_pipeline.quant.dvol.backtest import BacktestConfig
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
    + "\n".join(f"- `{t.name}`: {t.doc}" for t in in_zone("backtest")
                 if t.name != "model_promotion" and not t.name.startswith("ivrank_")),
)
def backtest(
    context: dg.AssetExecutionContext, config: BacktestRunConfig, lake: LakeResource, market: MarketResource
) -> dg.MaterializeResult:
    run = run_backtests(lake.path, market.coins, to_quant(config, BacktestConfig))
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
    metadata=catalog_metadata("model_promotion"),
    description=table("model_promotion").doc + " A family is promoted only if, over past folds, its futures "
    "strategy beats HAR on net Sharpe AND max drawdown (both coins); otherwise HAR stays.",
)
def model_promotion(lake: LakeResource, market: MarketResource) -> dg.MaterializeResult:
    decision, evidence = promote_live(lake.path, market.coins)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": decision.height,
            "as_of_fold": decision["as_of_fold"][0],
            "decision": markdown(decision.select("asset", "horizon", "promoted_family", pl.col("tau").round(3),
                                              pl.col("hit_rate_active").round(3), "primary", "reason")),
            "evidence_vs_har": markdown(evidence.with_columns(pl.col(pl.Float64).round(3)), rows=30),
        }
    )
