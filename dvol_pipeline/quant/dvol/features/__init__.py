"""Daily features for DVOL forecasting: one row per (date, asset), leakage-checked.

Pure computation (polars/numpy, arch at the GARCH boundary); no Dagster here. See
registry.py for every feature's definition, build.py for how groups are assembled and
leakage.py for the prefix-invariance contract.
"""

from .build import FeatureSet, build_features, lookback_days
from .leakage import LeakageReport, check_no_lookahead, default_check_days, truncate_tables
from .registry import FEATURES, GROUPS, HORIZONS, LABELS, MAX_HORIZON, FeatureSpec, features_markdown

__all__ = [
    "FEATURES",
    "GROUPS",
    "HORIZONS",
    "LABELS",
    "MAX_HORIZON",
    "FeatureSet",
    "FeatureSpec",
    "LeakageReport",
    "build_features",
    "check_no_lookahead",
    "default_check_days",
    "features_markdown",
    "lookback_days",
    "truncate_tables",
]
