"""quant.options.pricing, the project's one Black-76 core: values and all greeks against hand
values, finite differences of the price, QuantLib, and their limits; the single-output
functions (price, delta, gamma, vega) against `greeks`; coin conversions."""

from __future__ import annotations

import warnings

import mpmath as mp
import numpy as np
import pytest
import QuantLib as ql
from scipy.special import ndtr

from dvol_pipeline.quant.pricing.options import (
    VOL_POINT,
    coin_delta,
    coin_to_usd,
    delta,
    gamma,
    greeks,
    price,
    pricing,
    usd_to_coin,
    vega,
)

RNG = np.random.default_rng(11)
N = 400
F = RNG.uniform(500.0, 90_000.0, N)
T = np.exp(RNG.uniform(np.log(2 / 365), np.log(2.0), N))
SIG = RNG.uniform(0.15, 1.8, N)
K = F * np.exp(RNG.uniform(-2.5, 2.5, N) * SIG * np.sqrt(T))  # within 2.5 sd: greeks not vanishing
CALL = RNG.random(N) < 0.5
R = np.where(RNG.random(N) < 0.5, 0.0, RNG.uniform(-0.02, 0.08, N))

# a second, wider draw (strikes to e^+-1 of the forward, vols to 200 %), r = 0
WIDE = np.random.default_rng(7)
NW = 500
FW = WIDE.uniform(1_000, 80_000, NW)
KW = FW * np.exp(WIDE.uniform(-1.0, 1.0, NW))
TW = WIDE.uniform(1 / 365, 2.0, NW)
SW = WIDE.uniform(0.1, 2.0, NW)


def test_textbook_values():
    # at the money, undiscounted: F (2 N(sigma sqrt(T) / 2) - 1)
    assert price(100.0, 100.0, 1.0, 0.2, True) == pytest.approx(7.965567455405804, abs=1e-12)
    # Hull, futures put: F = K = 20, r = 9 %, T = 4 months, vol 25 % -> 1.1166
    assert price(20.0, 20.0, 4 / 12, 0.25, False, r=0.09) == pytest.approx(1.1166, abs=5e-5)
    g = greeks(100.0, 100.0, 1.0, 0.2, True)
    d1 = 0.1  # sigma sqrt(T) / 2 at the money
    n_d1 = np.exp(-0.5 * d1**2) / np.sqrt(2 * np.pi)
    assert g.delta == pytest.approx(0.539827837277029, abs=1e-14)  # N(0.1)
    assert g.gamma == pytest.approx(n_d1 / (100 * 0.2), rel=1e-14)
    assert g.vega == pytest.approx(100 * n_d1 * 0.01, rel=1e-14)  # one vol point
    assert g.theta == pytest.approx(-100 * n_d1 * 0.2 / 2 / 365, rel=1e-14)  # one day
    assert g.vanna == pytest.approx(-n_d1 * (-d1) / 0.2 * 0.01, rel=1e-13)
    assert g.volga == pytest.approx(100 * n_d1 * d1 * (-d1) / 0.2 * 1e-4, rel=1e-13)
    # the same Hull put, undiscounted and discounted by hand
    assert price(20.0, 20.0, 4 / 12, 0.25, False) * np.exp(-0.09 * 4 / 12) == pytest.approx(1.1166, abs=5e-4)
    # deep in the money call ~ intrinsic, deep out ~ 0
    assert price(100.0, 10.0, 0.1, 0.5, True) == pytest.approx(90.0, abs=1e-9)
    assert price(100.0, 1_000.0, 0.1, 0.5, True) < 1e-12


def test_put_call_parity_on_the_forward_over_a_wide_range():
    call = price(FW, KW, TW, SW, True)
    put = price(FW, KW, TW, SW, False)
    np.testing.assert_allclose(call - put, FW - KW, rtol=0, atol=1e-7 * FW.max())


@pytest.mark.parametrize("is_call", [True, False])
def test_single_greeks_match_plain_finite_differences_over_a_wide_range(is_call):
    h_f = 1e-4 * FW
    up = price(FW + h_f, KW, TW, SW, is_call)
    mid = price(FW, KW, TW, SW, is_call)
    dn = price(FW - h_f, KW, TW, SW, is_call)
    np.testing.assert_allclose(delta(FW, KW, TW, SW, is_call), (up - dn) / (2 * h_f), atol=1e-6)
    fd_gamma = (up - 2 * mid + dn) / h_f**2
    g = gamma(FW, KW, TW, SW, is_call)
    np.testing.assert_allclose(g, fd_gamma, rtol=1e-3, atol=1e-3 * g.max())
    h_s = 1e-5
    fd_dv_dsigma = (price(FW, KW, TW, SW + h_s, is_call) - price(FW, KW, TW, SW - h_s, is_call)) / (2 * h_s)
    # vega is per vol point: dV/dsigma x VOL_POINT, so the bounds scale by VOL_POINT too
    v = vega(FW, KW, TW, SW, is_call)
    np.testing.assert_allclose(v, fd_dv_dsigma * VOL_POINT, rtol=1e-5, atol=1e-6 * FW.max() * VOL_POINT)


def test_delta_bounds_and_put_call_relation_over_a_wide_range():
    dc = delta(FW, KW, TW, SW, True)
    dp = delta(FW, KW, TW, SW, False)
    assert np.all((dc >= 0) & (dc <= 1)) and np.all((dp >= -1) & (dp <= 0))
    np.testing.assert_allclose(dc - dp, 1.0, atol=1e-12)


def _richardson(difference, h):
    """Central difference with its h^2 error term cancelled: (4 D(h/2) - D(h)) / 3."""
    return (4.0 * difference(0.5 * h) - difference(h)) / 3.0


@pytest.mark.parametrize("rate", ["zero", "mixed"])
def test_all_greeks_match_central_differences_of_the_price(rate):
    """Each greek vs a (Richardson-extrapolated) central difference of `price`; second
    differences for the second-order greeks.

    Steps are 5e-3 of each variable's natural scale (F*sd for F, sigma, T; 1e-4 for r), so
    the remaining O(h^4) truncation error is ~1e-9 of the greek and rounding (eps V / h^2,
    largest for second differences of deep in-the-money prices) ~1e-7: measured worst gaps
    are 1e-7 (volga) and below. The 1e-6 bound still catches a unit slip (x100, x365) or a
    wrong sign by many orders of magnitude.
    """
    r = np.zeros(N) if rate == "zero" else R
    g = greeks(F, K, T, SIG, CALL, r)
    sd = SIG * np.sqrt(T)

    def p(f=F, s=SIG, t=T, rr=r):
        return price(f, K, t, s, CALL, rr)

    def first(**step):
        (name, h), = step.items()
        return lambda k: (p(**{name: base[name] + k * h}) - p(**{name: base[name] - k * h})) / (2 * k * h)

    def second(**step):
        (name, h), = step.items()
        return lambda k: (p(**{name: base[name] + k * h}) - 2 * p() + p(**{name: base[name] - k * h})) / (k * h) ** 2

    def mixed(**steps):
        (a, ha), (b, hb) = steps.items()
        def diff(k):
            def at(sa, sb):
                return p(**{a: base[a] + sa * k * ha, b: base[b] + sb * k * hb})
            return (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * k * ha * k * hb)
        return diff

    base = {"f": F, "s": SIG, "t": T, "rr": r}
    hf, hs, ht, hr = 5e-3 * F * sd, 5e-3 * SIG, 5e-3 * T, 1e-4
    fd = {
        "delta": _richardson(first(f=hf), 1.0),
        "vega": _richardson(first(s=hs), 1.0) * 0.01,
        "theta": -_richardson(first(t=ht), 1.0) / 365,
        "rho": _richardson(first(rr=hr), 1.0) * 0.01,
        "gamma": _richardson(second(f=hf), 1.0),
        "volga": _richardson(second(s=hs), 1.0) * 1e-4,
        "vanna": _richardson(mixed(f=hf, s=hs), 1.0) * 0.01,
        "charm": -_richardson(mixed(f=hf, t=ht), 1.0) / 365,
    }
    for name, approx in fd.items():
        exact = getattr(g, name)
        scale = np.abs(exact) + 1e-3 * np.abs(exact).max()
        worst = np.max(np.abs(exact - approx) / scale)
        assert worst < 1e-6, f"{name}: worst relative gap {worst:.2e}"


def test_price_delta_gamma_vega_theta_match_quantlib():
    idx = np.arange(0, N, 4)
    g = greeks(F[idx], K[idx], T[idx], SIG[idx], CALL[idx], R[idx])
    for j, i in enumerate(idx):
        kind = ql.Option.Call if CALL[i] else ql.Option.Put
        discount = float(np.exp(-R[i] * T[i]))
        calc = ql.BlackCalculator(ql.PlainVanillaPayoff(kind, float(K[i])), float(F[i]), float(SIG[i] * np.sqrt(T[i])), discount)
        scale = F[i]
        assert g.price[j] == pytest.approx(calc.value(), rel=1e-12, abs=1e-13 * scale)
        assert g.delta[j] == pytest.approx(calc.delta(float(F[i])), rel=1e-12, abs=1e-14)
        assert g.gamma[j] == pytest.approx(calc.gamma(float(F[i])), rel=1e-12, abs=1e-14 / scale)
        assert g.vega[j] == pytest.approx(calc.vega(float(T[i])) * 0.01, rel=1e-12, abs=1e-14 * scale)  # QL: per unit sigma
        # QL theta is per year, for a spot equal to the forward (no carry): ours per day
        assert g.theta[j] == pytest.approx(calc.theta(float(F[i]), float(T[i])) / 365, rel=1e-10, abs=1e-13 * scale)


def test_rho_is_minus_t_times_value_on_a_fixed_forward():
    g = greeks(F, K, T, SIG, CALL, R)
    np.testing.assert_allclose(g.rho, -T * g.price * 0.01, rtol=1e-15)


def test_put_call_relations_and_bounds():
    c = greeks(F, K, T, SIG, True, R)
    p = greeks(F, K, T, SIG, False, R)
    D = np.exp(-R * T)
    np.testing.assert_allclose(c.price - p.price, D * (F - K), rtol=0, atol=1e-9 * F.max())
    np.testing.assert_allclose(c.delta - p.delta, D, atol=1e-14)
    for name in ("gamma", "vega", "vanna", "volga"):
        np.testing.assert_allclose(getattr(c, name), getattr(p, name), rtol=1e-12)
    assert np.all((c.delta >= 0) & (c.delta <= D)) and np.all((p.delta >= -D) & (p.delta <= 0))
    assert np.all(c.gamma > 0) and np.all(c.vega > 0)


@pytest.mark.parametrize("rate", ["zero", "mixed"])
def test_single_output_functions_are_bit_identical_to_greeks(rate):
    """One core: price/delta/gamma/vega alone give exactly the `greeks` fields, degenerate
    entries (T <= 0, sigma <= 0) included, short and block-split long arrays alike."""
    f = np.concatenate([F, [90.0, 100.0, 110.0, 100.0]])
    k = np.concatenate([K, [100.0] * 4])
    t = np.concatenate([T, [0.0, -1.0, 0.5, 1e-30]])
    s = np.concatenate([SIG, [0.5, 0.5, 0.0, 0.5]])
    c = np.concatenate([CALL, [True, False, True, False]])
    r = np.zeros(f.size) if rate == "zero" else np.concatenate([R, [0.05] * 4])
    reps = pricing.BLOCK // f.size + 2
    for args in ((f, k, t, s, c, r), tuple(np.tile(a, reps) for a in (f, k, t, s, c, r))):
        g = greeks(*args)
        for fn in (price, delta, gamma, vega):
            np.testing.assert_array_equal(fn(*args), getattr(g, fn.__name__), err_msg=fn.__name__)
    # gamma and vega do not depend on the option type: its default only broadcasts
    np.testing.assert_array_equal(vega(f, k, t, s, r=r), greeks(f, k, t, s, False, r).vega)
    np.testing.assert_array_equal(gamma(f, k, t, s, r=r), greeks(f, k, t, s, False, r).gamma)


def test_far_out_of_the_money_prices_keep_relative_precision():
    # exact values from 40-digit arithmetic; QuantLib's tail CDF is only ~1e-8 relative here
    mp.mp.dps = 40
    for strike, parity_loses in ((300.0, False), (500.0, True)):
        f, k, sd = mp.mpf(100), mp.mpf(strike), mp.mpf("0.2")
        d1 = mp.log(f / k) / sd + sd / 2
        exact = float(f * mp.ncdf(d1) - k * mp.ncdf(d1 - sd))
        value = float(price(100.0, strike, 1.0, 0.2, True))
        assert value == pytest.approx(exact, rel=1e-12)
        via_parity = float(price(100.0, strike, 1.0, 0.2, False)) + 100.0 - strike
        assert (abs(via_parity - exact) > 0.5 * exact) == parity_loses  # what the direct formula avoids


@pytest.mark.parametrize(
    "t, sigma", [(0.0, 0.5), (0.5, 0.0), (0.0, 0.0), (-1.0, 0.5), (1e-30, 0.5), (0.5, -0.2)]
)
def test_degenerate_inputs_give_intrinsic_limits_without_warnings(t, sigma):
    Fd = np.array([90.0, 100.0, 110.0, 100.0, 100.0, 90.0])
    Kd = np.array([100.0, 100.0, 100.0, 100.0, 100.0, 100.0])
    calls = np.array([True, True, True, False, False, False])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = greeks(Fd, Kd, t, sigma, calls, r=0.05)
    D = np.exp(-0.05 * max(t, 0.0))
    intrinsic = np.maximum(np.where(calls, Fd - Kd, Kd - Fd), 0.0)
    np.testing.assert_allclose(g.price, D * intrinsic, atol=1e-12)
    np.testing.assert_allclose(g.delta, D * np.array([0.0, 0.5, 1.0, -0.5, -0.5, -1.0]), atol=1e-12)
    for name in ("gamma", "vega", "vanna", "volga"):
        assert np.all(getattr(g, name) == 0.0)
    np.testing.assert_allclose(g.theta, 0.05 * g.price / 365, atol=1e-15)  # only the discount drifts
    np.testing.assert_allclose(g.charm, 0.05 * g.delta / 365, atol=1e-15)
    assert all(np.all(np.isfinite(v)) for v in g)
    np.testing.assert_allclose(price(Fd, Kd, t, sigma, calls, r=0.05), g.price, rtol=1e-12, atol=0)  # other function


@pytest.mark.parametrize("t, sigma", [(0.0, 0.5), (0.5, 0.0), (0.0, 0.0), (-1.0, 0.5)])
def test_single_greeks_in_the_degenerate_limits_are_intrinsic_and_finite(t, sigma):
    f = np.array([90.0, 100.0, 110.0])
    for is_call, intrinsic, step in (
        (True, [0.0, 0.0, 10.0], [0.0, 0.5, 1.0]),
        (False, [10.0, 0.0, 0.0], [-1.0, -0.5, 0.0]),
    ):
        out = [fn(f, 100.0, t, sigma, is_call) for fn in (price, delta, vega, gamma)]
        assert all(np.isfinite(o).all() for o in out)
        np.testing.assert_array_equal(out[0], intrinsic)
        np.testing.assert_array_equal(out[1], step)
        np.testing.assert_array_equal(out[2], 0.0)
        np.testing.assert_array_equal(out[3], 0.0)


def test_near_expiry_converges_to_intrinsic():
    np.testing.assert_allclose(price(np.array([95.0, 105.0]), 100.0, 1e-10, 0.8, True), [0.0, 5.0], atol=1e-9)
    assert np.isfinite(gamma(100.0, 100.0, 1e-10, 0.8)).all()


def test_long_arrays_are_computed_in_blocks_with_identical_results():
    reps = pricing.BLOCK // N + 2
    tiled = [np.tile(a, reps) for a in (F, K, T, SIG, CALL, R)]
    long = greeks(*tiled)
    short = greeks(F, K, T, SIG, CALL, R)
    for name in short._fields:
        np.testing.assert_array_equal(getattr(long, name), np.tile(getattr(short, name), reps))
    np.testing.assert_array_equal(price(*tiled), np.tile(short.price, reps))


def test_broadcasting_and_shapes():
    assert greeks(100.0, 100.0, 1.0, 0.5, True).price.shape == ()
    strikes = np.linspace(80, 120, 5)[:, None]
    vols = np.array([0.3, 0.6, 0.9])[None, :]
    g = greeks(100.0, strikes, 0.25, vols, False)
    assert all(v.shape == (5, 3) for v in g)
    assert g.price[2, 1] == pytest.approx(float(price(100.0, 100.0, 0.25, 0.6, False)), rel=1e-15)
    is_call = np.array([True, False])[:, None]
    out = price(100.0, np.array([90.0, 100.0, 110.0]), 0.25, 0.6, is_call)
    assert out.shape == (2, 3)
    d1 = (np.log(100 / 110) + 0.5 * 0.36 * 0.25) / (0.6 * 0.5)
    assert out[0, 2] == pytest.approx(100 * ndtr(d1) - 110 * ndtr(d1 - 0.3), rel=1e-12)
    assert delta(100.0, strikes, 0.25, vols, False).shape == (5, 3) and vega(100.0, strikes, 0.25, vols).shape == (5, 3)


def test_coin_conversions_and_premium_adjusted_delta():
    assert usd_to_coin(3_000.0, 60_000.0) == pytest.approx(0.05)
    assert coin_to_usd(0.05, 60_000.0) == pytest.approx(3_000.0)
    # coin_delta = F d(V/F)/dF: the exposure of a coin-margined option's coin value
    h = 1e-4 * F * SIG * np.sqrt(T)
    coin_value = lambda f: price(f, K, T, SIG, CALL) / f  # noqa: E731
    fd = F * (coin_value(F + h) - coin_value(F - h)) / (2 * h)
    g = greeks(F, K, T, SIG, CALL)
    np.testing.assert_allclose(coin_delta(g.delta, usd_to_coin(g.price, F)), fd, rtol=1e-6, atol=1e-9)
