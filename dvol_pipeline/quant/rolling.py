"""Trailing-window means and standard deviations whose value at a row depends on that row's
window only, not on where the series starts.

Why not polars' `rolling_mean` / `rolling_std`: they slide a running sum (add the value that
enters, subtract the one that leaves), so the last bits of a row's value depend on every value
since the start of the series. A build that reads only the year a day needs (the end-of-day
run) would then differ from the build over all history in the 15th digit, and the bounded
build could not be checked for exact equality against the full one. Here each row's window is
summed afresh as a chain of additions in a fixed order (the row's own value first, then one
day older at a time), so the same window gives the same bits wherever the frame starts. (A
`pl.sum_horizontal` over the shifted columns is not enough: its reduction order is polars'
choice and was seen to vary.) The cost is `window` shifted columns per statistic: small on
daily frames (a few thousand rows, windows up to 66 days).

Semantics follow polars' rolling functions: the window is the `window` rows ending at the row
(on a complete daily grid that is calendar days), nulls are skipped, the result is null with
fewer than `min_samples` present values, NaN propagates; the standard deviation uses ddof = 1.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl


def _fold(x: pl.Expr, window: int, term: Callable[[pl.Expr], pl.Expr]) -> tuple[pl.Expr, pl.Expr]:
    """(sum of term(value), count of present values) over the window, added newest first."""
    if window < 1:
        raise ValueError(f"window={window} must be at least 1")
    total, count = term(x).fill_null(0.0), x.is_not_null().cast(pl.UInt32)
    for k in range(1, window):
        t = x.shift(k)
        total = total + term(t).fill_null(0.0)
        count = count + t.is_not_null().cast(pl.UInt32)
    return total, count


def trailing_mean(x: pl.Expr, window: int, min_samples: int, by: str | list[str]) -> pl.Expr:
    """Mean of the present values of `x` over the `window` rows ending at each row, per `by`
    (rows in time order within a group)."""
    total, n = _fold(x, window, lambda v: v)
    return pl.when(n >= max(min_samples, 1)).then(total / n).over(by)


def trailing_std(x: pl.Expr, mean: pl.Expr, window: int, min_samples: int, by: str | list[str]) -> pl.Expr:
    """Sample standard deviation (ddof 1) of the present values of `x` over the `window` rows
    ending at each row, per `by`, in two passes: `mean` is the row's `trailing_mean(x, window, ...)`,
    passed in as a column already computed (so it is not re-evaluated once per window day)."""
    ss, n = _fold(x, window, lambda v: (v - mean) * (v - mean))
    return pl.when(n >= max(min_samples, 2)).then((ss / (n - 1)).sqrt()).over(by)
