"""option_surface and chain_greeks in Dagster: what a lake without option chains gets."""

from __future__ import annotations

import dagster as dg

from dvol_pipeline.assets.surface import chain_greeks, option_surface
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
