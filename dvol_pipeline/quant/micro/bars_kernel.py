"""The book side of the bars (numba): one pass over the best bid/offer rows against the bar edges.

Why a loop: a best-bid/offer state holds from its row until the next row of its known interval (or the
interval's end), so a bar's time-weighted spread, mid path, state at the close and known time need each
state clipped to each bar it overlaps; cancellations need the trades between two updates. Bar k is
[edges[k], edges[k+1]) of the local clock: a row at exactly a bar's close belongs to the next bar.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# columns of the float output
MID_OPEN, MID_HIGH, MID_LOW, MID_CLOSE, SPREAD_W, SPREAD_T, OFI, KNOWN_T = 0, 1, 2, 3, 4, 5, 6, 7
BID_P, BID_Q, ASK_P, ASK_Q, CANCEL_BID, CANCEL_ASK = 8, 9, 10, 11, 12, 13
N_FLOAT = 14
# columns of the int output
UPDATES, BID_DEPL, ASK_DEPL = 0, 1, 2


@njit(cache=True)
def _same(x: float, y: float) -> bool:
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y))


@njit(cache=True)
def book_bars(edges, ts, bp, bq, ap, aq, seg, hold_end, e, kn_start, kn_end, tr_ts, tr_px, tr_sz, tr_buy):
    """Per bar: the float columns above (NaN where undefined) and the int counts."""
    nb = edges.size - 1
    f = np.full((nb, N_FLOAT), np.nan)
    f[:, SPREAD_W] = 0.0
    f[:, SPREAD_T] = 0.0
    f[:, OFI] = 0.0
    f[:, KNOWN_T] = 0.0
    f[:, CANCEL_BID] = 0.0
    f[:, CANCEL_ASK] = 0.0
    c = np.zeros((nb, 3), np.int64)
    for i in range(kn_start.size):  # known time: intervals (start, end]
        k = max(np.searchsorted(edges, kn_start[i], side="right") - 1, 0)
        while k < nb and edges[k] < kn_end[i]:
            lo = max(edges[k], kn_start[i])
            hi = min(edges[k + 1], kn_end[i])
            if hi > lo:
                f[k, KNOWN_T] += hi - lo
            k += 1
    j = 0
    for n in range(ts.size):
        t = ts[n]
        same_seg = n > 0 and seg[n] == seg[n - 1]
        vb = 0.0
        va = 0.0
        while j < tr_ts.size and tr_ts[j] <= t:  # trades since the previous update, at its best prices
            if n > 0 and tr_ts[j] > ts[n - 1]:
                if (not tr_buy[j]) and _same(tr_px[j], bp[n - 1]):
                    vb += tr_sz[j]
                elif tr_buy[j] and _same(tr_px[j], ap[n - 1]):
                    va += tr_sz[j]
            j += 1
        k0 = np.searchsorted(edges, t, side="right") - 1
        if k0 < 0 or k0 >= nb:
            continue
        c[k0, UPDATES] += 1
        if not np.isnan(e[n]):
            f[k0, OFI] += e[n]
        if same_seg:
            if bp[n] < bp[n - 1]:
                c[k0, BID_DEPL] += 1
            elif _same(bp[n], bp[n - 1]) and bq[n] < bq[n - 1]:
                f[k0, CANCEL_BID] += max(bq[n - 1] - bq[n] - vb, 0.0)
            if ap[n] > ap[n - 1]:
                c[k0, ASK_DEPL] += 1
            elif _same(ap[n], ap[n - 1]) and aq[n] < aq[n - 1]:
                f[k0, CANCEL_ASK] += max(aq[n - 1] - aq[n] - va, 0.0)
        mid = 0.5 * (bp[n] + ap[n])
        spread = (ap[n] - bp[n]) / mid * 1e4
        k = k0
        while k < nb:
            if k > k0 and edges[k] >= hold_end[n]:
                break
            if np.isnan(f[k, MID_OPEN]):
                f[k, MID_OPEN] = mid
                f[k, MID_HIGH] = mid
                f[k, MID_LOW] = mid
            f[k, MID_HIGH] = max(f[k, MID_HIGH], mid)
            f[k, MID_LOW] = min(f[k, MID_LOW], mid)
            f[k, MID_CLOSE] = mid
            lo = max(edges[k], t)
            hi = min(edges[k + 1], hold_end[n])
            if hi > lo:
                f[k, SPREAD_W] += spread * (hi - lo)
                f[k, SPREAD_T] += hi - lo
            if t < edges[k + 1] <= hold_end[n]:  # in force at the close
                f[k, BID_P] = bp[n]
                f[k, BID_Q] = bq[n]
                f[k, ASK_P] = ap[n]
                f[k, ASK_Q] = aq[n]
            k += 1
    return f, c
