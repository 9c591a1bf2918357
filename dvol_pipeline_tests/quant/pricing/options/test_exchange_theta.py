"""Deribit's ticker theta and the P&L attribution that books it.

The rule (measured on real Deribit tickers, each priced at its own mark_iv): theta per day =
the analytic -dV/dT / 365 x min(1, days to expiry), floored at -V. Every expected value below
comes from outside the code under test: Black-76 worked by hand with the numbers shown
(F = 42,000, sigma = 0.55, r = 0, T = days / 365; n(x) = exp(-x^2 / 2) / sqrt(2 pi), N its
integral; the constants carry the same arithmetic to more digits), or vollib's analytical
Black theta and price as the oracle.
"""

from __future__ import annotations

import numpy as np
import pytest
from vollib.black import black as vollib_price
from vollib.black.greeks.analytical import theta as vollib_theta

from dvol_pipeline.quant.execution.options import attribute, theta_exchange, theta_per_day
from dvol_pipeline.quant.pricing.options import exchange_theta, greeks

DAY = 1 / 365
F, SIGMA = 42_000.0, 0.55

# At the money (K = F) ln(F/K) = 0, so d1 = sigma sqrt(T) / 2 and the analytic theta per day is
#   theta = -F n(d1) sigma / (2 sqrt(T)) / 365.
#
# 30 days: sqrt(T) = sqrt(30/365) = 0.28669109, sigma sqrt(T) = 0.15768010, d1 = 0.07884005,
#   n(d1) = 0.39770434; theta = -42000 x 0.39770434 x 0.55 / (2 x 0.28669109) / 365 = -43.897042
ATM_30D_THETA = -43.897042044
# 6 hours (0.25 day): sqrt(T) = 0.02617120, sigma sqrt(T) = 0.01439416, d1 = 0.00719708,
#   n(d1) = 0.39893195; theta = -42000 x 0.39893195 x 0.55 / (2 x 0.02617120) / 365 = -482.35231;
#   V = F (N(d1) - N(-d1)) = 42000 x (0.50287119 - 0.49712881) = 241.18032, so the scaled
#   theta -482.35231 x 0.25 = -120.58808 is above -V: no floor.
ATM_6H_THETA, ATM_6H_VALUE = -482.35231332, 241.18032085
# 1 hour (1/24 day): sqrt(T) = 0.01068435, sigma sqrt(T) = 0.00587639, d1 = 0.00293820,
#   n(d1) = 0.39894056; theta = -42000 x 0.39894056 x 0.55 / (2 x 0.01068435) / 365 = -1181.5425;
#   V = 42000 x (0.50117217 - 0.49882783) = 98.462162, scaled theta -1181.5425 / 24 = -49.230939.
ATM_1H_THETA = -1181.54254422
# 10 days: sqrt(T) = 0.16552118, d1 = 0.04551832, n(d1) = 0.39852921; theta = -76.189602
ATM_10D_THETA = -76.1896022944
# 2 days: sqrt(T) = 0.07402332, d1 = 0.02035641, n(d1) = 0.39885963; theta = -170.50638,
#   V = 42000 x (0.50812047 - 0.49187953) = 682.11974
ATM_2D_THETA = -170.506381452
# Out of the money, call K = 44,000, 12 hours: sqrt(T) = 0.03701166, sigma sqrt(T) = 0.02035641,
#   d1 = ln(42000/44000) / 0.02035641 + 0.01017821 = -2.27509745, d2 = -2.29545386,
#   n(d1) = 0.02998756, N(d1) = 0.01145004, N(d2) = 0.01085356;
#   theta = -42000 x 0.02998756 x 0.55 / (2 x 0.03701166) / 365 = -25.638443, x 0.5 = -12.819221,
#   V = 42000 x 0.01145004 - 44000 x 0.01085356 = 3.3449707: the floor, theta = -V.
OTM_12H_VALUE = 3.34497067164
# Out of the money, call K = 47,000, 3 days: sqrt(T) = 0.09065968, sigma sqrt(T) = 0.04986283,
#   d1 = ln(42000/47000) / 0.04986283 + 0.02493141 = -2.23081688, d2 = -2.28067970,
#   n(d1) = 0.03313350, N(d1) = 0.01284663, N(d2) = 0.01128370;
#   theta = -42000 x 0.03313350 x 0.55 / (2 x 0.09065968) / 365 = -11.564909 per day, but
#   V = 42000 x 0.01284663 - 47000 x 0.01128370 = 9.2244254: a day cannot cost more, theta = -V.
OTM_3D_VALUE = 9.22442544699


def test_more_than_a_day_to_expiry_it_is_the_analytic_theta():
    assert exchange_theta(F, F, 30 * DAY, SIGMA, True) == pytest.approx(ATM_30D_THETA, rel=1e-9)
    # the analytic theta itself is kept as it was
    assert greeks(F, F, 30 * DAY, SIGMA, True).theta == pytest.approx(ATM_30D_THETA, rel=1e-9)
    assert exchange_theta(F, F, 10 * DAY, SIGMA, False) == pytest.approx(ATM_10D_THETA, rel=1e-9)  # puts too


def test_within_the_last_day_the_rate_is_scaled_by_the_part_of_the_day_left():
    got = exchange_theta(F, F, 0.25 * DAY, SIGMA, True)
    assert got == pytest.approx(0.25 * ATM_6H_THETA, rel=1e-9)  # -120.58808, not -V = -241.18
    assert -got < ATM_6H_VALUE
    assert exchange_theta(F, F, DAY / 24, SIGMA, True) == pytest.approx(ATM_1H_THETA / 24, rel=1e-9)
    assert greeks(F, F, 0.25 * DAY, SIGMA, True).theta == pytest.approx(ATM_6H_THETA, rel=1e-9)  # unscaled
    assert exchange_theta(F, F, 0.0, SIGMA, True) == 0.0  # expired: nothing left to lose


def test_no_option_loses_more_than_its_value():
    assert exchange_theta(F, 44_000.0, 0.5 * DAY, SIGMA, True) == pytest.approx(-OTM_12H_VALUE, rel=1e-9)
    assert exchange_theta(F, 47_000.0, 3 * DAY, SIGMA, True) == pytest.approx(-OTM_3D_VALUE, rel=1e-9)


@pytest.mark.parametrize("days_left", [45.0, 7.0, 1.5, 1.0, 0.6, 0.1, 0.01])
@pytest.mark.parametrize(("K", "is_call"), [(30_000.0, True), (36_000.0, False), (42_000.0, True),
                                            (42_000.0, False), (46_000.0, True), (55_000.0, True)])
def test_the_rule_against_vollib(days_left, K, is_call):
    """vollib's analytical Black theta (per day, /365) and price, combined by the rule."""
    flag, t = ("c" if is_call else "p"), days_left / 365
    want = max(vollib_theta(flag, F, K, t, 0.0, SIGMA) * min(1.0, days_left), -vollib_price(flag, F, K, t, 0.0, SIGMA))
    assert exchange_theta(F, K, t, SIGMA, is_call) == pytest.approx(want, rel=1e-9, abs=1e-10)


def test_the_attribution_books_the_exchanges_theta():
    F0, K, iv = np.array([F]), np.array([F]), np.array([SIGMA])
    qty, calls = np.array([-10.0]), np.array([True])
    flat = dict(fwd1=F0, iv1=iv, hedge_coin=0.0, perp_move=0.0)
    # short 10 ATM calls an hour before expiry: 10 x 1181.5425 / 24 = 492.30939, not a day at
    # the rate (10 x 1181.54 = 11815) and not the whole value left (10 x 98.46 = 984.62)
    hour = attribute(qty, K, calls, np.array([DAY / 24]), F0, iv0=iv, days=1.0, **flat)
    assert hour.theta == pytest.approx(-10 * ATM_1H_THETA / 24, rel=1e-9)
    assert hour.theta == pytest.approx(float(-10 * theta_exchange(F0, K, DAY / 24, iv, calls)[0]), rel=1e-12)
    # a month out: the analytic rate, as `theta_per_day` gives it
    month = attribute(qty, K, calls, np.array([30 * DAY]), F0, iv0=iv, days=1.0, **flat)
    assert month.theta == pytest.approx(-10 * ATM_30D_THETA, rel=1e-9)
    assert month.theta == pytest.approx(float(-10 * theta_per_day(F0, K, 30 * DAY, iv, calls)[0]), rel=1e-12)


def test_over_several_days_the_rate_runs_for_the_days_elapsed_or_to_expiry():
    one, calls, iv = np.array([1.0]), np.array([True]), np.array([SIGMA])
    F0, atm = np.array([F]), np.array([F])
    flat = dict(fwd1=F0, iv1=iv, hedge_coin=0.0, perp_move=0.0)
    # a weekend gap, 10 days left: 3 x -76.189602 = -228.56881
    weekend = attribute(one, atm, calls, np.array([10 * DAY]), F0, iv0=iv, days=3.0, **flat)
    assert weekend.theta == pytest.approx(3 * ATM_10D_THETA, rel=1e-9)
    # 3 days elapsed with 2 left: 2 x -170.50638 = -341.01276 (V = 682.12, no floor)
    assert attribute(one, atm, calls, np.array([2 * DAY]), F0, iv0=iv, days=3.0, **flat).theta == pytest.approx(
        2 * ATM_2D_THETA, rel=1e-9)
    # the floor holds for the attribution too: the 47,000 call 3 days out loses its value, 9.2244254
    otm = attribute(one, np.array([47_000.0]), calls, np.array([3 * DAY]), F0, iv0=iv, days=1.0, **flat)
    assert otm.theta == pytest.approx(-OTM_3D_VALUE, rel=1e-9)
    # many books at once agree with one at a time
    rows = exchange_theta(F, np.array([F, F, 47_000.0]), np.array([10, 2, 3]) * DAY, SIGMA, True,
                          days=np.array([3.0, 3.0, 1.0]))
    np.testing.assert_allclose(rows, [3 * ATM_10D_THETA, 2 * ATM_2D_THETA, -OTM_3D_VALUE], rtol=1e-9)
