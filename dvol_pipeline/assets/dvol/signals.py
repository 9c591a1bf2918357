"""signals: the desk's end-of-day output, one row per (day, coin)."""

from urllib.parse import urlencode

import dagster as dg
import polars as pl

from dvol_pipeline.assets.dvol.features import features_daily
from dvol_pipeline.assets.metadata import catalog_metadata, markdown
from dvol_pipeline.lake.catalog import table
from dvol_pipeline.pipeline.dvol.backtest import read_promotion
from dvol_pipeline.pipeline.dvol.signals import SIGNALS_TABLE, build_signals
from dvol_pipeline.partitions import daily_partitions, partition_dates, single_run_asset
from dvol_pipeline.resources import LakeResource, MarketResource
from dvol_pipeline.settings import api_url


@single_run_asset(
    name=SIGNALS_TABLE,
    group_name="signals",
    deps=[features_daily, dg.AssetKey("model_promotion")],
    partitions_def=daily_partitions,
    kinds={"parquet"},
    metadata=catalog_metadata(SIGNALS_TABLE),
    description="End-of-day signals: the promoted model of each horizon scores the day's features "
    "(models of the day's month, trained before it); direction from the primary horizon's threshold.\n\n"
    + "\n".join(f"- `{k}`: {v}" for k, v in table(SIGNALS_TABLE).column_docs().items()),
)
def signals(context: dg.AssetExecutionContext, lake: LakeResource, market: MarketResource):
    start, end = partition_dates(context)
    promotion = read_promotion(lake.path)
    rows = build_signals(lake.path, start, end, market.coins, promotion)
    if rows.is_empty():
        raise dg.Failure(
            f"no signals for {start}..{end}: features_daily has no rows for these days and coins "
            f"{market.coins}; materialize features_daily for the range first"
        )
    last = rows.filter(pl.col("date") == rows["date"].max())
    day = urlencode({"date": rows["date"].max().isoformat()})
    return dg.MaterializeResult(
        metadata={
            "signal_api": dg.MetadataValue.url(f"{api_url()}/signals?{day}"),
            **{f"signal_api_{coin}": dg.MetadataValue.url(f"{api_url()}/signal/{coin}?{day}")
               for coin in sorted(last["asset"].unique().to_list())},
            "dagster/row_count": rows.height,
            "latest": markdown(last),
            "stale_models": int(rows["model_version"].str.contains("stale").sum()),
            "direction_counts": dg.MetadataValue.json(
                {str(k): int(v) for k, v in rows["direction"].value_counts().sort("direction").iter_rows()}
            ),
        }
    )
