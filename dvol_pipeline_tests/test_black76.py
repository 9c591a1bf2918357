"""Black-76 pricing and greeks: parity, textbook values, finite differences, limits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from dvol_pipeline.quant import black76

RNG = np.random.default_rng(7)
N = 500
F = RNG.uniform(1_000, 80_000, N)
K = F * np.exp(RNG.uniform(-1.0, 1.0, N))
T = RNG.uniform(1 / 365, 2.0, N)
SIG = RNG.uniform(0.1, 2.0, N)


def test_put_call_parity_on_the_forward():
    call = black76.price(F, K, T, SIG, True)
    put = black76.price(F, K, T, SIG, False)
    np.testing.assert_allclose(call - put, F - K, rtol=0, atol=1e-7 * F.max())


def test_textbook_values():
    # at the money, undiscounted: F * (2 N(sigma sqrt(T) / 2) - 1)
    assert black76.price(100.0, 100.0, 1.0, 0.2, True) == pytest.approx(7.965567455, abs=1e-8)
    # Hull, futures put: F = K = 20, r = 9 %, T = 4 months, vol 25 % -> 1.12 (discounted)
    put = black76.price(20.0, 20.0, 4 / 12, 0.25, False) * np.exp(-0.09 * 4 / 12)
    assert put == pytest.approx(1.1166, abs=5e-4)
    # deep in the money call ~ intrinsic, deep out ~ 0
    assert black76.price(100.0, 10.0, 0.1, 0.5, True) == pytest.approx(90.0, abs=1e-9)
    assert black76.price(100.0, 1_000.0, 0.1, 0.5, True) < 1e-12


@pytest.mark.parametrize("is_call", [True, False])
def test_greeks_match_finite_differences(is_call):
    h_f = 1e-4 * F
    up = black76.price(F + h_f, K, T, SIG, is_call)
    mid = black76.price(F, K, T, SIG, is_call)
    dn = black76.price(F - h_f, K, T, SIG, is_call)
    np.testing.assert_allclose(black76.delta(F, K, T, SIG, is_call), (up - dn) / (2 * h_f), atol=1e-6)
    fd_gamma = (up - 2 * mid + dn) / h_f**2
    gamma = black76.gamma(F, K, T, SIG, is_call)
    np.testing.assert_allclose(gamma, fd_gamma, rtol=1e-3, atol=1e-3 * gamma.max())
    h_s = 1e-5
    fd_vega = (black76.price(F, K, T, SIG + h_s, is_call) - black76.price(F, K, T, SIG - h_s, is_call)) / (2 * h_s)
    vega = black76.vega(F, K, T, SIG, is_call)
    np.testing.assert_allclose(vega, fd_vega, rtol=1e-5, atol=1e-6 * F.max())


def test_delta_bounds_and_put_call_relation():
    dc = black76.delta(F, K, T, SIG, True)
    dp = black76.delta(F, K, T, SIG, False)
    assert np.all((dc >= 0) & (dc <= 1)) and np.all((dp >= -1) & (dp <= 0))
    np.testing.assert_allclose(dc - dp, 1.0, atol=1e-12)


@pytest.mark.parametrize("t, sigma", [(0.0, 0.5), (0.5, 0.0), (0.0, 0.0), (-1.0, 0.5)])
def test_degenerate_limits_are_intrinsic_and_finite(t, sigma):
    f = np.array([90.0, 100.0, 110.0])
    k = 100.0
    for is_call, intrinsic, step in (
        (True, [0.0, 0.0, 10.0], [0.0, 0.5, 1.0]),
        (False, [10.0, 0.0, 0.0], [-1.0, -0.5, 0.0]),
    ):
        out = [fn(f, k, t, sigma, is_call) for fn in (black76.price, black76.delta, black76.vega, black76.gamma)]
        assert all(np.isfinite(o).all() for o in out)
        np.testing.assert_array_equal(out[0], intrinsic)
        np.testing.assert_array_equal(out[1], step)
        np.testing.assert_array_equal(out[2], 0.0)
        np.testing.assert_array_equal(out[3], 0.0)


def test_near_expiry_converges_to_intrinsic():
    f = np.array([95.0, 105.0])
    price = black76.price(f, 100.0, 1e-10, 0.8, True)
    np.testing.assert_allclose(price, [0.0, 5.0], atol=1e-9)
    assert np.isfinite(black76.gamma(100.0, 100.0, 1e-10, 0.8)).all()


def test_broadcasting_and_mixed_flags():
    is_call = np.array([True, False])[:, None]
    out = black76.price(100.0, np.array([90.0, 100.0, 110.0]), 0.25, 0.6, is_call)
    assert out.shape == (2, 3)
    d1 = (np.log(100 / 110) + 0.5 * 0.36 * 0.25) / (0.6 * 0.5)
    assert out[0, 2] == pytest.approx(100 * ndtr(d1) - 110 * ndtr(d1 - 0.3), rel=1e-12)
