"""The paper book: the day's signal traded at the next snapshot, in the end-of-day job."""

import dagster as dg

from dvol_pipeline.assets.metadata import catalog_metadata, markdown
from dvol_pipeline.lake.catalog import table
from dvol_pipeline.partitions import daily_partitions, partition_dates
from dvol_pipeline.pipeline.dvol.paper import OPTION_TABLES, TABLES, run_paper
from dvol_pipeline.resources import LakeResource, MarketResource


def _spec(name: str, *extra: str) -> dg.AssetSpec:
    """The option sleeve's tables (`extra` deps: the chain) are skipped on a lake without chains."""
    deps = ["signals", "features_daily", "backtest", *extra]
    return dg.AssetSpec(name, group_name="signals", kinds={"parquet"}, metadata=catalog_metadata(name),
                        deps=[dg.AssetKey(d) for d in deps], description=table(name).doc, skippable=bool(extra))


@dg.multi_asset(
    name="paper_book",
    specs=[*(_spec(n) for n in TABLES), *(_spec(n, "raw_option_chain", "raw_ohlcv") for n in OPTION_TABLES)],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec("book_reconciles", asset="paper_positions", blocking=True,
                                   description="cash and positions equal what the fills imply, every day"),
                 dg.AssetCheckSpec("option_sleeve_reconciles", asset="paper_option_positions", blocking=True,
                                   description="the option sleeve's cash, legs and hedge equal what its fills "
                                               "imply, every day")],
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
    opt = run.options
    if opt is None:
        context.log.info("option sleeve skipped: the lake has no raw_option_chain for this range")
        yield dg.AssetCheckResult(asset_key="paper_option_positions", check_name="option_sleeve_reconciles",
                                  passed=True, metadata={"skipped": "no raw_option_chain for this range"})
    for name, frame in (() if opt is None else (("paper_option_fills", opt.fills),
                                                ("paper_option_positions", opt.positions))):
        yield dg.MaterializeResult(asset_key=name, metadata={"dagster/row_count": frame.height})
    if opt is not None:
        yield dg.MaterializeResult(asset_key="paper_option_book", metadata={
            "dagster/row_count": opt.book.height, "pnl_usd": float(opt.book["pnl_usd"].sum()),
            "book": markdown(opt.book.tail(4))})
        bad_opt = opt.check.filter(~opt.check["ok"])
        yield dg.AssetCheckResult(asset_key="paper_option_positions", check_name="option_sleeve_reconciles",
                                  passed=bad_opt.is_empty(), metadata={"days_checked": opt.check.height,
                                                                      "mismatches": markdown(bad_opt)})
    if run.events:
        # the book has acted (flat / stopped); failing the run raises the run-failure alert
        raise dg.Failure("paper book kill switch: " + "; ".join(run.events))
