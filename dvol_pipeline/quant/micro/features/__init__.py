"""Intraday microstructure features (`micro_features`) and their daily roll-up (`micro_daily`)."""

from .build import KEY, ExtraFeature, build_features
from .daily import daily_rollup
from .lookahead import LeakReport, lookahead_check
from .registry import BY_NAME, FEATURES, GROUPS, NAMES, FeatureSpec, features_markdown, missing_features

__all__ = ["BY_NAME", "FEATURES", "GROUPS", "KEY", "NAMES", "ExtraFeature", "FeatureSpec", "LeakReport",
           "build_features", "daily_rollup", "features_markdown", "lookahead_check", "missing_features"]
