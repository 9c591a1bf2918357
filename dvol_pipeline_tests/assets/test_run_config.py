"""Typed run config: launchpad entries become the quant dataclasses, defaults unchanged."""

import dagster as dg
import pytest

from dvol_pipeline.assets.config import to_quant
from dvol_pipeline.assets.dvol.config import BacktestRunConfig, WalkForwardRunConfig
from dvol_pipeline.assets.options.config import SurfaceRunConfig
from dvol_pipeline.definitions import defs
from dvol_pipeline.quant.dvol.backtest import BacktestConfig
from dvol_pipeline.quant.pricing.surface import LiquidityRules
from dvol_pipeline.quant.learn.folds import WalkForwardConfig


@pytest.mark.parametrize("config, cls", [
    (BacktestRunConfig, BacktestConfig), (WalkForwardRunConfig, WalkForwardConfig), (SurfaceRunConfig, LiquidityRules),
])
def test_defaults_are_the_quant_defaults(config, cls):
    assert to_quant(config(), cls) == cls()


def test_a_launchpad_override_reaches_the_nested_backtest_config():
    entry = BacktestRunConfig(capital_usd=500_000.0, risk={"kill_drawdown_usd": 40_000.0},
                              costs={"half_spread_vol": 0.4}, cost_multipliers=[1.0, 2.0])
    quant = to_quant(entry, BacktestConfig)
    assert quant.capital_usd == 500_000.0 and quant.risk.kill_drawdown_usd == 40_000.0
    assert quant.costs.half_spread_vol == 0.4 and quant.cost_multipliers == (1.0, 2.0)
    # untouched fields keep their defaults, nested ones included
    assert quant.risk.daily_stop_usd == BacktestConfig().risk.daily_stop_usd
    assert quant.thresholds == BacktestConfig().thresholds


def test_a_bad_walk_forward_choice_is_refused_with_its_reason():
    with pytest.raises(ValueError, match="rolling window needs rolling_days"):
        to_quant(WalkForwardRunConfig(window="rolling"), WalkForwardConfig)


def test_the_assets_expose_their_config_to_the_launchpad():
    graph = defs.get_repository_def().asset_graph
    fields = {}
    for name in ("backtest", "oos_predictions", "option_surface"):
        node = graph.get(dg.AssetKey("surface_params" if name == "option_surface" else name))
        node_def = node.assets_def.node_def  # a graph-backed asset (folds as steps) shows its mapping's config
        schema = node_def.config_mapping.config_schema if isinstance(node_def, dg.GraphDefinition) else node_def.config_schema
        fields[name] = set(schema.config_type.fields)
    assert {"capital_usd", "costs", "risk", "thresholds"} <= fields["backtest"]
    assert {"seed", "families", "window", "min_history_days", "explain"} <= fields["oos_predictions"]
    assert {"max_rel_spread", "min_open_interest"} <= fields["option_surface"]


def test_every_lake_asset_shows_its_catalog_columns_in_the_ui():
    from dvol_pipeline.lake.catalog import table

    graph = defs.get_repository_def().asset_graph
    for name in ("raw_dvol", "surface_params", "features_daily", "oos_predictions", "model_promotion", "signals"):
        meta = graph.get(dg.AssetKey(name)).metadata
        assert [c.name for c in meta["dagster/column_schema"].columns] == [c.name for c in table(name).columns]
        assert meta["lake_zone"] == table(name).zone
