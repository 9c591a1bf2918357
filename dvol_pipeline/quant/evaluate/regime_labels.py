"""Regime codes back to their labels, for every per-regime breakdown.

The regimes themselves are the dvol lane's decision (quant/dvol/regimes.py); the code table
they are stored with (`contracts/derived.py`'s REGIME_LABELS) is shared, so the metrics of
every lane can label rows by regime without importing a lane.
"""

from __future__ import annotations

import polars as pl

from dvol_pipeline.contracts.derived import REGIME_LABELS


def decode(codes: pl.Expr) -> pl.Expr:
    """regime_code -> label (null stays null)."""
    return codes.replace_strict({i: name for i, name in enumerate(REGIME_LABELS)}, default=None, return_dtype=pl.Utf8)
