"""Option surfaces and chain greeks from the end-of-day chains, with their quality checks."""

import dagster as dg
import polars as pl

from dvol_pipeline.assets.metadata import catalog_metadata, markdown
from dvol_pipeline.assets.options.config import SurfaceRunConfig, to_quant
from dvol_pipeline.lake.catalog import table
from dvol_pipeline.assets.options.surface_alerts import ALERT_CHECK_SPECS, RULES, alert_check_results, events, no_alerts
from dvol_pipeline.pipeline.options.surface import NO_CHAIN, build_greeks_range, build_surface_range, surface_alerts
from dvol_pipeline.partitions import daily_partitions, partition_dates, single_run_asset
from dvol_pipeline.quant.pricing.surface import EVAL_EVERY_DAYS, REPLICA_TOLERANCE_VOL, LiquidityRules, comparison_summary
from dvol_pipeline.quant.pricing.surface import own_fit_error_spreads, repair_summary, replica_check
from dvol_pipeline.resources import LakeResource, MarketResource

CHAIN, DVOL = dg.AssetKey("raw_option_chain"), dg.AssetKey("raw_dvol")
ATM_PRICING_TARGET = 0.05
"""Median |model / mid - 1| of ATM options the fitted surface must reprice within."""
RESIDUAL_TARGET_SPREADS = 0.5
"""Median over slices of the repaired SVI's in-sample mean |price - mid|, in bid-ask spreads,
it must stay within: a smile further than half a spread from the typical mid misses the market."""
SURFACE_KEYS = ("surface_params", "surface_grid", "surface_features", "surface_model_comparison")


def _spec(name: str) -> dg.AssetSpec:
    return dg.AssetSpec(name, group_name="surface", deps=[CHAIN, DVOL], kinds={"parquet", "numpy"},
                        metadata=catalog_metadata(name),
                        description=table(name).doc)


def _check(name: str, asset: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=asset, description=description)


def replica_events(replica: pl.DataFrame) -> list[dict]:
    """Days whose replica drifted beyond tolerance, as alert events (one per coin and day)."""
    drift = replica.filter(pl.col("diff").abs() > REPLICA_TOLERANCE_VOL)
    return events(drift.select("date", "asset", "diff")) if drift.height else []


def _no_chains(note: str):
    """A source without option chains (CDD): empty surfaces, checks with nothing to check."""
    for key in SURFACE_KEYS:
        yield dg.MaterializeResult(asset_key=key, metadata={"dagster/row_count": 0, "note": note})
    for key, name in (("surface_params", "butterfly_arbitrage"), ("surface_params", "calendar_arbitrage"),
                      ("surface_params", "atm_pricing_error"), ("surface_features", "dvol_replica"),
                      ("surface_model_comparison", "svi_fit_residuals")):
        yield dg.AssetCheckResult(asset_key=key, check_name=name, passed=True, description=f"nothing to check: {note}")
    yield from no_alerts(note)


def _arbitrage_checks(b):
    """After the repair no slice may keep an arbitrage (ERROR); the metadata says what the repair cost."""
    cost, by_reason = repair_summary(b.params)
    yield dg.AssetCheckResult(
        asset_key="surface_params", check_name="butterfly_arbitrage", passed=b.butterfly.is_empty(),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"violations_after_repair": b.butterfly.height,
                  "slices_affected": b.butterfly.select("date", "asset", "expiry").unique().height,
                  "repair": markdown(cost), "repaired_by_reason": markdown(by_reason),
                  "first_violations": markdown(b.butterfly.head(20))},
    )
    yield dg.AssetCheckResult(
        asset_key="surface_params", check_name="calendar_arbitrage", passed=b.calendar.is_empty(),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"violations_after_repair": b.calendar.height, "first_violations": markdown(b.calendar.head(20))},
    )


def _residual_check(b) -> dg.AssetCheckResult:
    summary = comparison_summary(b.comparison)
    value = own_fit_error_spreads(summary)
    return dg.AssetCheckResult(
        asset_key="surface_model_comparison", check_name="svi_fit_residuals",
        passed=bool(value is None or value <= RESIDUAL_TARGET_SPREADS), severity=dg.AssetCheckSeverity.WARN,
        description=None if value is not None else f"no evaluated day in the range (every {EVAL_EVERY_DAYS}th day)",
        metadata={"median_price_mae_spreads": float("nan") if value is None else value, "target_spreads": RESIDUAL_TARGET_SPREADS,
                  "summary": markdown(summary)},
    )


@dg.multi_asset(
    name="option_surface",
    specs=[_spec(key) for key in SURFACE_KEYS],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        _check("butterfly_arbitrage", "surface_params", "Gatheral's g(k) >= 0 on every repaired slice "
               "(no negative risk-neutral density); violations listed, with how many raw fits needed the repair"),
        _check("calendar_arbitrage", "surface_params", "repaired total variance non-decreasing in maturity at "
               "every log-moneyness, between adjacent expiries; violations listed"),
        _check("svi_fit_residuals", "surface_model_comparison", f"the repaired SVI prices the quotes it was fitted "
               f"to within {RESIDUAL_TARGET_SPREADS} bid-ask spreads of the mid (median over slices); SABR and "
               f"out-of-sample errors shown"),
        _check("atm_pricing_error", "surface_params", f"the fitted surface reprices ATM options within "
               f"{ATM_PRICING_TARGET:.0%} of the market mid (median |error|)"),
        _check("dvol_replica", "surface_features", f"the chain's 30-day variance-swap replica is within "
               f"{REPLICA_TOLERANCE_VOL} vol points of the published DVOL close every day"),
        *ALERT_CHECK_SPECS,
    ],
)
def option_surface(
    context: dg.AssetExecutionContext, config: SurfaceRunConfig, lake: LakeResource, market: MarketResource
):
    start, end = partition_dates(context)
    built = build_surface_range(lake.path, start, end, market.coins, to_quant(config, LiquidityRules))
    if built.build is None:
        yield from _no_chains(NO_CHAIN.format(start=start, end=end, coins=market.coins))
        return
    b = built.build
    if b.empty_reason:
        context.log.warning(f"no surface fitted for {start}..{end}: {b.empty_reason}")
    fits = b.params.select(
        pl.len().alias("slices"), pl.col("rmse_vol").median().alias("median_rmse_vol"),
        pl.col("rmse_vol").max().alias("max_rmse_vol"), pl.col("n_points").median().alias("median_points"),
    )
    yield dg.MaterializeResult(asset_key="surface_params", metadata={
        "dagster/row_count": b.params.height, "partitions_written": built.partitions["surface_params"],
        "chain_rows_read": built.chain_rows, "fit_quality": markdown(fits),
        "liquidity_filter_drops": markdown(b.drop_counts),
    })
    yield dg.MaterializeResult(asset_key="surface_grid", metadata={
        "dagster/row_count": b.grid.height, "partitions_written": built.partitions["surface_grid"],
    })
    yield dg.MaterializeResult(asset_key="surface_features", metadata={
        "dagster/row_count": b.features.height, "partitions_written": built.partitions["surface_features"],
        "latest": markdown(b.features.sort("date").tail(4)),
    })
    yield dg.MaterializeResult(asset_key="surface_model_comparison", metadata={
        "dagster/row_count": b.comparison.height, "partitions_written": built.partitions["surface_model_comparison"],
        "every_n_days": EVAL_EVERY_DAYS, "summary": markdown(comparison_summary(b.comparison)),
    })
    yield from _arbitrage_checks(b)
    yield _residual_check(b)
    err = b.pricing_error_summary()
    yield dg.AssetCheckResult(
        asset_key="surface_params", check_name="atm_pricing_error",
        passed=bool(err["n"] == 0 or err["median_abs_rel_err"] <= ATM_PRICING_TARGET),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={k: float(v) for k, v in err.items()},
    )
    passed, worst = replica_check(b.replica)
    diff = b.replica["diff"].drop_nulls().abs()
    yield dg.AssetCheckResult(
        asset_key="surface_features", check_name="dvol_replica", passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"days_compared": int(diff.len()), "max_abs_diff_vol": float(diff.max() or 0.0),
                  "tolerance_vol": REPLICA_TOLERANCE_VOL, "worst_days": markdown(worst),
                  "events": dg.MetadataValue.json({"events": replica_events(b.replica)})},
    )
    yield from alert_check_results(*surface_alerts(lake.path, b.features, RULES))


@single_run_asset(
    group_name="surface",
    deps=[CHAIN],
    partitions_def=daily_partitions,
    kinds={"parquet", "numpy"},
    description=table("chain_greeks").doc + " Also writes `chain_exposures`: " + table("chain_exposures").doc,
)
def chain_greeks(context: dg.AssetExecutionContext, lake: LakeResource, market: MarketResource):
    start, end = partition_dates(context)
    built = build_greeks_range(lake.path, start, end, market.coins)
    if built is None:
        note = NO_CHAIN.format(start=start, end=end, coins=market.coins)
        context.log.warning(note)
        return dg.MaterializeResult(metadata={"dagster/row_count": 0, "note": note})
    greeks, exposures, written = built
    mismatch = (greeks["iv_solved"] - greeks["mark_iv"]).abs()
    return dg.MaterializeResult(metadata={
        "dagster/row_count": greeks.height,
        "partitions_written": dg.MetadataValue.json(written),
        "max_abs_iv_roundtrip_vol": float(mismatch.max() or 0.0),
        "exposures_latest_day": markdown(exposures.filter(pl.col("date") == exposures["date"].max())),
    })
