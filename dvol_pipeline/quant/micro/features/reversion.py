"""Reversion group: OU half-life, price z-scores, VWAP and EMA deviation, Bollinger, RSI, Hurst, ADX."""

from __future__ import annotations

import numpy as np

from .frames import ratio
from .kernels import (adx_wilder, ema, rolling_mean, rolling_slope, rolling_std, rolling_sum,
                      rolling_variance_ratio_hurst, rolling_z, rsi_wilder)
from .registry import ADX_N, HURST_QS, RSI_N, W, W_L, W_S


def ou_half_life(p: np.ndarray, w: int) -> np.ndarray:
    """-ln 2 / ln b, b the AR(1) slope of p_t on p_t-1 over w pairs; null unless 0 < b < 1."""
    b = np.concatenate([[np.nan], rolling_slope(p[1:], p[:-1], w)]) if p.size > 1 else np.full(p.size, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((b > 0) & (b < 1), -np.log(2.0) / np.log(b), np.nan)


def reversion_features(b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    p = b["price"]
    out = {"ou_half_life": ou_half_life(p, W_L)}
    for w in (W_S, W, W_L):
        out[f"price_z_{w}"] = rolling_z(p, w)
    vwap = ratio(rolling_sum(b["notional"], W), rolling_sum(b["volume"], W))
    out["vwap_dev_bps"] = 1e4 * (ratio(p, vwap) - 1.0)
    out["ema_dev_bps"] = 1e4 * (ratio(p, ema(p, float(W))) - 1.0)
    m, s = rolling_mean(p, W_S), rolling_std(p, W_S)
    out["boll_pos"] = ratio(p - (m - 2 * s), 4 * s)
    out["rsi_14"] = rsi_wilder(p, RSI_N)
    out["hurst_300"] = rolling_variance_ratio_hurst(b["logp"], W_L, np.asarray(HURST_QS, np.int64))
    out["adx_14"] = adx_wilder(b["high"], b["low"], p, ADX_N)
    return out
