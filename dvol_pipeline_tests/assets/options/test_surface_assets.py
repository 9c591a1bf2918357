"""option_surface and chain_greeks in Dagster: what a lake without option chains gets."""

from __future__ import annotations

from datetime import date, datetime, timezone

import dagster as dg

from dvol_pipeline.assets.options.surface import chain_greeks, option_surface
from dvol_pipeline.resources import LakeResource, MarketResource


def test_a_lake_without_chains_gets_empty_surfaces_and_a_note_not_a_failure(lake):
    """A CryptoDataDownload user has DVOL and bars but no chains: the daily run must go on."""
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [option_surface, chain_greeks], instance=instance, partition_key="2024-03-02",
            resources={"lake": LakeResource(root=str(lake)), "market": MarketResource(source="cdd")},
        )
    assert result.success
    mats = {e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert set(mats) == {"surface_params", "surface_grid", "surface_features", "surface_model_comparison",
                         "chain_greeks"}
    assert all(m["dagster/row_count"].value == 0 and "no raw_option_chain" in m["note"].value for m in mats.values())
    checks = [e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert {c.check_name for c in checks} == {"butterfly_arbitrage", "calendar_arbitrage", "atm_pricing_error", "dvol_replica",
                                              "svi_fit_residuals", "atm_iv_spike", "skew_inversion"}
    assert all(c.passed and "nothing to check" in c.description for c in checks)
    assert not (lake / "surface").exists()


def test_svi_fit_residuals_flags_a_surface_that_misses_the_quotes_and_passes_one_that_does_not():
    """The check reads the comparison's in-sample errors of the repaired SVI (half a spread allowed)."""
    from types import SimpleNamespace

    import polars as pl

    from dvol_pipeline.assets.options.surface import RESIDUAL_TARGET_SPREADS, _residual_check
    from dvol_pipeline.quant.pricing.surface.comparison import empty_comparison

    def build(err_spreads):
        rows = empty_comparison().vstack(pl.DataFrame({
            "date": [date(2024, 3, 7)] * 3, "asset": ["BTC"] * 3,
            "expiry": [datetime(2024, 3, 29, 8, tzinfo=timezone.utc)] * 3,
            "model": ["svi_repaired", "svi_repaired", "sabr"], "test": ["in_sample", "next_day", "in_sample"],
            "days_to_expiry": [22.0] * 3, "n_fit": [20] * 3, "n_quotes": [20] * 3, "iv_rmse_vol": [1.0] * 3,
            "price_mae_spreads": [err_spreads, 9.0, 9.0], "inside_spread_share": [0.5] * 3,
        }, schema=empty_comparison().schema))
        return SimpleNamespace(comparison=rows)

    good, bad = _residual_check(build(0.2)), _residual_check(build(RESIDUAL_TARGET_SPREADS + 0.3))
    assert good.passed and not bad.passed  # the next-day and SABR rows do not count
    assert bad.metadata["median_price_mae_spreads"].value == RESIDUAL_TARGET_SPREADS + 0.3
    nothing = _residual_check(SimpleNamespace(comparison=empty_comparison()))
    assert nothing.passed and "no evaluated day" in nothing.description
