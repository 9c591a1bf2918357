"""SABR smiles: the formula against QuantLib and its ATM limit, the batched fit against known answers."""

from __future__ import annotations

import numpy as np
import pytest

from dvol_pipeline.quant.pricing.surface import fit_sabr_slices, sabr_vol
from dvol_pipeline.quant.pricing.surface.sabr import fit_sabr_arrays

ql = pytest.importorskip("QuantLib")

F, T = 50_000.0, 0.25
STRIKES = np.array([20_000, 30_000, 42_000, 49_000, 50_000, 51_000, 60_000, 80_000, 120_000], float)


@pytest.mark.parametrize("alpha, rho, nu", [(0.65, -0.3, 1.8), (0.4, 0.2, 0.5), (1.1, -0.7, 4.0)])
def test_beta_one_matches_quantlib_hagan_formula(alpha, rho, nu):
    """At beta = 1 Obloj's leading term and Hagan's coincide: QuantLib's sabrVolatility is an exact oracle."""
    ours = sabr_vol(np.log(STRIKES / F), T, alpha, rho, nu, beta=1.0)
    theirs = [ql.sabrVolatility(float(K), F, T, alpha, 1.0, nu, rho) for K in STRIKES]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_beta_half_agrees_with_hagan_at_the_money_and_differs_by_obloj_correction_in_the_wings():
    alpha_n, rho, nu, beta = 0.6, -0.3, 1.5, 0.5
    alpha = alpha_n * F ** (1 - beta)  # QuantLib's alpha is in units of F^(1 - beta)
    k = np.log(STRIKES / F)
    ours = sabr_vol(k, T, alpha_n, rho, nu, beta)
    theirs = np.array([ql.sabrVolatility(float(K), F, T, alpha, beta, nu, rho) for K in STRIKES])
    atm = STRIKES == F
    np.testing.assert_allclose(ours[atm], theirs[atm], rtol=1e-12)
    near = np.abs(k) < 0.05
    np.testing.assert_allclose(ours[near], theirs[near], rtol=1e-4)
    assert np.abs(ours / theirs - 1).max() < 5e-3  # Obloj's correction: a fraction of a percent far out


def test_atm_limit_is_continuous_and_equals_the_closed_form():
    alpha, rho, nu, beta = 0.7, -0.4, 2.0, 1.0
    closed = alpha * (1 + (rho * beta * nu * alpha / 4 + (2 - 3 * rho**2) * nu**2 / 24) * T)
    assert sabr_vol(0.0, T, alpha, rho, nu) == pytest.approx(closed, rel=1e-14)
    for eps in (1e-9, -1e-9, 1e-6, -1e-6):
        assert sabr_vol(eps, T, alpha, rho, nu) == pytest.approx(closed, rel=5e-6)
    # no vol of vol: Black with vol alpha, flat
    np.testing.assert_allclose(sabr_vol(np.log(STRIKES / F), T, alpha, rho, 1e-12), alpha, rtol=1e-9)


def random_sabr(n: int, seed: int):
    rng = np.random.default_rng(seed)
    T = rng.uniform(5 / 365, 0.5, n)
    a, r, v = rng.uniform(0.4, 1.0, n), rng.uniform(-0.5, 0.3, n), rng.uniform(0.5, 4.0, n)
    k = np.linspace(-2.5, 2.5, 25)[None, :] * (a * np.sqrt(T))[:, None]
    return k, T, a, r, v, sabr_vol(k, T[:, None], a[:, None], r[:, None], v[:, None])


def test_noiseless_smiles_recover_the_parameters():
    k, T, a, r, v, iv = random_sabr(100, seed=1)
    fit = fit_sabr_arrays(k, iv, np.ones_like(iv), T)
    np.testing.assert_allclose(fit["alpha"], a, atol=1e-8)
    np.testing.assert_allclose(fit["rho"], r, atol=1e-7)
    np.testing.assert_allclose(fit["nu"], v, atol=1e-6)


def test_noisy_smiles_track_the_truth_and_one_slice_alone_fits_as_in_the_batch():
    k, T, a, r, v, iv = random_sabr(60, seed=2)
    noisy = iv + np.random.default_rng(3).normal(0, 0.005, iv.shape)
    wt = np.full_like(iv, 1 / 0.005**2)
    fit = fit_sabr_arrays(k, noisy, wt, T)
    fitted = sabr_vol(k, T[:, None], *(fit[c][:, None] for c in ("alpha", "rho", "nu")))
    assert np.median(np.sqrt(((fitted - iv) ** 2).mean(1))) < 0.5 * 0.005
    alone = fit_sabr_arrays(k[9:10], noisy[9:10], wt[9:10], T[9:10])
    for c in ("alpha", "rho", "nu"):
        assert alone[c][0] == pytest.approx(fit[c][9], rel=1e-10)


def test_frame_fit_reports_parameters_and_error_per_slice():
    from dvol_pipeline_tests.quant.pricing.surface.test_surface_svi import as_points

    k, T, a, r, v, iv = random_sabr(4, seed=4)
    w = iv * iv * T[:, None]
    out = fit_sabr_slices(as_points(k, w, T, np.ones_like(w))).sort("T")
    order = np.argsort(T)
    np.testing.assert_allclose(out["nu"].to_numpy(), v[order], rtol=1e-6)
    assert out["rmse_vol"].max() < 1e-6 and (out["beta"] == 1.0).all() and out["n_points"].to_list() == [25] * 4
