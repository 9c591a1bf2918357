"""Kernels and per-group formulas against hand arithmetic and library oracles (numpy, statsmodels)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm

from dvol_pipeline.quant.micro.features import kernels as k
from dvol_pipeline.quant.micro.features.book import book_features
from dvol_pipeline.quant.micro.features.reversion import ou_half_life
from dvol_pipeline.quant.micro.features.vol import bns_jump

RNG = np.random.default_rng(7)


def test_rolling_z_and_std_match_numpy():
    x = RNG.normal(size=50)
    w = 10
    z = k.rolling_z(x, w)
    assert np.isnan(z[: w - 1]).all()
    for t in (w - 1, 25, 49):
        win = x[t - w + 1 : t + 1]  # numpy oracle
        assert z[t] == pytest.approx((x[t] - win.mean()) / win.std(ddof=1), rel=1e-12)
        assert k.rolling_std(x, w)[t] == pytest.approx(win.std(ddof=1), rel=1e-12)


def test_kyle_lambda_slope_matches_statsmodels_ols():
    signed = RNG.normal(size=80)
    ret = 0.3 * signed + RNG.normal(scale=0.5, size=80)
    w = 60
    slope = k.rolling_slope(ret, signed, w)
    fit = sm.OLS(ret[-w:], sm.add_constant(signed[-w:])).fit()  # statsmodels oracle
    assert slope[-1] == pytest.approx(fit.params[1], rel=1e-10)
    assert np.isnan(slope[: w - 1]).all()


def test_book_imbalance_and_microprice_by_hand():
    nan = np.array([np.nan])
    b = {"bid_price": np.array([100.0]), "ask_price": np.array([100.2]), "bid_size": np.array([3.0]),
         "ask_size": np.array([1.0]), "ofi": nan, "spread_bps": nan, "bid_depletions": nan, "ask_depletions": nan,
         "cancel_bid": nan, "cancel_ask": nan}
    for n, (bd, ad) in {5: (6.0, 2.0), 10: (10.0, 10.0), 20: (10.0, 30.0)}.items():
        b[f"bid_depth_{n}"], b[f"ask_depth_{n}"] = np.array([bd]), np.array([ad])
    out = book_features(b)
    # hand: (3-1)/(3+1) = 0.5; (6-2)/8 = 0.5; 0; (10-30)/40 = -0.5
    assert out["depth_imb_1"][0] == pytest.approx(0.5)
    assert [out[f"depth_imb_{n}"][0] for n in (5, 10, 20)] == pytest.approx([0.5, 0.0, -0.5])
    # hand: (100*1 + 100.2*3)/4 = 100.15; mid 100.1; 1e4 * 0.05/100.1 = 4.995004995
    assert out["microprice"][0] == pytest.approx(100.15)
    assert out["microprice_dev_bps"][0] == pytest.approx(1e4 * 0.05 / 100.1)


def test_rsi_wilder_hand_worked():
    # changes +1, -2, +3, +1 with n = 3. hand: first 3 changes: gain (1+0+3)/3 = 4/3, loss 2/3
    # -> RSI = 100 - 100/(1+2) = 66.667; next change +1: gain (4/3*2+1)/3 = 11/9, loss (2/3*2)/3 = 4/9
    # -> RS = 11/4, RSI = 100 - 100/3.75 = 73.333
    p = np.array([10.0, 11.0, 9.0, 12.0, 13.0])
    rsi = k.rsi_wilder(p, 3)
    assert np.isnan(rsi[:3]).all()
    assert rsi[3] == pytest.approx(100 - 100 / 3)
    assert rsi[4] == pytest.approx(100 - 100 / 3.75)


def _adx_textbook(h, lo, c, n):
    """Wilder's ADX written out from New Concepts (1978), plain Python: the oracle."""
    tr, pdm, mdm = [], [], []
    for i in range(1, len(c)):
        tr.append(max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])))
        up, dn = h[i] - h[i - 1], lo[i - 1] - lo[i]
        pdm.append(up if up > dn and up > 0 else 0.0)
        mdm.append(dn if dn > up and dn > 0 else 0.0)
    s_tr, s_p, s_m = sum(tr[:n]), sum(pdm[:n]), sum(mdm[:n])
    dxs = []
    for i in range(n - 1, len(tr)):
        if i >= n:
            s_tr, s_p, s_m = s_tr - s_tr / n + tr[i], s_p - s_p / n + pdm[i], s_m - s_m / n + mdm[i]
        pdi, mdi = 100 * s_p / s_tr, 100 * s_m / s_tr
        dxs.append(100 * abs(pdi - mdi) / (pdi + mdi))
    adx = [sum(dxs[:n]) / n]
    for dx in dxs[n:]:
        adx.append((adx[-1] * (n - 1) + dx) / n)
    return adx


def test_adx_matches_the_textbook_recursion():
    c = 100 + np.cumsum(RNG.normal(size=40))
    h, lo = c + RNG.uniform(0.1, 1, 40), c - RNG.uniform(0.1, 1, 40)
    n = 5
    got = k.adx_wilder(h, lo, c, n)
    want = _adx_textbook(h, lo, c, n)
    finite = got[np.isfinite(got)]
    assert len(finite) == len(want)
    assert finite == pytest.approx(want, rel=1e-12)
    # first ADX needs n TRs (bars 1..n) and n DXs: bar 2n - 1
    assert np.isnan(got[: 2 * n - 1]).all() and np.isfinite(got[2 * n - 1])


def test_realised_kernel_matches_direct_numpy_parzen_sum():
    r = RNG.normal(size=30)
    w, big_h = 20, 4
    got = k.rolling_realised_kernel(r, w, big_h)
    x = r[-w:]

    def parzen(u):
        return 1 - 6 * u**2 + 6 * u**3 if u <= 0.5 else 2 * (1 - u) ** 3

    # direct formula: sum over h = -H..H of k(h/(H+1)) gamma_|h|
    want = sum(parzen(abs(h) / (big_h + 1)) * np.dot(x[abs(h):], x[: w - abs(h)]) for h in range(-big_h, big_h + 1))
    assert got[-1] == pytest.approx(want, rel=1e-12)


def test_bipower_and_jump_statistic_match_numpy():
    r = RNG.normal(size=12)
    r[0] = np.nan  # the first bar has no return
    n = 10
    out = bns_jump(r, n)
    x = r[-n:]
    rv = np.sum(x**2)
    bv = (np.pi / 2) * n / (n - 1) * np.sum(np.abs(x[1:]) * np.abs(x[:-1]))
    mu43 = 2 ** (2 / 3) * math.gamma(7 / 6) / math.gamma(0.5)
    trip = np.prod([np.abs(x[2:]), np.abs(x[1:-1]), np.abs(x[:-2])], axis=0) ** (4 / 3)
    tq = n * mu43**-3 * n / (n - 2) * np.sum(trip)
    z = ((rv - bv) / rv) / np.sqrt((np.pi**2 / 4 + np.pi - 5) / n * max(1.0, tq / bv**2))
    assert out["rv"][-1] == pytest.approx(rv) and out["bv"][-1] == pytest.approx(bv)
    assert out["z"][-1] == pytest.approx(z, rel=1e-10)
    assert np.isnan(out["z"][n - 1])  # its window holds the missing first return


def test_ou_half_life_matches_statsmodels_ar1():
    p = np.empty(80)
    p[0] = 100.0
    for t in range(1, 80):
        p[t] = 100 + 0.8 * (p[t - 1] - 100) + RNG.normal()
    w = 60
    hl = ou_half_life(p, w)
    fit = sm.OLS(p[-w:], sm.add_constant(p[-w - 1 : -1])).fit()  # AR(1) by OLS: statsmodels oracle
    assert hl[-1] == pytest.approx(-np.log(2) / np.log(fit.params[1]), rel=1e-9)


def test_hurst_variance_ratio_matches_numpy():
    lp = np.cumsum(RNG.normal(size=120))
    qs = np.array([1, 2, 4], np.int64)
    w = 100
    got = k.rolling_variance_ratio_hurst(lp, w, qs)
    win = lp[-w:]
    lv = [np.log(np.var(win[q:] - win[:-q], ddof=1)) for q in qs]
    assert got[-1] == pytest.approx(0.5 * np.polyfit(np.log(qs), lv, 1)[0], rel=1e-10)


def test_vpin_buckets_by_hand():
    # bucket 10, 2 buckets averaged. bars (buy, sell): (6, 0), (2, 6), (10, 0)
    # bucket 1: bar 1 (6, 0) + 4/8 of bar 2 (1, 3) -> (7, 3), |7-3| = 4; bucket 2: the rest (1, 3) + 6/10 of bar 3
    # (6, 0) -> (7, 3), |4|; VPIN at bar 3 = (4 + 4) / (2 * 10) = 0.4. Bars 1, 2 complete fewer than 2 buckets.
    out = k.vpin(np.array([6.0, 2.0, 10.0]), np.array([0.0, 6.0, 0.0]), 10.0, 2)
    assert np.isnan(out[:2]).all()
    assert out[2] == pytest.approx(0.4)


def test_ema_and_wilder_skip_missing_values():
    x = np.array([1.0, np.nan, 3.0])
    # alpha = 2/(3+1) = 0.5: 1 -> skip -> 1 + 0.5 (3 - 1) = 2
    assert k.ema(x, 3.0)[2] == pytest.approx(2.0)
    assert np.isnan(k.ema(x, 3.0)[1])
