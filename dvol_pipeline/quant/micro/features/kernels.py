"""Rolling and recursive kernels over one series, compiled with numba.

Why direct windows instead of running sums: a feature at bar t must equal, bit for bit, the
value rebuilt from the data truncated at t (the look-ahead check compares them), and it must
stay accurate on price levels (60 000 squared) where cumulative sums cancel digits. Each
window is therefore computed from its own values, two-pass, O(n * w): a day of 1-s bars with
w = 300 is 26 M multiply-adds, tens of milliseconds.

Conventions: a window is the `w` values ending at t (trailing, t included); its value is NaN
until `w` values exist and while any of them is NaN. Recursive smoothers (EMA, Wilder) skip
a NaN input (output NaN, state unchanged) so a book gap does not poison the rest of the day.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def rolling_mean(x, w):
    n = x.size
    out = np.full(n, np.nan)
    for t in range(w - 1, n):
        s = 0.0
        for i in range(t - w + 1, t + 1):
            s += x[i]
        out[t] = s / w
    return out


@njit(cache=True)
def rolling_sum(x, w):
    n = x.size
    out = np.full(n, np.nan)
    for t in range(w - 1, n):
        s = 0.0
        for i in range(t - w + 1, t + 1):
            s += x[i]
        out[t] = s
    return out


@njit(cache=True)
def rolling_std(x, w):
    """Sample standard deviation (ddof 1) of each trailing window."""
    n = x.size
    out = np.full(n, np.nan)
    for t in range(w - 1, n):
        m = 0.0
        for i in range(t - w + 1, t + 1):
            m += x[i]
        m /= w
        v = 0.0
        for i in range(t - w + 1, t + 1):
            v += (x[i] - m) ** 2
        out[t] = math.sqrt(v / (w - 1))
    return out


@njit(cache=True)
def rolling_z(x, w):
    """(x_t - mean) / std (ddof 1) over the trailing window; NaN when the window does not vary."""
    n = x.size
    out = np.full(n, np.nan)
    for t in range(w - 1, n):
        m = 0.0
        for i in range(t - w + 1, t + 1):
            m += x[i]
        m /= w
        v = 0.0
        for i in range(t - w + 1, t + 1):
            v += (x[i] - m) ** 2
        sd = math.sqrt(v / (w - 1))
        if sd > 1e-12 * (abs(m) + 1e-300):
            out[t] = (x[t] - m) / sd
    return out


@njit(cache=True)
def rolling_slope(y, x, w):
    """OLS slope (with intercept) of y on x over each trailing window: cov(x, y) / var(x)."""
    n = x.size
    out = np.full(n, np.nan)
    for t in range(w - 1, n):
        mx = 0.0
        my = 0.0
        for i in range(t - w + 1, t + 1):
            mx += x[i]
            my += y[i]
        mx /= w
        my /= w
        sxy = 0.0
        sxx = 0.0
        for i in range(t - w + 1, t + 1):
            sxy += (x[i] - mx) * (y[i] - my)
            sxx += (x[i] - mx) ** 2
        if sxx > 0.0:
            out[t] = sxy / sxx
    return out


@njit(cache=True)
def rolling_corr(x, y, w):
    """Pearson correlation of x and y over each trailing window (NaN when either is constant)."""
    n = x.size
    out = np.full(n, np.nan)
    for t in range(w - 1, n):
        mx = 0.0
        my = 0.0
        for i in range(t - w + 1, t + 1):
            mx += x[i]
            my += y[i]
        mx /= w
        my /= w
        sxy = 0.0
        sxx = 0.0
        syy = 0.0
        for i in range(t - w + 1, t + 1):
            sxy += (x[i] - mx) * (y[i] - my)
            sxx += (x[i] - mx) ** 2
            syy += (y[i] - my) ** 2
        if sxx > 0.0 and syy > 0.0:
            out[t] = sxy / math.sqrt(sxx * syy)
    return out


@njit(cache=True)
def ema(x, span):
    """Exponential moving average, alpha = 2 / (span + 1), seeded with the first finite value
    (pandas' `ewm(span, adjust=False)`); NaN inputs are skipped."""
    alpha = 2.0 / (span + 1.0)
    out = np.full(x.size, np.nan)
    s = np.nan
    for t in range(x.size):
        if math.isnan(x[t]):
            continue
        s = x[t] if math.isnan(s) else s + alpha * (x[t] - s)
        out[t] = s
    return out


@njit(cache=True)
def rsi_wilder(p, n):
    """Wilder's RSI: average gain and loss seeded by the simple mean of the first n changes,
    then g <- (g (n-1) + gain) / n; RSI = 100 - 100 / (1 + g / l) (100 when l = 0)."""
    out = np.full(p.size, np.nan)
    g = 0.0
    l = 0.0
    k = 0
    prev = np.nan
    for t in range(p.size):
        if math.isnan(p[t]):
            continue
        if math.isnan(prev):
            prev = p[t]
            continue
        d = p[t] - prev
        prev = p[t]
        up = d if d > 0 else 0.0
        dn = -d if d < 0 else 0.0
        k += 1
        if k <= n:
            g += up / n
            l += dn / n
            if k < n:
                continue
        else:
            g = (g * (n - 1) + up) / n
            l = (l * (n - 1) + dn) / n
        out[t] = 100.0 if l == 0.0 else 100.0 - 100.0 / (1.0 + g / l)
    return out


@njit(cache=True)
def adx_wilder(h, lo, c, n):
    """Wilder's ADX: TR, +DM, -DM summed over the first n bars then smoothed S <- S - S/n + x;
    DI = 100 DM_n / TR_n; DX = 100 |DI+ - DI-| / (DI+ + DI-); ADX = mean of the first n DX,
    then ADX <- (ADX (n-1) + DX) / n. The first bar only seeds the previous close."""
    out = np.full(c.size, np.nan)
    trs = 0.0
    pds = 0.0
    mds = 0.0
    adx = 0.0
    k = 0
    m = 0
    pc = np.nan
    ph = np.nan
    pl_ = np.nan
    for t in range(c.size):
        if math.isnan(h[t]) or math.isnan(lo[t]) or math.isnan(c[t]):
            continue
        if math.isnan(pc):
            pc, ph, pl_ = c[t], h[t], lo[t]
            continue
        tr = max(h[t] - lo[t], abs(h[t] - pc), abs(lo[t] - pc))
        up = h[t] - ph
        dn = pl_ - lo[t]
        pdm = up if (up > dn and up > 0) else 0.0
        mdm = dn if (dn > up and dn > 0) else 0.0
        pc, ph, pl_ = c[t], h[t], lo[t]
        k += 1
        if k <= n:
            trs += tr
            pds += pdm
            mds += mdm
            if k < n:
                continue
        else:
            trs = trs - trs / n + tr
            pds = pds - pds / n + pdm
            mds = mds - mds / n + mdm
        if trs <= 0.0:
            continue
        pdi = 100.0 * pds / trs
        mdi = 100.0 * mds / trs
        dx = 0.0 if pdi + mdi == 0.0 else 100.0 * abs(pdi - mdi) / (pdi + mdi)
        m += 1
        if m <= n:
            adx += dx / n
            if m == n:
                out[t] = adx
        else:
            adx = (adx * (n - 1) + dx) / n
            out[t] = adx
    return out


@njit(cache=True)
def parzen(x):
    if x <= 0.5:
        return 1.0 - 6.0 * x * x + 6.0 * x * x * x
    if x <= 1.0:
        return 2.0 * (1.0 - x) ** 3
    return 0.0


@njit(cache=True)
def rolling_realised_kernel(r, w, bandwidth):
    """Realised kernel of Barndorff-Nielsen, Hansen, Lunde & Shephard (2008) over each window of
    w returns: gamma_0 + 2 sum_{h=1..H} k(h / (H + 1)) gamma_h, gamma_h = sum_j r_j r_{j-h}
    (both inside the window), k the Parzen kernel."""
    n = r.size
    out = np.full(n, np.nan)
    weights = np.empty(bandwidth + 1)
    for h in range(bandwidth + 1):
        weights[h] = parzen(h / (bandwidth + 1.0))
    for t in range(w - 1, n):
        a = t - w + 1
        total = 0.0
        for h in range(bandwidth + 1):
            g = 0.0
            for j in range(a + h, t + 1):
                g += r[j] * r[j - h]
            total += (1.0 if h == 0 else 2.0) * weights[h] * g
        out[t] = total
    return out


@njit(cache=True)
def rolling_variance_ratio_hurst(logp, w, qs):
    """Hurst exponent from variance scaling: within each window of w log prices, the variance of
    the q-bar differences grows as q^(2H); H is half the OLS slope of ln var_q on ln q."""
    n = logp.size
    out = np.full(n, np.nan)
    k = qs.size
    lq = np.log(qs.astype(np.float64))
    mlq = lq.mean()
    sxx = 0.0
    for i in range(k):
        sxx += (lq[i] - mlq) ** 2
    lv = np.empty(k)
    for t in range(w - 1, n):
        a = t - w + 1
        ok = True
        for i in range(k):
            q = qs[i]
            m = 0.0
            cnt = 0
            for j in range(a + q, t + 1):
                m += logp[j] - logp[j - q]
                cnt += 1
            m /= cnt
            v = 0.0
            for j in range(a + q, t + 1):
                v += (logp[j] - logp[j - q] - m) ** 2
            v /= cnt - 1
            if not v > 0.0:
                ok = False
                break
            lv[i] = math.log(v)
        if not ok:
            continue
        mlv = lv.mean()
        sxy = 0.0
        for i in range(k):
            sxy += (lq[i] - mlq) * (lv[i] - mlv)
        out[t] = 0.5 * sxy / sxx
    return out


@njit(cache=True)
def vpin(buy, sell, bucket, n_buckets):
    """VPIN (Easley, López de Prado & O'Hara 2012): bars' buy and sell volume poured, in time
    order, into buckets of `bucket` volume (a bar that overflows a bucket is split pro rata);
    at each bar, the mean of |V_buy - V_sell| / bucket over the last `n_buckets` buckets
    completed by its close (NaN before that many)."""
    n = buy.size
    out = np.full(n, np.nan)
    imb = np.zeros(n_buckets)  # ring of the last buckets' |buy - sell|
    done = 0
    fill = 0.0
    b_acc = 0.0
    s_acc = 0.0
    running = 0.0
    for t in range(n):
        b = buy[t]
        s = sell[t]
        if math.isnan(b) or math.isnan(s):
            if done >= n_buckets:
                out[t] = running / (n_buckets * bucket)
            continue
        v = b + s
        while v > 0.0:
            take = min(v, bucket - fill)
            frac = take / v
            b_acc += b * frac
            s_acc += s * frac
            b -= b * frac
            s -= s * frac
            v -= take
            fill += take
            if fill >= bucket * (1.0 - 1e-12):
                slot = done % n_buckets
                running += abs(b_acc - s_acc) - imb[slot]
                imb[slot] = abs(b_acc - s_acc)
                done += 1
                fill = 0.0
                b_acc = 0.0
                s_acc = 0.0
        if done >= n_buckets:
            # re-sum the ring: the running sum's add/remove would drift over a day of buckets
            tot = 0.0
            for i in range(n_buckets):
                tot += imb[i]
            running = tot
            out[t] = tot / (n_buckets * bucket)
    return out
