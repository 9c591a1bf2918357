"""The live decisions without files: the signal rule and the active hit rate."""

import numpy as np
import polars as pl

from dvol_pipeline.quant.stats import active_hit_rate
from dvol_pipeline.quant.dvol.signals import Promotion, SignalConfig, decide, promotions_from_table

PROMO = Promotion(family={1: "har", 7: "lightgbm", 14: "garch"}, tau={1: 0.5, 7: 1.0, 14: 2.0},
                  confidence={1: 0.52, 7: 0.61, 14: 0.55}, primary=7)


def test_direction_comes_from_the_primary_horizon_against_its_threshold():
    assert decide({1: -9.0, 7: 1.0, 14: -9.0}, PROMO).direction == 1  # at tau: trades
    assert decide({1: 9.0, 7: -1.5, 14: 9.0}, PROMO).direction == -1
    flat = decide({1: 9.0, 7: 0.99, 14: 9.0}, PROMO)
    assert flat.direction == 0 and flat.confidence == 0.0 and flat.tau == 1.0 and flat.primary_horizon == 7
    assert decide({1: 9.0, 7: 3.0, 14: 9.0}, PROMO).confidence == 0.61


def test_a_missing_forecast_is_flat_never_a_guess():
    assert decide({1: 1.0, 7: float("nan"), 14: 1.0}, PROMO).direction == 0
    assert decide({1: 1.0, 14: 1.0}, PROMO).direction == 0


def test_promotion_rows_with_gaps_fall_back_to_the_configured_defaults():
    table = pl.DataFrame({
        "asset": ["BTC", "BTC"], "horizon": [1, 14], "promoted_family": ["har", "garch"],
        "tau": [None, 2.0], "hit_rate_active": [None, 0.6], "primary": [False, False],
    })
    config = SignalConfig(fallback_confidence=0.4, fallback_primary=14, fallback_family="zero")
    promo = promotions_from_table(table, config)["BTC"]
    assert promo.primary == 14 and promo.tau[1] == 0.0 and promo.confidence[1] == 0.4
    assert promo.family_for(7, config) == "zero" and promo.family_for(14, config) == "garch"


def test_active_hit_rate_counts_only_signals_beyond_tau():
    y_hat = np.array([3.0, -3.0, 0.1, 2.0])
    y = np.array([1.0, 1.0, -5.0, 4.0])
    assert active_hit_rate(y_hat, y, 1.0) == 2 / 3
    assert np.isnan(active_hit_rate(y_hat, y, 10.0))
    assert np.isnan(active_hit_rate(y_hat, y, float("nan")))
