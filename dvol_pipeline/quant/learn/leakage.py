"""The shape every lane's leakage check returns: prefix invariance, reported the same way.

A lane's features are leak-free when the row of day D built from everything equals the row
built from the inputs cut at D's cut-off. How a lane cuts its inputs is the lane's business
(quant/dvol/features/leakage.py, quant/universe/leakage.py); the report they return, and
the violations' columns, are defined here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

VIOLATION_SCHEMA = {"feature": pl.Utf8, "date": pl.Date, "asset": pl.Utf8,
                    "full_value": pl.Float64, "truncated_value": pl.Float64}


@dataclass
class LeakageReport:
    passed: bool
    violations: pl.DataFrame
    """feature, date, asset, full_value, truncated_value: one row per differing value."""
    days_checked: list[date]
    n_compared: int

    def summary(self) -> str:
        if self.passed:
            return f"no look-ahead: {self.n_compared} values on {len(self.days_checked)} day(s) match their prefix builds"
        feats = self.violations["feature"].unique().sort().to_list()
        return f"LOOK-AHEAD in {len(feats)} feature(s): {', '.join(feats)} ({self.violations.height} values differ)"
