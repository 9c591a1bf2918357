"""quant.learn.garch.fit_garch, the one GARCH fit: the spec it is given is the model fitted,
its variance is the GARCH recursion of its own parameters, and rescaling maps back."""

from __future__ import annotations

import numpy as np
import pytest

from dvol_pipeline.quant.learn.garch import fit_garch


def _returns(n: int = 800, seed: int = 3) -> np.ndarray:
    """GJR-GARCH(1,1) returns in percent (omega .05, alpha .05, gamma .08, beta .88, t(6) shocks, mean .03)."""
    rng = np.random.default_rng(seed)
    s2, r = 0.05 / (1 - 0.05 - 0.04 - 0.88), np.empty(n)
    for t in range(n):
        r[t] = 0.03 + np.sqrt(s2) * rng.standard_t(6) / np.sqrt(1.5)
        e = r[t] - 0.03
        s2 = 0.05 + (0.05 + 0.08 * (e < 0)) * e * e + 0.88 * s2
    return r


def test_the_spec_is_the_model_fitted():
    r = _returns()
    plain = fit_garch(r)
    assert list(plain.params) == ["omega", "alpha[1]", "beta[1]"]
    gjr = fit_garch(r, mean="Constant", o=1, dist="t", maxiter=200)
    assert list(gjr.params) == ["mu", "omega", "alpha[1]", "gamma[1]", "beta[1]", "nu"]
    assert gjr.converged and 0.5 < gjr.params["beta[1]"] < 1 and 2 < gjr.params["nu"] < 30
    assert gjr.loglikelihood > plain.loglikelihood  # the richer model fits at least as well
    with pytest.raises(ValueError, match="mean"):
        fit_garch(r, mean="AR")


def test_the_variance_is_the_recursion_of_the_fitted_parameters():
    # zero mean: sigma2[0] = omega + (alpha + gamma / 2 + beta) backcast; then
    # sigma2[t] = omega + (alpha + gamma 1[r(t-1) < 0]) r(t-1)^2 + beta sigma2[t-1]
    r = _returns() - 0.03
    fit = fit_garch(r, o=1, dist="t", maxiter=200)
    p = fit.params
    want = np.empty(r.size)
    want[0] = p["omega"] + (p["alpha[1]"] + 0.5 * p["gamma[1]"] + p["beta[1]"]) * fit.backcast
    for t in range(1, r.size):
        want[t] = p["omega"] + (p["alpha[1]"] + p["gamma[1]"] * (r[t - 1] < 0)) * r[t - 1] ** 2 + p["beta[1]"] * want[t - 1]
    np.testing.assert_allclose(fit.variance, want, rtol=1e-10)


def test_the_backcast_is_of_the_residuals_at_the_fitted_mean():
    # arch's backcast: the 0.94-weighted mean of the first 75 squared residuals, here r - mu
    r = _returns()
    fit = fit_garch(r, mean="Constant", o=1, dist="t", maxiter=200)
    w = 0.94 ** np.arange(75)
    assert fit.backcast == pytest.approx(np.sum(w / w.sum() * (r[:75] - fit.params["mu"]) ** 2), rel=1e-12)


def test_rescaling_fits_the_unit_variance_series_and_maps_back():
    y = _returns() * 1e-3  # returns as fractions: a scale arch's optimiser handles poorly
    s = np.std(y)
    on_unit = fit_garch(y / s)
    fit = fit_garch(y, rescale=True)
    assert fit.params["alpha[1]"] == on_unit.params["alpha[1]"] and fit.params["beta[1]"] == on_unit.params["beta[1]"]
    assert fit.params["omega"] == pytest.approx(on_unit.params["omega"] * s**2, rel=1e-12)
    np.testing.assert_allclose(fit.variance, on_unit.variance * s**2, rtol=1e-12)
    assert fit.backcast == pytest.approx(on_unit.backcast * s**2, rel=1e-12)
    with pytest.raises(ValueError, match="rescale"):
        fit_garch(np.full(200, 1.5), rescale=True)
