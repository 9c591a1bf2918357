"""quant.options.implied_vol: round trips on a wide grid, agreement with Jäckel's reference
(py_lets_be_rational) and QuantLib, no-arbitrage bounds and reason codes, properties."""

from __future__ import annotations

import importlib
import itertools
import warnings

import numpy as np
import polars as pl
import pytest
import py_lets_be_rational as lbr
import QuantLib as ql
from hypothesis import given, settings
from hypothesis import strategies as st

from dvol_pipeline.quant.pricing.options import REASONS, greeks, price, with_implied_vol

from dvol_pipeline.quant.pricing.options import implied_vol
# the package re-exports the function under the module's name; this is the module
implied_vol_module = importlib.import_module("dvol_pipeline.quant.pricing.options.implied_vol")

MINUTE = 1 / (365 * 24 * 60)
CODE = {name: code for code, name in REASONS.items()}


def _grid():
    """Expiries 5 minutes .. 3 years, vols 5 % .. 500 %, strikes out to 10 standard
    deviations (|ln(F/K)| capped at 3), calls and puts, on two forward levels."""
    expiries = [5 * MINUTE, 60 * MINUTE, 1 / 365, 7 / 365, 30 / 365, 0.25, 1.0, 3.0]
    vols = [0.05, 0.1, 0.3, 0.8, 1.5, 3.0, 5.0]
    rows = []
    for t, s, fwd in itertools.product(expiries, vols, (100.0, 60_000.0)):
        reach = min(3.0, 10.0 * s * np.sqrt(t))
        for x in np.linspace(-reach, reach, 25):
            for call in (True, False):
                rows.append((fwd, fwd * np.exp(-x), t, s, call))
    F, K, T, S, C = (np.array(c) for c in zip(*rows))
    return F, K, T, S, C.astype(bool)


F, K, T, SIG, CALL = _grid()
PRICE = price(F, K, T, SIG, CALL)
OTM = np.where(CALL, K >= F, K <= F)


def test_round_trip_of_out_of_the_money_prices_is_exact_across_the_grid():
    res = implied_vol(PRICE, F, K, T, CALL)
    representable = OTM & (PRICE > 0)  # 10 sd out at 5 % vol the price underflows to 0
    assert representable.sum() > 0.97 * OTM.sum()
    assert np.all(res.reason[representable] == CODE["ok"])
    assert np.max(np.abs(res.sigma[representable] - SIG[representable])) < 1e-8
    assert np.all(res.reason[OTM & (PRICE == 0)] == CODE["nonpositive_price"])


def test_round_trip_of_in_the_money_prices_wherever_the_price_holds_the_vol():
    # an ITM price carries its vol only in its time value: one ulp of the price moves
    # sigma by eps * max(F, K) / dV/dsigma; keep quotes where that is below 1e-10
    vega_unit = greeks(F, K, T, SIG, CALL).vega * 100
    resolvable = ~OTM & (np.finfo(float).eps * np.maximum(F, K) < 1e-10 * vega_unit)
    assert resolvable.sum() > 0.5 * (~OTM).sum()  # the rest sit so deep that no time value is left
    res = implied_vol(PRICE[resolvable], F[resolvable], K[resolvable], T[resolvable], CALL[resolvable])
    assert np.all(res.reason == CODE["ok"])
    assert np.max(np.abs(res.sigma - SIG[resolvable])) < 1e-8


def test_agrees_with_lets_be_rational_reference_including_in_the_money():
    idx = np.flatnonzero(PRICE > 0)[::13]
    ours = implied_vol(PRICE[idx], F[idx], K[idx], T[idx], CALL[idx])
    ref = np.array(
        [
            lbr.implied_volatility_from_a_transformed_rational_guess(PRICE[i], F[i], K[i], T[i], 1.0 if CALL[i] else -1.0)
            for i in idx
        ]
    )
    assert np.all(ours.reason == CODE["ok"])
    # same quotes, same arithmetic limits: both land within ~1e-10 of each other, including
    # deep ITM quotes whose time value rounded away entirely (0 from both)
    assert np.sum(ours.sigma == 0) > 0
    np.testing.assert_allclose(ours.sigma, ref, rtol=1e-10, atol=1e-12)


def test_agrees_with_quantlib_in_the_usual_range():
    rng = np.random.default_rng(5)
    n = 300
    t = np.exp(rng.uniform(np.log(1 / 365), np.log(2.0), n))
    s = rng.uniform(0.1, 2.0, n)
    k = 100.0 * np.exp(rng.uniform(-1, 1, n) * np.minimum(1.0, 4 * s * np.sqrt(t)))
    call = rng.random(n) < 0.5
    r = rng.uniform(0.0, 0.05, n)
    p = price(100.0, k, t, s, call, r)
    ours = implied_vol(p, 100.0, k, t, call, r)
    ref = np.array(
        [
            ql.blackFormulaImpliedStdDev(
                ql.Option.Call if c else ql.Option.Put, kk, 100.0, pp, float(np.exp(-rr * tt)), 0.0, ql.nullDouble(), 1e-14, 200
            )
            / np.sqrt(tt)
            for c, kk, pp, rr, tt in zip(call, k, p, r, t)
        ]
    )
    assert np.all(ours.reason == CODE["ok"])
    np.testing.assert_allclose(ours.sigma, ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.sigma, s, rtol=0, atol=1e-11)


def test_prices_at_and_beyond_the_no_arbitrage_bounds():
    fwd, strike, t = 60_000.0, 50_000.0, 0.1
    prices = np.array(
        [
            10_000.0,  # call exactly at intrinsic: no time value, sigma 0
            9_999.0,  # call below intrinsic
            60_000.0,  # call at its upper bound F: infinite vol
            60_001.0,  # above it
            60_000.0 * (1 - 1e-9),  # just below the bound: a huge but finite vol
            50_000.0,  # put at its upper bound K
            0.0,  # zero price
            -5.0,  # negative price
            np.nan,  # no quote
            1_000.0,  # a good quote with T <= 0 (next row)
        ]
    )
    calls = np.array([True, True, True, True, True, False, False, False, True, True])
    expiry = np.array([t] * 9 + [0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # bad quotes are classified, never warned about
        res = implied_vol(prices, fwd, strike, expiry, calls)
    assert res.reason_names().tolist() == [
        "ok",
        "below_intrinsic",
        "above_upper_bound",
        "above_upper_bound",
        "ok",
        "above_upper_bound",
        "nonpositive_price",
        "nonpositive_price",
        "invalid_input",
        "nonpositive_time",
    ]
    assert res.sigma[0] == 0.0
    assert res.sigma[4] > 10.0 and np.isfinite(res.sigma[4])
    assert np.isnan(res.sigma[[1, 2, 3, 5, 6, 7, 8, 9]]).all()


def test_invalid_forward_or_strike_and_discounting():
    res = implied_vol([5.0, 5.0, 5.0], [100.0, 0.0, 100.0], [100.0, 100.0, -1.0], 0.5, True)
    assert res.reason_names().tolist() == ["ok", "invalid_input", "invalid_input"]
    # a discounted price inverts to the same vol once r is given
    p = price(100.0, 110.0, 2.0, 0.7, False, r=0.06)
    assert float(implied_vol(p, 100.0, 110.0, 2.0, False, r=0.06).sigma) == pytest.approx(0.7, abs=1e-12)
    assert float(implied_vol(p, 100.0, 110.0, 2.0, False).sigma) < 0.7


def test_each_quote_is_solved_independently_of_its_batch():
    """Same quote, same bits, whatever else is in the array: chunks, the internal blocks
    (a shuffled array longer than one block) and repeated calls all agree exactly."""
    whole = implied_vol(PRICE, F, K, T, CALL)
    parts = [implied_vol(PRICE[i : i + 997], F[i : i + 997], K[i : i + 997], T[i : i + 997], CALL[i : i + 997]) for i in range(0, PRICE.size, 997)]
    np.testing.assert_array_equal(np.concatenate([p.sigma for p in parts]), whole.sigma)
    np.testing.assert_array_equal(np.concatenate([p.reason for p in parts]), whole.reason)
    again = implied_vol(PRICE, F, K, T, CALL)
    np.testing.assert_array_equal(again.sigma, whole.sigma)
    order = np.random.default_rng(1).permutation(np.tile(np.arange(PRICE.size), 13))
    assert order.size > implied_vol_module.BLOCK
    long = implied_vol(PRICE[order], F[order], K[order], T[order], CALL[order])
    np.testing.assert_array_equal(long.sigma, whole.sigma[order])
    np.testing.assert_array_equal(long.reason, whole.reason[order])


def test_shapes_broadcast_like_the_pricer():
    strikes = np.linspace(80.0, 120.0, 4)[:, None]
    vols = np.array([0.2, 0.9])[None, :]
    p = price(100.0, strikes, 0.5, vols, True)
    res = implied_vol(p, 100.0, strikes, 0.5, True)
    assert res.sigma.shape == (4, 2) and res.reason.shape == (4, 2)
    np.testing.assert_allclose(res.sigma, np.broadcast_to(vols, (4, 2)), atol=1e-12)
    assert implied_vol(1.0, 100.0, 100.0, 0.1, True).sigma.shape == ()


@settings(max_examples=300, deadline=None)
@given(
    fwd=st.floats(10.0, 200_000.0),
    moneyness=st.floats(-1.0, 1.0),
    t=st.floats(5 * MINUTE, 3.0),
    sigma=st.floats(0.05, 5.0),
    call=st.booleans(),
)
def test_round_trip_property(fwd, moneyness, t, sigma, call):
    sd = sigma * np.sqrt(t)
    strike = fwd * np.exp(moneyness * min(3.0, 6.0 * sd))
    p = float(price(fwd, strike, t, sigma, call))
    vega_unit = float(greeks(fwd, strike, t, sigma, call).vega) * 100
    if p <= 0 or np.finfo(float).eps * max(fwd, strike) > 1e-10 * vega_unit:
        return  # nothing left of the vol in a double-precision price
    res = implied_vol(p, fwd, strike, t, call)
    assert int(res.reason) == CODE["ok"]
    assert abs(float(res.sigma) - sigma) < 1e-8


def test_with_implied_vol_on_a_frame():
    frame = pl.DataFrame(
        {
            "strike": [90.0, 100.0, 110.0, 100.0],
            "option_type": ["C", "P", "C", "C"],
            "T": [0.5, 0.5, 0.5, -0.1],
            "underlying_price": [100.0, 100.0, 100.0, 100.0],
        }
    )
    quotes = price(100.0, frame["strike"].to_numpy(), 0.5, 0.6, (frame["option_type"] == "C").to_numpy())
    frame = frame.with_columns(price_usd=pl.Series(quotes))
    out = with_implied_vol(frame, is_call="option_type")
    assert out["iv"].head(3).to_numpy() == pytest.approx([0.6] * 3, abs=1e-12)
    assert out["iv"][3] is None
    assert out["iv_reason"].cast(pl.String).to_list() == ["ok", "ok", "ok", "nonpositive_time"]
