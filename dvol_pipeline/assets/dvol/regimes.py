"""vol_regimes: the volatility regime of each (date, coin), daily partitioned like features_daily."""

from datetime import date

import dagster as dg

from dvol_pipeline.assets.metadata import catalog_metadata, markdown
from dvol_pipeline.lake.catalog import table
from dvol_pipeline.partitions import daily_partitions, partition_dates, single_run_asset
from dvol_pipeline.pipeline.dvol.regimes import REGIMES_TABLE, build_range
from dvol_pipeline.resources import LakeResource, MarketResource
from dvol_pipeline.settings import HISTORY_START


@single_run_asset(
    name=REGIMES_TABLE,
    group_name="features",
    deps=[dg.AssetKey("raw_dvol"), dg.AssetKey("raw_ohlcv"), dg.AssetKey("surface_features")],
    partitions_def=daily_partitions,
    kinds={"parquet", "polars"},
    metadata=catalog_metadata(REGIMES_TABLE),
    description=table(REGIMES_TABLE).doc,
)
def vol_regimes(context: dg.AssetExecutionContext, lake: LakeResource, market: MarketResource):
    start, end = partition_dates(context)
    build = build_range(lake.path, date.fromisoformat(HISTORY_START), start, end, market.coins)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": build.rows.height,
        "partitions_written": build.partitions,
        "regime_counts": dg.MetadataValue.json(build.counts),
        "preview": markdown(build.rows.tail(5)),
    })
