"""features_daily: one row per (date, coin), with a blocking no-look-ahead check."""

from datetime import date

import dagster as dg

from dvol_pipeline.assets.metadata import catalog_metadata, markdown
from dvol_pipeline.assets.raw import raw_assets
from dvol_pipeline.pipeline.dvol.features import FEATURES_TABLE, build_range
from dvol_pipeline.partitions import daily_partitions, partition_dates, single_run_asset
from dvol_pipeline.quant.dvol.features import features_markdown
from dvol_pipeline.resources import LakeResource, MarketResource
from dvol_pipeline.settings import HISTORY_START


@single_run_asset(
    name=FEATURES_TABLE,
    group_name="features",
    deps=[*raw_assets, dg.AssetKey("surface_features")],
    partitions_def=daily_partitions,
    kinds={"parquet", "polars"},
    metadata=catalog_metadata(FEATURES_TABLE),
    description="Daily DVOL features and labels y_1d/y_7d/y_14d per coin.\n\n" + features_markdown(),
    check_specs=[
        dg.AssetCheckSpec(
            "no_lookahead",
            asset=FEATURES_TABLE,
            blocking=True,
            description="rebuilding from data stamped before each sampled day's cut-off gives the same row",
        )
    ],
)
def features_daily(context: dg.AssetExecutionContext, lake: LakeResource, market: MarketResource):
    start, end = partition_dates(context)
    build = build_range(lake.path, date.fromisoformat(HISTORY_START), start, end, market.coins)
    leak = build.leakage
    if not leak.passed:
        context.log.error(leak.summary())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": build.rows.height,
            "partitions_written": build.partitions,
            "groups_used": ", ".join(build.features.groups_used),
            "estimators": dg.MetadataValue.json(build.features.estimators),
            "feature_count": len([c for c in build.rows.columns if c not in ("date", "asset")]) - 3,
            "raw_rows_read": dg.MetadataValue.json(build.inputs),
            "preview": markdown(build.rows.tail(5)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="no_lookahead",
                passed=leak.passed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=leak.summary(),
                metadata={"days_checked": len(leak.days_checked), "values_compared": leak.n_compared,
                          "violations": markdown(leak.violations)},
            )
        ],
    )
