"""The exchange's theta (value lost over the next calendar day) against QuantLib, and the
analytic rate it replaces in the P&L attribution."""

from __future__ import annotations

import numpy as np
import pytest
import QuantLib as ql

from dvol_pipeline.quant.execution.options import attribute, theta_exchange, theta_per_day
from dvol_pipeline.quant.pricing.options import exchange_theta, greeks

DAY = 1 / 365


def _ql_black(F, K, T, sigma, is_call):
    kind = ql.Option.Call if is_call else ql.Option.Put
    return ql.blackFormula(kind, K, F, sigma * np.sqrt(max(T, 0.0)), 1.0) if T > 0 else max(
        (F - K) if is_call else (K - F), 0.0)


@pytest.mark.parametrize("T", [30 * DAY, 2 * DAY, DAY, 6 / 24 * DAY, 1 / 24 * DAY])
@pytest.mark.parametrize(("K", "is_call"), [(40_000.0, True), (42_000.0, False), (45_000.0, True)])
def test_exchange_theta_is_the_next_days_value_change(T, K, is_call):
    F, sigma = 42_000.0, 0.55
    want = _ql_black(F, K, max(T - DAY, 0.0), sigma, is_call) - _ql_black(F, K, T, sigma, is_call)
    got = exchange_theta(F, K, T, sigma, is_call)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-8)


def test_far_from_expiry_the_two_thetas_agree_and_near_it_they_do_not():
    F, K, sigma = 42_000.0, 42_000.0, 0.55
    far = greeks(F, K, 60 * DAY, sigma, True)
    assert exchange_theta(F, K, 60 * DAY, sigma, True) == pytest.approx(far.theta, rel=0.01)
    hour = 1 / 24 * DAY
    ratio = greeks(F, K, hour, sigma, True).theta / exchange_theta(F, K, hour, sigma, True)
    assert ratio == pytest.approx(12.0, rel=0.02)  # 1 / (2 x 365 T) at the money
    # at expiry, nothing left to lose, by either convention
    assert exchange_theta(F, K, 0.0, sigma, True) == 0.0
    # over several days (a weekend gap in the data), the value lost over all of them
    three = exchange_theta(F, K, 10 * DAY, sigma, True, days=3.0)
    assert three == pytest.approx(_ql_black(F, K, 7 * DAY, sigma, True) - _ql_black(F, K, 10 * DAY, sigma, True))


def test_the_attribution_charges_what_a_day_held_costs():
    F0, K, iv = np.array([42_000.0]), np.array([42_000.0]), np.array([0.55])
    qty, calls = np.array([-10.0]), np.array([True])
    hour = np.array([1 / 24 * DAY])
    pnl = attribute(qty, K, calls, hour, F0, F0, iv, iv, days=1.0, hedge_coin=0.0, perp_move=0.0)
    # short 10 ATM calls expiring in an hour: the seller earns the time value left, no more
    time_value = float(greeks(F0, K, hour, iv, calls).price[0])
    assert pnl.theta == pytest.approx(10 * time_value, rel=1e-9)
    assert pnl.theta == pytest.approx(float(-10 * theta_exchange(F0, K, hour, iv, calls)[0]))
    analytic = float(-10 * theta_per_day(F0, K, hour, iv, calls)[0])
    assert analytic / pnl.theta > 10
    # a month out the two conventions book nearly the same theta
    month = np.array([30 * DAY])
    p = attribute(qty, K, calls, month, F0, F0, iv, iv, days=1.0, hedge_coin=0.0, perp_move=0.0)
    assert p.theta == pytest.approx(float(-10 * theta_per_day(F0, K, month, iv, calls)[0]), rel=0.02)
