"""The analysts' DuckDB file, rebuilt after the lake changes."""

import dagster as dg
import polars as pl
from pydantic import Field

from dvol_pipeline.assets.metadata import markdown
from dvol_pipeline.assets.raw import raw_assets
from dvol_pipeline.lake.warehouse import warehouse_path
from dvol_pipeline.pipeline.warehouse import refresh_warehouse
from dvol_pipeline.resources import LakeResource


class WarehouseConfig(dg.Config):
    full: bool = Field(default=False, description="walk the whole lake and read every footer, instead of applying "
                                                  "the runs' writes since the last refresh (lake/journal.py)")


@dg.asset(
    group_name="warehouse",
    deps=[
        *raw_assets,
        *(dg.AssetKey(k) for k in ("features_daily", "oos_predictions", "forecast_metrics",
                                    "surface_params", "surface_grid", "surface_features", "surface_model_comparison",
                                    "chain_greeks", "vol_regimes",
                                    "backtest", "model_promotion", "signals", "paper_positions",
                                    "universe_predictions", "universe_strategy_metrics",
                                    "book_quality", "micro_bars", "micro_daily", "micro_gates",
                                    "micro_health")),
    ],
    kinds={"duckdb"},
    description="warehouse.duckdb: a view per lake table (and its quarantine) for analysts; a refresh applies "
    "the writes since the last one (constant work per day), `full` walks the whole lake.",
)
def warehouse(config: WarehouseConfig, lake: LakeResource) -> dg.MaterializeResult:
    views = refresh_warehouse(lake.path, full=config.full)
    table = pl.DataFrame(
        {"view": [v.name for v in views], "rows": [v.rows for v in views], "partitions": [v.partitions for v in views]}
    )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(warehouse_path(lake.path))),
            "views": markdown(table, rows=50),
            "view_count": len(views),
            "example": dg.MetadataValue.md(
                "```\npython -m dvol_pipeline query \"SELECT asset, avg(close) FROM raw_dvol GROUP BY ALL\"\n```"
            ),
        }
    )
