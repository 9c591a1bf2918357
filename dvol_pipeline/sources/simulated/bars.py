"""Hourly OHLCV bars for spot and the perpetual.

Why a sub-hour Brownian bridge: high and low must be consistent with open and close and
with the hour's volatility; 12 five-minute bridge points pinned to the simulated hourly
endpoints give realistic ranges (Parkinson-type estimators downstream work) at trivial
cost. The perpetual trades at spot x (1 + premium), the premium interpolated within the
hour plus a little microstructure noise. Volume rises with volatility and |return|.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from . import params as P
from .calendar import EPOCH, US_PER_DAY, US_PER_HOUR
from .paths import CoinPath
from .rng import STREAM_BARS, per_day_normals

N_SUB = 12


def _bridge(normals: np.ndarray) -> np.ndarray:
    """(hours, N_SUB-1) interior points of a unit-variance-per-hour Brownian bridge."""
    w = np.cumsum(normals.T / np.sqrt(N_SUB), axis=1)
    frac = np.arange(1, N_SUB) / N_SUB
    return w[:, :-1] - frac * w[:, -1:]


def _bar_frame(path, hours, kind, instrument, lo, lc, interior, volume, trade_usd, trade_noise):
    op, cl = np.exp(lo), np.exp(lc)
    hi = np.maximum(np.exp(interior.max(axis=1)), np.maximum(op, cl))
    lw = np.minimum(np.exp(interior.min(axis=1)), np.minimum(op, cl))
    vwap = (op + hi + lw + cl) / 4.0
    quote = volume * vwap
    start_us = (path.start - EPOCH).days * US_PER_DAY
    n = hours.size
    return pl.DataFrame(
        {
            "ts": pl.Series(start_us + hours * US_PER_HOUR).cast(pl.Datetime("us", "UTC")),
            "asset": pl.repeat(path.coin, n, eager=True),
            "venue": pl.repeat("simulated", n, eager=True),
            "instrument": pl.repeat(instrument, n, eager=True),
            "kind": pl.repeat(kind, n, eager=True),
            "interval": pl.repeat("1h", n, eager=True),
            "open": op,
            "high": hi,
            "low": lw,
            "close": cl,
            "volume": volume,
            "volume_quote": quote,
            "trade_count": np.maximum(np.round(quote / trade_usd * np.exp(0.2 * trade_noise)), 1.0).astype(np.int64),
        }
    )


def ohlcv_rows(path: CoinPath, seed: int, days: np.ndarray) -> pl.DataFrame:
    """raw_ohlcv rows (spot and perpetual, 1h) of one coin for day indices `days`."""
    p = path.params
    days = np.asarray(days, np.int64)
    hours = (24 * days[:, None] + np.arange(24)[None, :]).ravel()
    z = per_day_normals(seed, STREAM_BARS, p.coin_id, days, np.full(days.size, 24), k=2 * N_SUB + 4)
    spot_bridge = _bridge(z[:N_SUB])
    perp_bridge = _bridge(z[N_SUB : 2 * N_SUB])
    extra = z[2 * N_SUB :]
    lo, lc = path.log_s_b[hours], path.log_s_b[hours + 1]
    frac = np.arange(1, N_SUB) / N_SUB
    sig = path.sig_h[hours][:, None]
    spot_in = lo[:, None] + frac * (lc - lo)[:, None] + sig * spot_bridge
    bo, bc = np.log1p(path.premium_b[hours]), np.log1p(path.premium_b[hours + 1])
    perp_in = spot_in + bo[:, None] + frac * (bc - bo)[:, None] + 3e-4 * perp_bridge

    vol_level = (path.vol_b[hours] / np.exp(p.vol_theta)) ** 0.8
    size = 0.5 + 0.5 * np.abs(path.ret[hours]) / path.sig_h[hours]
    season = P.INTRADAY_RET[hours % 24]
    spot_vol = p.spot_volume * vol_level * size * season * np.exp(0.35 * extra[0] - 0.06) * np.sqrt(p.s0 / np.exp(lo))
    perp_vol = 2.5 * spot_vol * np.exp(0.25 * extra[1] - 0.03)
    spot = _bar_frame(path, hours, "spot", f"{path.coin}USDT", lo, lc, spot_in, spot_vol, p.trade_usd, extra[2])
    perp = _bar_frame(
        path, hours, "perpetual", f"{path.coin}-PERPETUAL", lo + bo, lc + bc, perp_in, perp_vol,
        2.5 * p.trade_usd, extra[3],
    )
    return pl.concat([spot, perp])
