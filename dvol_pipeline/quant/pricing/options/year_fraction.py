"""Year fractions of the whole package: ACT/365 in seconds, as Deribit.

Why one definition: Deribit's greeks and DVOL count time to expiry as (expiry - now) in
seconds over 365 days of 86,400 s (no leap days, no business-day calendar). Every T in
`quant` and in the sources (the simulator, the Deribit mapping) uses this constant, so a
T computed in one place can be compared bit for bit with one computed in another.
"""

from __future__ import annotations

import polars as pl

DAYS_PER_YEAR = 365.0
SECONDS_PER_YEAR = DAYS_PER_YEAR * 86_400.0
"""ACT/365 in seconds: one year = 31,536,000 s."""
YEARS_PER_US = 1.0 / (1e6 * SECONDS_PER_YEAR)
"""Years per microsecond (polars' Datetime unit), a product and not a division: polars may
turn `column / scalar` into a multiplication by the reciprocal on long arrays only, which
would make a row's T depend in its last bit on how many rows share the frame."""


def to_years(duration: pl.Expr) -> pl.Expr:
    """A polars Duration expression (e.g. expiry - ts) in years, to the microsecond."""
    return duration.dt.total_microseconds().cast(pl.Float64) * YEARS_PER_US
