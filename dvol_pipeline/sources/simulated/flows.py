"""Funding events, on-chain activity and the daily options summary.

Why here: these are cheap daily/8-hourly aggregates of the hourly state (premium,
returns, vol) or of the chain, kept apart from the price machinery. On-chain series
carry a trend, weekly seasonality, persistent noise and an activity response to large
moves; funding follows Binance's premium + clamp(interest - premium) rule.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dvol_pipeline.quant.filters import ar1_filter
from dvol_pipeline.quant.pricing.options import SECONDS_PER_YEAR, vega

from .calendar import EPOCH, US_PER_DAY, US_PER_HOUR
from .paths import CoinPath, funding_from_premium

FUNDING_HOURS = (0, 8, 16)
HASHRATE_START, HASHRATE_END, HASHRATE_SPAN_DAYS = 150.0, 700.0, 1378.0
WEEKEND_TX = np.array([1.0, 1.02, 1.02, 1.02, 1.0, 0.9, 0.88])


def funding_rows(path: CoinPath, days: np.ndarray) -> pl.DataFrame:
    """8-hourly funding events of the perpetual: rate from the premium of the past 8h."""
    days = np.asarray(days, np.int64)
    events = (24 * days[:, None] + np.array(FUNDING_HOURS)[None, :]).ravel()
    window = np.clip(events[:, None] - np.arange(7, -1, -1)[None, :], 0, None)
    rate = funding_from_premium(path.premium_b[window].mean(axis=1))
    start_us = (path.start - EPOCH).days * US_PER_DAY
    n = events.size
    return pl.DataFrame(
        {
            "ts": pl.Series(start_us + events * US_PER_HOUR).cast(pl.Datetime("us", "UTC")),
            "asset": pl.repeat(path.coin, n, eager=True),
            "instrument": pl.repeat(f"{path.coin}-PERPETUAL", n, eager=True),
            "interval_hours": pl.repeat(8, n, eager=True, dtype=pl.Int32),
            "rate": np.round(rate, 8),
        }
    )


def _ar(shocks: np.ndarray, phi: float) -> np.ndarray:
    """Unit-variance AR(1) over all simulated days (sequential, so range-independent)."""
    return ar1_filter(shocks, phi, np.sqrt(1 - phi * phi))


def onchain_rows(path: CoinPath, days: np.ndarray) -> pl.DataFrame:
    """Daily transactions, fees (coin) and, for BTC, hashrate (EH/s)."""
    p = path.params
    days = np.asarray(days, np.int64)
    all_days = np.arange(path.n_days)
    move = np.abs(path.log_s_b[24 * (all_days + 1)] - path.log_s_b[24 * all_days])
    activity = move / (path.vol_b[24 * all_days] / np.sqrt(365.0)) - 0.8
    wd = (path.start.weekday() + all_days) % 7
    log_tx = (
        np.log(p.tx_base) + 0.00018 * all_days + np.log(WEEKEND_TX[wd])
        + 0.07 * _ar(path.daily_noise[0], 0.9) + 0.04 * activity
    )
    log_fee = (
        np.log(p.fee_base) + 2.0 * (log_tx - np.log(p.tx_base) - 0.00018 * all_days)
        + 0.4 * _ar(path.daily_noise[1], 0.8) + 0.15 * activity
    )
    growth = np.log(HASHRATE_END / HASHRATE_START) / HASHRATE_SPAN_DAYS
    hashrate = HASHRATE_START * np.exp(growth * all_days + 0.06 * _ar(path.daily_noise[2], 0.85))
    n = days.size
    return pl.DataFrame(
        {
            "date": pl.Series((path.start - EPOCH).days + days).cast(pl.Int32).cast(pl.Date),
            "asset": pl.repeat(path.coin, n, eager=True),
            "tx_count": np.round(np.exp(log_tx[days])).astype(np.int64),
            "fees": np.round(np.exp(log_fee[days]), 6),
            "hashrate": np.round(hashrate[days], 3) if path.coin == "BTC" else np.full(n, None, dtype=object),
        },
        schema_overrides={"hashrate": pl.Float64},
    )


def options_summary(chain: pl.DataFrame) -> pl.DataFrame:
    """Daily options summary from end-of-day chains (one coin, rows grouped by day).

    Sums run in numpy over each day's rows in order, so a day's figures do not depend on
    which other days share the frame.
    """
    ts = chain["ts"].dt.epoch("us").to_numpy()
    t = (chain["expiry"].dt.epoch("us").to_numpy() - ts) / 1e6 / SECONDS_PER_YEAR
    vega_pt = vega(  # USD per vol point
        chain["underlying_price"].to_numpy(), chain["strike"].to_numpy(), t, chain["mark_iv"].to_numpy() / 100.0
    )
    oi = chain["open_interest"].to_numpy()
    snap, inv = np.unique(ts, return_inverse=True)

    def total(w: np.ndarray) -> np.ndarray:
        return np.bincount(inv, weights=w, minlength=snap.size)

    oi_sum = total(oi)
    return pl.DataFrame(
        {
            "date": pl.Series(snap).cast(pl.Datetime("us", "UTC")).dt.date(),
            "asset": pl.repeat(chain["asset"][0], snap.size, eager=True),
            "net_vega": total(oi * vega_pt),
            "avg_iv": total(oi * chain["mark_iv"].to_numpy()) / oi_sum,
            "volume": total(chain["volume"].to_numpy()),
            "open_interest": oi_sum,
        }
    )
