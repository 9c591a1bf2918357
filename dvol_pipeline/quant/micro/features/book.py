"""Book group: depth imbalance, microprice, OFI, spread statistics, queue depletion and cancels."""

from __future__ import annotations

import numpy as np

from .frames import ratio
from .kernels import rolling_mean, rolling_sum, rolling_z
from .registry import W


def book_features(b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    bid, ask, bs, az = b["bid_price"], b["ask_price"], b["bid_size"], b["ask_size"]
    out = {"depth_imb_1": ratio(bs - az, bs + az)}
    for n in (5, 10, 20):
        bd, ad = b[f"bid_depth_{n}"], b[f"ask_depth_{n}"]
        out[f"depth_imb_{n}"] = ratio(bd - ad, bd + ad)
    micro = ratio(bid * az + ask * bs, bs + az)
    mid = 0.5 * (bid + ask)
    out["microprice"] = micro
    out["microprice_dev_bps"] = 1e4 * ratio(micro - mid, mid)
    out["ofi_z"] = rolling_z(b["ofi"], W)
    out["ofi_depth"] = ratio(b["ofi"], rolling_mean(0.5 * (b["bid_depth_5"] + b["ask_depth_5"]), W))
    out["spread_mean"] = rolling_mean(b["spread_bps"], W)
    out["spread_z"] = rolling_z(b["spread_bps"], W)
    for name, bid_col, ask_col in (("depletion", "bid_depletions", "ask_depletions"),
                                   ("cancel", "cancel_bid", "cancel_ask")):
        sb, sa = rolling_sum(b[bid_col], W), rolling_sum(b[ask_col], W)
        out[f"{name}_rate"] = (sb + sa) / W
        out[f"{name}_imb"] = ratio(sa - sb, sa + sb)
    return out
