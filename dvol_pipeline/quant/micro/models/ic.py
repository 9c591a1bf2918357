"""Information coefficient: Spearman rank correlation of a feature (or a model's forecast) with the
forward return, by venue, symbol, horizon and regime (`micro_ic`).

Spearman = Pearson correlation of the average ranks (ties share their mean rank), computed on
the rows where both values are finite; fewer than 3 such rows, or a constant side, gives null.
Regime "all" is every row; the other regimes are the `regime` column's values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

IC_SCHEMA = {"feature": pl.Utf8, "venue": pl.Utf8, "symbol": pl.Utf8, "horizon": pl.Utf8, "regime": pl.Utf8,
             "ic": pl.Float64, "n": pl.Int64}
MODEL_IC_SCHEMA = {"family": pl.Utf8, "venue": pl.Utf8, "symbol": pl.Utf8, "horizon": pl.Utf8, "regime": pl.Utf8,
                   "ic": pl.Float64, "n": pl.Int64}
MIN_ROWS = 3


def spearman(x, y) -> float:
    """Spearman's rho of two arrays over the rows where both are finite (NaN if undefined)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < MIN_ROWS:
        return float("nan")
    rx = pl.Series(x[ok]).rank("average").to_numpy()
    ry = pl.Series(y[ok]).rank("average").to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def _ic_expr(x: str, y: str) -> list[pl.Expr]:
    both = pl.col(x).is_not_null() & pl.col(y).is_not_null()
    rx = pl.col(x).filter(both).rank("average")
    ry = pl.col(y).filter(both).rank("average")
    n = both.sum()
    ic = pl.when(n >= MIN_ROWS).then(pl.corr(rx, ry))
    return [ic.cast(pl.Float64).fill_nan(None).alias("ic"), n.cast(pl.Int64).alias("n")]


def _with_all(frame: pl.DataFrame, regime: str | None) -> pl.DataFrame:
    """Rows once with regime "all" and once with their own regime (non-null ones)."""
    every = frame.with_columns(pl.lit("all").alias("regime"))
    if regime is None or regime not in frame.columns:
        return every
    own = frame.filter(pl.col(regime).is_not_null()).with_columns(pl.col(regime).cast(pl.Utf8).alias("regime"))
    return pl.concat([every, own], how="vertical_relaxed")


def feature_ic(frame: pl.DataFrame, features: Sequence[str], label: str, horizon: str,
               regime: str | None = "regime") -> pl.DataFrame:
    """`micro_ic` rows: feature, venue, symbol, horizon, regime, ic, n (a row per feature, series and regime)."""
    if not features or frame.height == 0:
        return pl.DataFrame(schema=IC_SCHEMA)
    keep = ["venue", "symbol", label] + ([regime] if regime and regime in frame.columns else [])
    base = frame.select(*keep, *[pl.col(f).cast(pl.Float64).fill_nan(None) for f in features])
    base = base.with_columns(pl.col(label).cast(pl.Float64).fill_nan(None).alias("__y"))
    long = _with_all(base, regime).unpivot(index=["venue", "symbol", "regime", "__y"], on=list(features),
                                           variable_name="feature", value_name="__x")
    out = long.group_by(["feature", "venue", "symbol", "regime"]).agg(_ic_expr("__x", "__y"))
    return (out.with_columns(pl.lit(horizon).alias("horizon")).select(list(IC_SCHEMA)).cast(IC_SCHEMA)
            .sort(["feature", "venue", "symbol", "regime"]))


def model_ic(predictions: pl.DataFrame, regime: str | None = "regime") -> pl.DataFrame:
    """IC of each model's forecast (`y_hat`) with the outcome `y` per family, venue, symbol, horizon
    and regime, from `micro_predictions` rows (with a `regime` column where one was joined)."""
    if predictions.height == 0:
        return pl.DataFrame(schema=MODEL_IC_SCHEMA)
    base = _with_all(predictions.with_columns(pl.col("y", "y_hat").cast(pl.Float64).fill_nan(None)), regime)
    out = base.group_by(["family", "venue", "symbol", "horizon", "regime"]).agg(_ic_expr("y_hat", "y"))
    return out.select(list(MODEL_IC_SCHEMA)).cast(MODEL_IC_SCHEMA).sort(["family", "venue", "symbol", "regime"])
