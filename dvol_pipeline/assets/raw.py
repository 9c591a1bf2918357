"""One Dagster asset per raw table: ingest a day or a whole range in one run.

Each asset emits its data contract as a blocking check (`contract`): a failed contract
stops downstream assets in the run. Gaps are a separate, non-blocking `gaps` check, since
a hole in history is worth a warning but not worth stopping the desk.
"""

import warnings

import dagster as dg

from dvol_pipeline.assets.metadata import contract_metadata, gap_metadata, ingest_metadata
from dvol_pipeline.contracts.tables import RAW_TABLES, TableSpec
from dvol_pipeline.lake.ingest import ingest_table
from dvol_pipeline.partitions import daily_partitions, partition_dates
from dvol_pipeline.resources import LakeResource, MarketResource

RAW_GROUP = "raw"


def column_schema(spec: TableSpec) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(c.name, str(c.dtype), description=c.doc) for c in spec.columns]
    )


def build_raw_asset(spec: TableSpec) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.name,
        group_name=RAW_GROUP,
        description=spec.doc,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"parquet", "polars"},
        metadata={"dagster/column_schema": column_schema(spec), "key": list(spec.key)},
        check_specs=[
            dg.AssetCheckSpec(
                "contract",
                asset=spec.name,
                blocking=True,
                description="pandera contract: dtypes, UTC, unique key, row rules; rejects quarantined",
            ),
            dg.AssetCheckSpec("gaps", asset=spec.name, description="no hole longer than the table's max gap"),
        ],
    )
    def raw_asset(context: dg.AssetExecutionContext, lake: LakeResource, market: MarketResource):
        start, end = partition_dates(context)
        context.log.info(f"{spec.name}: ingesting {start}..{end} for {market.coins} from {market.source}")
        report = ingest_table(spec, market.open(), lake.path, start, end, market.coins, rebuild=market.rebuild)
        context.log.info(
            f"{spec.name}: wrote {report.rows_written} rows in {len(report.written)} partitions; "
            f"{report.contract.rejected.height} quarantined"
        )
        if not report.contract.passed:
            context.log.error(report.contract.message(f" [{start}..{end}]"))
        return dg.MaterializeResult(
            metadata=ingest_metadata(report, lake.path),
            check_results=[
                dg.AssetCheckResult(
                    check_name="contract",
                    passed=report.contract.passed,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=report.contract.message(f" [{start}..{end}]"),
                    metadata=contract_metadata(report, lake.path),
                ),
                dg.AssetCheckResult(
                    check_name="gaps",
                    passed=report.gaps.is_empty() and not report.missing,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata=gap_metadata(report),
                ),
            ],
        )

    return raw_asset


with warnings.catch_warnings():  # BackfillPolicy is "beta" in Dagster 1.13; single-run ranges are the point
    warnings.simplefilter("ignore", dg.BetaWarning)
    raw_assets = [build_raw_asset(spec) for spec in RAW_TABLES.values()]
