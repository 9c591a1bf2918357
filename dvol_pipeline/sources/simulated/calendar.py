"""Deribit's option calendar: listed expiries, strike grids and instrument names.

Why: the chain must look like Deribit's so that code written against the simulator
(parsers, expiry selection, DVOL replication) works unchanged on real dumps: expiries at
08:00 UTC, dailies, Friday weeklies, last-Friday monthlies and quarterlies, round strike
increments, and names like `BTC-27DEC24-60000-C`.
"""

from __future__ import annotations

import calendar as _cal
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import polars as pl

EXPIRY_HOUR = 8
EPOCH = date(1970, 1, 1)
US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
KIND_DAILY, KIND_WEEKLY, KIND_MONTHLY, KIND_QUARTERLY = 0, 1, 2, 3
N_DAILIES, N_WEEKLIES, N_MONTHLIES, N_QUARTERLIES = 3, 4, 3, 4
STRIKE_STEPS = np.array(
    [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000,
     250_000, 500_000, 1_000_000],
    dtype=float,
)
"""Round strike increments (integers, so names carry integer strikes as on Deribit)."""


def last_friday(year: int, month: int) -> date:
    last = date(year, month, _cal.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - 4) % 7)


def _months_from(d: date, n: int, quarterly: bool) -> list[date]:
    """The next `n` (quarterly) last-Fridays that fall after day `d`."""
    out, y, m = [], d.year, d.month
    while len(out) < n:
        if not quarterly or m % 3 == 0:
            lf = last_friday(y, m)
            if lf > d:
                out.append(lf)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


@lru_cache(maxsize=4096)
def listed_expiries(day: date) -> tuple[tuple[date, int], ...]:
    """Expiry dates (08:00 UTC) listed at the end-of-day snapshot of `day`, with a kind.

    Every expiry is strictly after the snapshot (day 23:59:59), so the first is day+1.
    Kind is the most important series an expiry belongs to (quarterly > monthly >
    weekly > daily); it drives open interest.
    """
    kinds: dict[date, int] = {}
    for i in range(1, N_DAILIES + 1):
        kinds[day + timedelta(days=i)] = KIND_DAILY
    first_friday = day + timedelta(days=(4 - day.weekday()) % 7 or 7)
    for i in range(N_WEEKLIES):
        kinds[first_friday + timedelta(weeks=i)] = KIND_WEEKLY
    for d in _months_from(day, N_MONTHLIES, quarterly=False):
        kinds[d] = KIND_MONTHLY
    for d in _months_from(day, N_QUARTERLIES, quarterly=True):
        kinds[d] = KIND_QUARTERLY
    return tuple(sorted(kinds.items()))


def expiry_code(d: date) -> str:
    """Deribit's date code: day not zero-padded, upper-case month, 2-digit year (5JAN24)."""
    return f"{d.day}{MONTHS[d.month - 1]}{d.year % 100:02d}"


def _nice(raw: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(STRIKE_STEPS, raw, side="left").clip(0, len(STRIKE_STEPS) - 1)
    return STRIKE_STEPS[idx]


def _multiples(lo: np.ndarray, hi: np.ndarray, step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, strike) for every positive multiple of step[row] in [lo[row], hi[row]]."""
    first = np.maximum(np.ceil(lo / step), 1.0)
    n = np.maximum(np.floor(hi / step) - first + 1.0, 0.0).astype(np.int64)
    rows = np.repeat(np.arange(lo.size), n)
    j = np.arange(rows.size) - np.repeat(np.cumsum(n) - n, n)
    return rows, (first[rows] + j) * step[rows]


def strike_grid(
    forward: np.ndarray, k_lo: np.ndarray, k_hi: np.ndarray, k_inner: np.ndarray,
    n_inner: int = 24, n_wing: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Deribit-like strikes for each expiry: fine round steps near the money, coarser wings.

    Strikes cover log-moneyness [k_lo, k_hi]; inside +-k_inner the step gives about
    `n_inner` strikes, each wing about `n_wing` more (the put wing is short in dollar
    terms, so it gets its own, finer step). Steps are round numbers from STRIKE_STEPS, so
    they widen with maturity and price level. Returns (row, strike) sorted by row, strike.
    """
    f = np.asarray(forward, float)
    in_lo, in_hi = f * np.exp(-k_inner), f * np.exp(k_inner)
    out_lo, out_hi = f * np.exp(k_lo), f * np.exp(k_hi)
    segments = [
        (in_lo, in_hi, _nice((in_hi - in_lo) / n_inner)),
        (out_lo, in_lo, _nice((in_lo - out_lo) / n_wing)),
        (in_hi, out_hi, _nice((out_hi - in_hi) / n_wing)),
    ]
    rows, strikes = [], []
    for i, (lo, hi, step) in enumerate(segments):
        r, k = _multiples(lo, hi, step)
        keep = np.ones(r.size, bool) if i == 0 else (k < in_lo[r]) | (k > in_hi[r])
        rows.append(r[keep])
        strikes.append(k[keep])
    rows_a, strikes_a = np.concatenate(rows), np.concatenate(strikes)
    order = np.lexsort((strikes_a, rows_a))
    return rows_a[order], strikes_a[order]


_NAME_RE = r"^([A-Z0-9]+)-(\d{1,2})([A-Z]{3})(\d{2})-(\d+(?:\.\d+)?)-([CP])$"


def parse_instrument_names(names: pl.Series | list[str]) -> pl.DataFrame:
    """Split Deribit option names into asset, expiry (08:00 UTC), strike, option_type.

    Vectorised; a name that does not parse gives nulls in every column.
    """
    s = pl.Series("instrument_name", names, dtype=pl.Utf8)
    parts = s.str.extract_groups(_NAME_RE).struct.rename_fields(
        ["asset", "day", "mon", "yy", "strike", "option_type"]
    )
    month = pl.col("mon").replace_strict(list(MONTHS), list(range(1, 13)), default=None)
    return (
        pl.DataFrame({"p": parts})
        .unnest("p")
        .with_columns(
            expiry=pl.datetime(
                2000 + pl.col("yy").cast(pl.Int32),
                month,
                pl.col("day").cast(pl.Int32),
                EXPIRY_HOUR,
                time_zone="UTC",
            ).cast(pl.Datetime("us", "UTC")),
            strike=pl.col("strike").cast(pl.Float64),
        )
        .select("asset", "expiry", "strike", "option_type")
    )
