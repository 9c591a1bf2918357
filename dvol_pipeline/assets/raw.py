"""The raw tables as one multi-asset: ingest a day or a whole range in one step, one source.

One step per run instead of one per table: the source is opened once (the simulated
market is simulated once, a CDD folder read once, Deribit's snapshot and rate limiter
shared), so no process-wide cache is needed and any executor works. The asset can be
subset: selecting `raw_dvol` alone ingests only it.

Each table emits its data contract as a blocking check (`contract`): a failed contract
fails the step and stops downstream assets in the run (after every selected table was
written or quarantined). Gaps are a separate, non-blocking `gaps` check, since a hole in
history is worth a warning but not worth stopping the desk.
"""

import dagster as dg

from dvol_pipeline.assets.metadata import catalog_metadata, contract_metadata, gap_metadata, ingest_metadata
from dvol_pipeline.contracts.tables import RAW_TABLES, TableSpec
from dvol_pipeline.partitions import daily_partitions, partition_dates
from dvol_pipeline.pipeline.ingest import ingest_table
from dvol_pipeline.progress import track
from dvol_pipeline.resources import LakeResource, MarketResource

RAW_GROUP = "raw"


def _asset_spec(spec: TableSpec) -> dg.AssetSpec:
    return dg.AssetSpec(
        spec.name, group_name=RAW_GROUP, description=spec.doc, kinds={"parquet", "polars"},
        metadata=catalog_metadata(spec.name),
    )


def _check_specs(spec: TableSpec) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec("contract", asset=spec.name, blocking=True,
                          description="pandera contract: dtypes, UTC, unique key, row rules; rejects quarantined"),
        dg.AssetCheckSpec("gaps", asset=spec.name, description="no hole longer than the table's max gap"),
    ]


def _results(spec: TableSpec, report, lake_path, where: str):
    yield dg.MaterializeResult(asset_key=spec.name, metadata=ingest_metadata(report, lake_path))
    yield dg.AssetCheckResult(
        asset_key=spec.name, check_name="contract", passed=report.contract.passed,
        severity=dg.AssetCheckSeverity.ERROR, description=report.contract.message(where),
        metadata=contract_metadata(report, lake_path),
    )
    yield dg.AssetCheckResult(
        asset_key=spec.name, check_name="gaps", passed=report.gaps.is_empty() and not report.missing,
        severity=dg.AssetCheckSeverity.WARN, metadata=gap_metadata(report),
    )


@dg.multi_asset(
    name="raw_tables",
    specs=[_asset_spec(s) for s in RAW_TABLES.values()],
    check_specs=[c for s in RAW_TABLES.values() for c in _check_specs(s)],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,
)
def raw_tables(context: dg.AssetExecutionContext, lake: LakeResource, market: MarketResource):
    start, end = partition_dates(context)
    source = market.open()
    selected = {k.path[-1] for k in context.selected_asset_keys}
    specs = [s for s in RAW_TABLES.values() if s.name in selected]
    for spec in track(specs, f"raw {start}..{end}", unit="table", note=lambda s: s.name):
        context.log.info(f"{spec.name}: ingesting {start}..{end} for {market.coins} from {market.source}")
        report = ingest_table(spec, source, lake.path, start, end, market.coins, rebuild=market.rebuild)
        context.log.info(
            f"{spec.name}: wrote {report.rows_written} rows in {len(report.written)} partitions; "
            f"{report.contract.rejected.height} quarantined"
        )
        where = f" [{start}..{end}]"
        if not report.contract.passed:
            context.log.error(report.contract.message(where))
        yield from _results(spec, report, lake.path, where)


raw_assets = [raw_tables]
