"""The sequential position loop shared by the three strategies (numba).

Timing (no look-ahead): every decision is taken from values at or before a bar's close t and
filled at bar t + 1. An aggressive order fills at the mid close of bar t + 1. A passive order
rests at the touch L (the mid at t less / plus half the spread) and fills at L on the first bar
j in t+1 .. t+N whose low (long) or high (short) trades through L (strictly); else it is missed
at bar t + N. Exits are aggressive: decided at a close, filled at the next bar's mid close.
At the last bar an open position is closed at its close (reason "end").

P&L per bar is in bps of the entry notional (fixed quantity): side (p_t - p_t-1) / entry_px,
the fill bar from the fill price; so a trade's bar P&L sums exactly to its gross bps.
"""

from __future__ import annotations

import numpy as np
from numba import njit

REASONS = ("mean", "time", "stop", "end", "missed")
"""Exit reason codes: 0 back at the mean / normalised, 1 time stop, 2 stop-loss, 3 end of data,
4 passive order never filled."""


@njit(cache=True)
def _exit_code(t, n, e, side, epx, price, exit_long, exit_short, hold, stop):
    """Decision at the close of bar t for a position entered at bar e: -1 stay, else a reason."""
    if t == n - 1:
        return 3
    if stop == stop and stop > 0.0:
        if side * (price[t] / epx - 1.0) * 1e4 <= -stop:
            return 2
    if (side > 0 and exit_long[t]) or (side < 0 and exit_short[t]):
        return 0
    if t + 1 - e >= hold:
        return 1
    return -1


@njit(cache=True)
def simulate(price, low, high, sig, exit_long, exit_short, hold, stop_bps, half_spread_bps, passive, fill_bars):
    """-> (trades (k, 6) int: signal_i, entry_i, exit_i, side, reason, filled; entry_px, exit_px (k,);
    per bar: position (side held over the bar), gross bps, open trade id (bars (entry, exit]))."""
    n = price.size
    ti = np.zeros((n + 1, 6), np.int64)
    epxs = np.full(n + 1, np.nan)
    xpxs = np.full(n + 1, np.nan)
    pos = np.zeros(n, np.float64)
    gross = np.zeros(n, np.float64)
    tid = np.full(n, -1, np.int64)
    k = 0
    state = 0  # 0 flat, 1 passive order resting, 2 in position, 3 aggressive entry due, 4 exit due
    s = 0
    e = 0
    side = 0
    epx = 0.0
    lim = 0.0
    reason = -1
    for t in range(n):
        if state == 3:
            state = 2
            e = t
            epx = price[t]
        elif state == 1:
            hit = (side > 0 and low[t] < lim) or (side < 0 and high[t] > lim)
            if hit:
                state = 2
                e = t
                epx = lim
                pos[t] = side
                gross[t] = side * (price[t] - lim) / lim * 1e4
            elif t - s >= fill_bars:
                ti[k, 0] = s
                ti[k, 1] = t
                ti[k, 2] = t
                ti[k, 3] = side
                ti[k, 4] = 4
                ti[k, 5] = 0
                k += 1
                state = 0
        elif state == 2 or state == 4:
            pos[t] = side
            gross[t] = side * (price[t] - price[t - 1]) / epx * 1e4
            tid[t] = k
            if state == 4:
                ti[k, 0] = s
                ti[k, 1] = e
                ti[k, 2] = t
                ti[k, 3] = side
                ti[k, 4] = reason
                ti[k, 5] = 1
                epxs[k] = epx
                xpxs[k] = price[t]
                k += 1
                state = 0
        if state == 2:
            reason = _exit_code(t, n, e, side, epx, price, exit_long, exit_short, hold[s], stop_bps[s])
            if reason == 3:
                ti[k, 0] = s
                ti[k, 1] = e
                ti[k, 2] = t
                ti[k, 3] = side
                ti[k, 4] = 3
                ti[k, 5] = 1
                epxs[k] = epx
                xpxs[k] = price[t]
                k += 1
                state = 0
                continue
            if reason >= 0:
                state = 4
        if state == 0 and t < n - 1 and sig[t] != 0:
            s = t
            side = sig[t]
            if passive:
                state = 1
                lim = price[t] * (1.0 - side * half_spread_bps[t] / 1e4)
            else:
                state = 3
    if state == 1:
        ti[k, 0] = s
        ti[k, 1] = n - 1
        ti[k, 2] = n - 1
        ti[k, 3] = side
        ti[k, 4] = 4
        ti[k, 5] = 0
        k += 1
    return ti[:k], epxs[:k], xpxs[:k], pos, gross, tid
