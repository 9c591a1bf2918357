"""Batched SVI fits and the static-arbitrage checks: known answers, oracles, properties."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from dvol_pipeline.quant.pricing.options import price
from dvol_pipeline.quant.pricing.surface import (
    butterfly_g,
    butterfly_violations,
    calendar_violations,
    fit_slices,
    fit_svi_arrays,
    svi_total_variance,
)

PARAMS = ("a", "b", "rho", "m", "sigma")
VOGT = dict(a=-0.0410, b=0.1331, rho=0.3060, m=0.3586, sigma=0.4153)
VOGT_T = 0.99727
TS = datetime(2024, 3, 1, 23, 59, 59, tzinfo=timezone.utc)


def random_slices(n: int, n_points: int, seed: int):
    """Realistic crypto-like SVI slices (known parameters) on +-3 ATM sd of strikes."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(2 / 365, 1.0, n)
    atm = rng.uniform(0.35, 1.3, n)
    s = atm * np.sqrt(T)
    b = rng.uniform(0.1, 0.6, n) * s
    rho = rng.uniform(-0.8, 0.4, n)
    m = rng.uniform(-0.3, 0.3, n) * s
    sigma = rng.uniform(0.2, 2.0, n) * s
    a = atm**2 * T - b * (-rho * m + np.sqrt(m * m + sigma * sigma))
    k = np.linspace(-3.0, 3.0, n_points)[None, :] * s[:, None]
    true = dict(a=a, b=b, rho=rho, m=m, sigma=sigma)
    w = svi_total_variance(k, *(true[p][:, None] for p in PARAMS))
    return k, w, T, true


def as_points(k: np.ndarray, w: np.ndarray, T: np.ndarray, weight: np.ndarray) -> pl.DataFrame:
    """The `smile_points` frame of padded slices (one expiry per slice, one day)."""
    n, p = k.shape
    expiry = [TS + timedelta(days=float(t * 365)) for t in np.repeat(T, p)]
    return pl.DataFrame(
        {
            "ts": [TS] * (n * p),
            "asset": ["BTC"] * (n * p),
            "expiry": expiry,
            "date": [TS.date()] * (n * p),
            "T": np.repeat(T, p),
            "forward": np.full(n * p, 50_000.0),
            "k": k.ravel(),
            "iv": np.sqrt(w.ravel() / np.repeat(T, p)),
            "w": w.ravel(),
            "weight": weight.ravel(),
        }
    ).with_columns(pl.col("ts", "expiry").cast(pl.Datetime("us", "UTC")))


def test_noiseless_slices_recover_the_parameters():
    k, w, T, true = random_slices(200, 25, seed=1)
    fit = fit_svi_arrays(k, w, 1.0 / (0.01 * w) ** 2)
    w_fit = svi_total_variance(k, *(fit[p][:, None] for p in PARAMS))
    assert np.abs(w_fit - w).max() < 1e-6
    for p in PARAMS:
        np.testing.assert_allclose(fit[p], true[p], atol=1e-5)


def test_fit_slices_frame_reports_zero_error_and_the_atm_vol():
    k, w, T, true = random_slices(5, 21, seed=2)
    params = fit_slices(as_points(k, w, T, np.ones_like(w))).sort("T")
    order = np.argsort(T)
    assert params.height == 5 and params["n_points"].to_list() == [21] * 5
    assert params["rmse_vol"].max() < 1e-6 and params["max_abs_err_vol"].max() < 1e-6
    atm = 100.0 * np.sqrt(svi_total_variance(0.0, *(true[p] for p in PARAMS)) / T)
    np.testing.assert_allclose(params["atm_iv"].to_numpy(), atm[order], atol=1e-6)
    assert params["date"].to_list() == [date(2024, 3, 1)] * 5


def test_noisy_slices_track_the_true_smile_and_respect_the_constraints():
    k, w, T, true = random_slices(300, 35, seed=3)
    rng = np.random.default_rng(4)
    iv_true = np.sqrt(w / T[:, None])
    noise_vol = 0.005  # half a vol point
    iv_noisy = iv_true + rng.normal(0.0, noise_vol, iv_true.shape)
    w_noisy = iv_noisy**2 * T[:, None]
    width_w = 2.0 * iv_noisy * T[:, None] * noise_vol
    fit = fit_svi_arrays(k, w_noisy, 1.0 / width_w**2)
    iv_fit = np.sqrt(np.maximum(svi_total_variance(k, *(fit[p][:, None] for p in PARAMS)), 0) / T[:, None])
    rms_to_truth = np.sqrt(np.mean((iv_fit - iv_true) ** 2, axis=1))
    # five parameters from 35 points: the fit averages the noise away, it does not chase it
    assert np.median(rms_to_truth) < 0.5 * noise_vol
    assert np.quantile(rms_to_truth, 0.95) < noise_vol
    a, b, rho, sigma = fit["a"], fit["b"], fit["rho"], fit["sigma"]
    assert (b >= 0).all() and (np.abs(rho) < 1).all() and (sigma > 0).all()
    assert (a + b * sigma * np.sqrt(1 - rho**2) >= -1e-15).all()
    assert (b * (1 + np.abs(rho)) <= 2.0 + 1e-12).all()


def test_fit_is_deterministic_and_independent_of_the_batch():
    k, w, T, _ = random_slices(40, 30, seed=5)
    w = w * np.exp(np.random.default_rng(6).normal(0, 0.01, w.shape))
    wt = 1.0 / (0.01 * w) ** 2
    first, second = fit_svi_arrays(k, w, wt), fit_svi_arrays(k, w, wt)
    alone = fit_svi_arrays(k[7:8], w[7:8], wt[7:8])
    for p in PARAMS:
        np.testing.assert_array_equal(first[p], second[p])
        assert alone[p][0] == pytest.approx(first[p][7], abs=1e-8)


def test_vogt_parameters_fail_the_butterfly_check_where_the_density_is_negative():
    k = np.linspace(-1.5, 1.5, 301)
    g = butterfly_g(k, **VOGT)
    assert g.min() < -0.01
    # oracle: the butterfly spread d2C/dK2 of Black-76 calls priced off the smile
    K = np.exp(k)
    vol = np.sqrt(svi_total_variance(k, **VOGT) / VOGT_T)
    call = price(1.0, K, VOGT_T, vol, True)
    h = 1e-3
    vol_up = np.sqrt(svi_total_variance(np.log(K + h), **VOGT) / VOGT_T)
    vol_dn = np.sqrt(svi_total_variance(np.log(K - h), **VOGT) / VOGT_T)
    density = (price(1.0, K + h, VOGT_T, vol_up, True) - 2 * call
               + price(1.0, K - h, VOGT_T, vol_dn, True)) / h**2
    clear = np.abs(g) > 1e-3
    np.testing.assert_array_equal(np.sign(g[clear]), np.sign(density[clear]))

    params = pl.DataFrame(
        {"date": [date(2024, 3, 1)], "asset": ["BTC"], "expiry": [TS + timedelta(days=364)], "T": [VOGT_T],
         **{p: [v] for p, v in VOGT.items()}}
    )
    bad = butterfly_violations(params)
    assert bad.height > 0 and (bad["g"] < 0).all()
    assert bad["k"].min() > 0.5 and bad["k"].max() < 1.4  # the negative density sits in the right wing


def test_fitted_clean_slices_pass_the_butterfly_check():
    k, w, T, _ = random_slices(50, 25, seed=8)
    params = fit_slices(as_points(k, w, T, np.ones_like(w)))
    assert butterfly_violations(params).height == 0


def _day(expiry_days, params_rows, day=date(2024, 3, 1), asset="BTC"):
    ts = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=timezone.utc)
    return pl.DataFrame(
        {
            "date": [day] * len(expiry_days),
            "asset": [asset] * len(expiry_days),
            "expiry": [ts + timedelta(days=d) for d in expiry_days],
            "T": [d / 365 for d in expiry_days],
            **{p: [row[i] for row in params_rows] for i, p in enumerate(PARAMS)},
        }
    )


def test_planted_calendar_crossing_is_flagged_at_the_crossing_strikes():
    # near smile with a steep put skew, far smile flat: the far expiry is cheaper in the put wing
    near = (0.01, 0.2, -0.9, 0.0, 0.1)
    far = (0.032, 0.01, 0.0, 0.0, 0.1)  # above the near smile at the money (0.033 > 0.03)
    params = _day([20, 45], [near, far])
    bad = calendar_violations(params)
    assert bad.height > 0
    assert (bad["w_far"] < bad["w_near"]).all() and (bad["k"] < 0).all()
    w_near = svi_total_variance(bad["k"].to_numpy(), *near)
    np.testing.assert_allclose(bad["w_near"].to_numpy(), w_near)
    # the same far smile shifted up by enough variance clears every strike
    ok = _day([20, 45], [near, (0.3, 0.01, 0.0, 0.0, 0.1)])
    assert calendar_violations(ok).height == 0


def test_calendar_check_compares_only_expiries_of_the_same_day_and_asset():
    high = (0.05, 0.1, -0.3, 0.0, 0.2)
    low = (0.001, 0.05, -0.3, 0.0, 0.2)
    # a later day's short expiry is cheaper than an earlier day's long one: not an arbitrage
    frame = pl.concat([_day([60], [high]), _day([5], [low], day=date(2024, 3, 2)), _day([5], [low], asset="ETH")])
    assert calendar_violations(frame).height == 0
