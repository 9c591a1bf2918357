"""Flow group: trade-sign imbalance, VPIN (exact side and bulk-volume classification), Kyle's lambda.

Liquidations are joined in build.py (they come from another table); their rolling mean is here.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .frames import ratio
from .kernels import rolling_mean, rolling_slope, rolling_std, rolling_sum, vpin
from .registry import VPIN_BUCKET_BARS, VPIN_BUCKETS, VPIN_CALIB, W, W_S


def vpin_bucket(volume: np.ndarray) -> float:
    """Bucket volume: mean bar volume of the first VPIN_CALIB bars x VPIN_BUCKET_BARS (NaN
    with fewer bars or no volume): fixed from the start of the series, so no bucket boundary
    depends on data after the bar being computed."""
    if volume.size < VPIN_CALIB:
        return float("nan")
    v = float(np.nansum(volume[:VPIN_CALIB])) / VPIN_CALIB * VPIN_BUCKET_BARS
    return v if v > 0 else float("nan")


def vpin_series(buy: np.ndarray, sell: np.ndarray) -> np.ndarray:
    bucket = vpin_bucket(buy + sell)
    if not np.isfinite(bucket):
        return np.full(buy.size, np.nan)
    out = vpin(buy, sell, bucket, VPIN_BUCKETS)
    out[: VPIN_CALIB - 1] = np.nan
    return out


def bvc_split(volume: np.ndarray, ret_bps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bulk-volume classification: buy = V Phi(r / sigma), sigma the trailing std of r over W bars
    (ELO 2012 standardise the bar's price change the same way; trailing, so nothing later is read)."""
    share = ndtr(ratio(ret_bps, rolling_std(ret_bps, W)))
    share = np.where(np.isfinite(share), share, 0.5)  # no sigma yet (or no return): no information, half each
    return volume * share, volume * (1.0 - share)


def flow_features(b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    buy, sell = b["buy_volume"], b["sell_volume"]
    out = {"trade_imb": ratio(buy - sell, buy + sell)}
    for w in (W_S, W):
        sb, ss = rolling_sum(buy, w), rolling_sum(sell, w)
        out[f"trade_imb_{w}"] = ratio(sb - ss, sb + ss)
    out["vpin"] = vpin_series(buy, sell)
    vb, vs = bvc_split(buy + sell, b["ret_bps"])
    out["vpin_bvc"] = vpin_series(vb, vs)
    if not np.isfinite(b["price"]).any():
        out["vpin_bvc"][:] = np.nan
    out["kyle_lambda"] = rolling_slope(b["ret_bps"], buy - sell, W)
    return out


def liquidation_features(liq_notional: np.ndarray) -> dict[str, np.ndarray]:
    return {"liq_notional": liq_notional, "liq_intensity": rolling_mean(liq_notional, W)}
