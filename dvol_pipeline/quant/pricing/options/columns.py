"""The analyst API over polars: add greek or implied-vol columns to any frame.

Why a thin layer: the pricing core works on numpy arrays; people work on frames. These
helpers pull the named columns (or any polars expression, e.g. `pl.col("mark_iv") / 100`),
run the array code once over the whole frame and attach the results, so a chain of
millions of rows costs one vectorised call, never a `map_elements` per row.

Inputs: F, K in USD; T in years; sigma a decimal; `is_call` a boolean column or a string
column holding "C"/"P" (Deribit's option_type). Nulls become NaN on the way in, and NaN
results become nulls on the way out, so polars aggregations skip them.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .implied_vol import REASONS, implied_vol
from .pricing import greeks

GREEK_NAMES = ("price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga", "charm")
REASON_DTYPE = pl.Enum([REASONS[i] for i in range(len(REASONS))])

ColumnOrExpr = str | pl.Expr


def _floats(frame: pl.DataFrame, spec: ColumnOrExpr | float) -> np.ndarray | float:
    if isinstance(spec, (int, float)):
        return float(spec)
    expr = pl.col(spec) if isinstance(spec, str) else spec
    return frame.select(expr.cast(pl.Float64)).to_series().to_numpy()


def _calls(frame: pl.DataFrame, spec: ColumnOrExpr | bool) -> np.ndarray | bool:
    if isinstance(spec, bool):
        return spec
    expr = pl.col(spec) if isinstance(spec, str) else spec
    series = frame.select(expr).to_series()
    if series.dtype == pl.Boolean:
        return series.fill_null(False).to_numpy()
    if series.dtype in (pl.String, pl.Categorical) or isinstance(series.dtype, pl.Enum):
        upper = series.cast(pl.String).str.to_uppercase()
        unknown = ~upper.is_in(["C", "P", "CALL", "PUT"]).fill_null(False)
        if unknown.any():
            raise ValueError(f"option type column {series.name!r} holds values other than C/P: {series.filter(unknown).unique().head(5).to_list()}")
        return upper.is_in(["C", "CALL"]).to_numpy()
    raise ValueError(f"is_call must be a boolean or a 'C'/'P' string column, got {series.dtype} for {series.name!r}")


def with_greeks(
    frame: pl.DataFrame,
    F: ColumnOrExpr = "underlying_price",
    K: ColumnOrExpr = "strike",
    T: ColumnOrExpr = "T",
    sigma: ColumnOrExpr = "sigma",
    is_call: ColumnOrExpr | bool = "is_call",
    prefix: str = "",
    r: ColumnOrExpr | float = 0.0,
) -> pl.DataFrame:
    """`frame` with columns prefix+price, delta, gamma, vega, theta, rho, vanna, volga, charm.

    Units as in `quant.options` (USD values, vega per vol point, theta and charm per day).
    """
    out = greeks(
        _floats(frame, F), _floats(frame, K), _floats(frame, T), _floats(frame, sigma), _calls(frame, is_call), _floats(frame, r)
    )
    columns = [pl.Series(prefix + name, values, dtype=pl.Float64, nan_to_null=True) for name, values in zip(GREEK_NAMES, out)]
    return frame.with_columns(columns)


def with_implied_vol(
    frame: pl.DataFrame,
    price: ColumnOrExpr = "price_usd",
    F: ColumnOrExpr = "underlying_price",
    K: ColumnOrExpr = "strike",
    T: ColumnOrExpr = "T",
    is_call: ColumnOrExpr | bool = "is_call",
    r: ColumnOrExpr | float = 0.0,
    name: str = "iv",
) -> pl.DataFrame:
    """`frame` with `name` (implied vol, decimal; null where unsolvable) and `name`_reason.

    The reason column is an Enum of `implied_vol.REASONS` ("ok", "below_intrinsic", ...).
    For Deribit coin premiums pass `price=pl.col("mark_price") * pl.col("underlying_price")`.
    """
    result = implied_vol(
        _floats(frame, price), _floats(frame, F), _floats(frame, K), _floats(frame, T), _calls(frame, is_call), _floats(frame, r)
    )
    return frame.with_columns(
        pl.Series(name, result.sigma, dtype=pl.Float64, nan_to_null=True),
        reason_series(f"{name}_reason", result.reason),
    )


def reason_series(name: str, codes: np.ndarray) -> pl.Series:
    """Reason codes as a polars Enum column (a gather from the category list, no Python strings)."""
    categories = pl.Series(name, [REASONS[i] for i in range(len(REASONS))], dtype=REASON_DTYPE)
    return categories.gather(np.asarray(codes, dtype=np.int64).ravel())
