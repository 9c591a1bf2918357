"""ivrank: the IV-rank option strategies, their LightGBM gate and the regime choice (backtest group)."""

import dagster as dg
import polars as pl

from dvol_pipeline.assets.config import IVRankRunConfig, to_quant
from dvol_pipeline.assets.metadata import markdown
from dvol_pipeline.lake.catalog import table
from dvol_pipeline.pipeline.ivrank import headline, run_ivrank_tables
from dvol_pipeline.quant.option_strategies.ivrank import IVRankConfig
from dvol_pipeline.quant.stats import roc_auc
from dvol_pipeline.resources import LakeResource, MarketResource

TABLES = ("ivrank_trades", "ivrank_gate_folds", "ivrank_regime_choices", "ivrank_strategy_metrics", "ivrank_daily")


@dg.asset(
    group_name="backtest",
    deps=[dg.AssetKey(k) for k in ("raw_option_chain", "raw_ohlcv", "vol_regimes", "surface_features",
                                    "features_daily")],
    kinds={"parquet", "lightgbm"},
    description="IV-rank strategies: sell defined-risk premium when IV rank is high, buy straddles when low; a "
    "walk-forward LightGBM gate on each trade; a structure per regime chosen from past months. Tables:\n\n"
    + "\n".join(f"- `{n}`: {table(n).doc}" for n in TABLES),
)
def ivrank(context: dg.AssetExecutionContext, config: IVRankRunConfig, lake: LakeResource,
           market: MarketResource) -> dg.MaterializeResult:
    run = run_ivrank_tables(lake.path, market.coins, to_quant(config, IVRankConfig))
    context.log.info(run.note)
    if run.result is None:
        return dg.MaterializeResult(metadata={"dagster/row_count": 0, "note": run.note})
    oos = run.result.trades.filter(pl.col("prob").is_not_null())
    auc = roc_auc((oos["net_usd"] > 0).to_numpy(), oos["prob"].to_numpy()) if oos.height else float("nan")
    context.log.info(f"ivrank gate: out-of-sample AUC {auc:.3f} on {oos.height} candidates")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": run.sizes["ivrank_trades"],
        "note": run.note,
        "tables": dg.MetadataValue.json(run.sizes),
        "gate_oos_auc": float(auc) if auc == auc else None,
        "net_sharpe_by_regime": markdown(headline(run.result), rows=30),
    })
