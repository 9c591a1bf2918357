"""Implied-vol surfaces from end-of-day option chains: liquidity filter, batched SVI fits,
no-arbitrage repair, static-arbitrage checks, SABR as a second smile model and its
out-of-sample comparison with SVI, constant-maturity features, ATM repricing and the DVOL replica.

Pure functions over polars frames (no dagster, no lake IO); every function takes many
days and both assets in one call.
"""

from __future__ import annotations

from .arbitrage import butterfly_g, butterfly_violations, calendar_violations
from .build import (
    REPLICA_TOLERANCE_VOL,
    SurfaceBuild,
    atm_pricing_error,
    build_surfaces,
    chain_replica,
    published_dvol,
    replica_check,
)
from .constant_maturity import DELTA_LABELS, TENORS_DAYS, surface_features, surface_grid
from .comparison import EVAL_EVERY_DAYS, compare_models, comparison_summary, own_fit_error_spreads
from .liquidity import REASONS, LiquidityRules, drop_counts, filter_quotes
from .repair import fit_repaired_slices, repair_summary
from .sabr import fit_sabr_slices, sabr_vol
from .svi import fit_slices, fit_svi_arrays, smile_points, svi_derivatives, svi_total_variance, svi_vol

__all__ = [
    "DELTA_LABELS",
    "EVAL_EVERY_DAYS",
    "REASONS",
    "REPLICA_TOLERANCE_VOL",
    "TENORS_DAYS",
    "LiquidityRules",
    "SurfaceBuild",
    "atm_pricing_error",
    "build_surfaces",
    "butterfly_g",
    "butterfly_violations",
    "calendar_violations",
    "chain_replica",
    "compare_models",
    "comparison_summary",
    "drop_counts",
    "filter_quotes",
    "fit_repaired_slices",
    "own_fit_error_spreads",
    "repair_summary",
    "fit_sabr_slices",
    "fit_slices",
    "fit_svi_arrays",
    "published_dvol",
    "replica_check",
    "sabr_vol",
    "smile_points",
    "surface_features",
    "surface_grid",
    "svi_derivatives",
    "svi_total_variance",
    "svi_vol",
]
