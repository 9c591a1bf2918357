"""ivrank: the IV-rank option strategies, their LightGBM gate and the regime choice (backtest group)."""

import dagster as dg

from dvol_pipeline.assets.options.config import IVRankRunConfig, to_quant
from dvol_pipeline.assets.metadata import markdown
from dvol_pipeline.lake.catalog import table
from dvol_pipeline.pipeline.options.ivrank import headline, run_ivrank_tables
from dvol_pipeline.quant.options.ivrank import IVRankConfig
from dvol_pipeline.quant.options.ivrank.metrics import pooled_gate_auc
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
    auc, n = pooled_gate_auc(run.result.trades)
    context.log.info(f"ivrank gate: out-of-sample AUC {auc if auc is None else round(auc, 3)} on {n} candidates")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": run.sizes["ivrank_trades"],
        "note": run.note,
        "tables": dg.MetadataValue.json(run.sizes),
        "gate_oos_auc": auc,
        "net_sharpe_by_regime": markdown(headline(run.result), rows=30),
    })
