"""The look-ahead check: a feature row must be rebuildable from the inputs truncated at its bar's close.

For a sampled bar closing at t, the bars (every venue and symbol: the cross features read other
series), the ticker and the liquidations are cut to rows with ts <= t (ts_local <= t for the
tables on the local clock) and the features rebuilt; every row closing at t must equal the full
build's (both null, or within 1e-9 relative). A feature that read a later row differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from .build import KEY, ExtraFeature, build_features

RTOL = 1e-9
VIOLATIONS_SCHEMA = {"ts": pl.Datetime("ns", "UTC"), "venue": pl.Utf8, "symbol": pl.Utf8, "feature": pl.Utf8,
                     "full": pl.Float64, "truncated": pl.Float64}


@dataclass(frozen=True)
class LeakReport:
    passed: bool
    n_compared: int
    """Rows (bars) compared, over every sampled close."""
    violations: pl.DataFrame
    """One row per (bar, feature) that differs: ts, venue, symbol, feature, full, truncated."""


def _cut(frame: pl.DataFrame | None, column: str, t) -> pl.DataFrame | None:
    return None if frame is None else frame.filter(pl.col(column) <= t)


def lookahead_check(bars: pl.DataFrame, ticker: pl.DataFrame | None = None, liquidations: pl.DataFrame | None = None,
                    bar: str = "1m", n_samples: int = 5, seed: int = 0,
                    extra_features: Mapping[str, ExtraFeature] | None = None,
                    full: pl.DataFrame | None = None) -> LeakReport:
    """Rebuild `n_samples` sampled closes (seeded; never a series' last bar, where nothing later
    exists to leak) from truncated inputs and compare with the full build (`full` when given)."""
    full = full if full is not None else build_features(bars, ticker, liquidations, bar, extra_features)
    features = [c for c in full.columns if c not in KEY]
    last = full.group_by(["venue", "symbol"]).agg(pl.col("ts").max().alias("__last"))
    candidates = (full.join(last, on=["venue", "symbol"]).filter(pl.col("ts") < pl.col("__last"))
                  .select("ts").unique().sort("ts")["ts"])
    rng = np.random.default_rng(seed)
    picks = candidates.gather(np.sort(rng.choice(candidates.len(), min(n_samples, candidates.len()), replace=False))) \
        if candidates.len() else candidates
    violations, compared = [], 0
    for t in picks:
        cut = build_features(bars.filter(pl.col("ts") <= t), _cut(ticker, "ts_local", t),
                             _cut(liquidations, "ts_local", t), bar, extra_features)
        a = full.filter(pl.col("ts") == t)
        b = cut.filter(pl.col("ts") == t)
        both = a.join(b, on=KEY, how="full", suffix="__cut", coalesce=True)
        compared += both.height
        for f in features:
            x = both[f].cast(pl.Float64).fill_nan(None)
            y = both[f"{f}__cut"].cast(pl.Float64).fill_nan(None)
            xn, yn = x.to_numpy(), y.to_numpy()
            with np.errstate(invalid="ignore"):
                same = (x.is_null() & y.is_null()).to_numpy() | (np.abs(xn - yn) <= RTOL * np.maximum(np.abs(xn),
                                                                                                     np.abs(yn)))
            bad = ~same
            if bad.any():
                violations.append(both.filter(pl.Series(bad)).select(
                    "ts", "venue", "symbol", pl.lit(f).alias("feature"), pl.Series("full", xn[bad]),
                    pl.Series("truncated", yn[bad])))
    frame = (pl.concat(violations).cast(VIOLATIONS_SCHEMA) if violations
             else pl.DataFrame(schema=VIOLATIONS_SCHEMA))
    return LeakReport(passed=frame.height == 0, n_compared=compared, violations=frame)
