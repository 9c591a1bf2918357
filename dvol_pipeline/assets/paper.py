"""The paper book: the day's signal traded at the next snapshot, in the end-of-day job."""

import warnings

import dagster as dg

from dvol_pipeline.assets.metadata import catalog_metadata, markdown
from dvol_pipeline.lake.catalog import table
from dvol_pipeline.partitions import daily_partitions, partition_dates
from dvol_pipeline.pipeline.paper import TABLES, run_paper
from dvol_pipeline.resources import LakeResource, MarketResource


def _spec(name: str) -> dg.AssetSpec:
    return dg.AssetSpec(name, group_name="signals", kinds={"parquet"}, metadata=catalog_metadata(name),
                        deps=[dg.AssetKey("signals"), dg.AssetKey("features_daily"), dg.AssetKey("backtest")],
                        description=table(name).doc)


with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)

    @dg.multi_asset(
        name="paper_book",
        specs=[_spec(n) for n in TABLES],
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec("book_reconciles", asset="paper_positions", blocking=True,
                                       description="cash and positions equal what the fills imply, every day")],
    )
    def paper_book(context: dg.AssetExecutionContext, lake: LakeResource, market: MarketResource):
        start, end = partition_dates(context)
        run = run_paper(lake.path, start, end, market.coins)
        bad = run.book_check.filter(~run.book_check["ok"])
        yield dg.MaterializeResult(asset_key="paper_fills", metadata={"dagster/row_count": run.fills.height})
        yield dg.MaterializeResult(asset_key="paper_positions", metadata={
            "dagster/row_count": run.positions.height, "book": markdown(run.positions.tail(4))})
        yield dg.MaterializeResult(asset_key="paper_pnl", metadata={
            "dagster/row_count": run.pnl.height, "pnl_usd": float(run.pnl["pnl_usd"].sum())})
        yield dg.MaterializeResult(asset_key="paper_reconciliation", metadata={
            "dagster/row_count": run.reconciliation.height, "preview": markdown(run.reconciliation.tail(4))})
        yield dg.AssetCheckResult(asset_key="paper_positions", check_name="book_reconciles", passed=bad.is_empty(),
                                  metadata={"days_checked": run.book_check.height, "mismatches": markdown(bad)})
        if run.events:
            # the book has acted (flat / stopped); failing the run raises the run-failure alert
            raise dg.Failure("paper book kill switch: " + "; ".join(run.events))
