"""Variance-risk-premium features (group `vrp`, and `vrp_garch` in group `garch`).

DVOL is the market's 30-day implied vol; the premium is measured against the trailing
realised vol (what a seller of variance has recently been paid for) and against a GARCH
forecast of the coming 30 days (an ex-ante, model-based expectation).
"""

from __future__ import annotations

import polars as pl


def vrp_features(frame: pl.DataFrame) -> pl.DataFrame:
    """Adds vrp columns to a frame holding dvol and the rv (and optionally garch) columns."""
    exprs = []
    if "rv_22d" in frame.columns:
        exprs += [
            (pl.col("dvol") - pl.col("rv_22d")).alias("vrp_rv22"),
            (pl.col("dvol") - pl.col("rv_5d")).alias("vrp_rv5"),
            pl.when(pl.col("rv_22d") > 0).then((pl.col("dvol") / pl.col("rv_22d")).log()).alias("vrp_log_rv22"),
        ]
    if "garch_vol30" in frame.columns:
        exprs.append((pl.col("dvol") - pl.col("garch_vol30")).alias("vrp_garch"))
    return frame.with_columns(exprs) if exprs else frame
