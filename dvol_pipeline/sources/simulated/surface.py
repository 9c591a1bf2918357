"""The implied-volatility surface of the simulated market.

Why this shape:

* level: the variance-swap value of each expiry equals the model's expected average
  variance to that expiry (closed-form OU moments + Gauss-Legendre quadrature) times a
  variance-risk-premium multiplier squared, times a transient noise factor. So DVOL, a
  variance swap, inherits the VRP directly and the term structure comes from the OU mean
  reversion.
* smile: total variance w(k) = atm^2 T h(y), y = k / (atm sqrt(T)), with the SVI-like
  h(y) = 1 + eta (rho y + sqrt(y^2 + 1) - 1): skew (rho < 0, puts richer) and curvature
  scale with sqrt(T) in log-moneyness; wings are linear in k (Lee bound respected), and
  with atm^2 T increasing in T there is no calendar arbitrage at fixed k.
* the ATM level is solved so that the smile's exact variance swap (Gatheral's d2-weighted
  integral of implied variance, `vs_ratio`) equals the target; `model_variance_swap` is
  an independent fine-strike pricing integral of the same smile, which tests compare
  with the replica computed from the listed strikes.
"""

from __future__ import annotations

import numpy as np

from dvol_pipeline.quant.pricing.options import price
from dvol_pipeline.quant.pricing.options.normal import norm_pdf

from .params import HOURS_PER_YEAR
from .paths import CoinPath, VolModel

_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)
_EV_X, _EV_W = np.polynomial.hermite_e.hermegauss(12)
_EV_W = _EV_W / np.sqrt(2.0 * np.pi)
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(48)
_GH_W = _GH_W / np.sqrt(2.0 * np.pi)
DVOL_DAYS = 30.0


def expected_variance(model: VolModel, x: np.ndarray, t_years: np.ndarray, spike: np.ndarray = 0.0) -> np.ndarray:
    """E[average annualised variance over the next T years | x, spike].

    The log vol x + spike at t+h is treated as Gaussian: the slow level x and the fast
    spike each revert with their own OU coefficient, and their future shocks add their
    OU variances; E[vol^2] at each Gauss-Legendre time node is a Gauss-Hermite sum
    (vol() is the capped exp).
    """
    x, t, spike = np.broadcast_arrays(np.asarray(x, float), np.asarray(t_years, float), np.asarray(spike, float))
    h = 0.5 * (t * HOURS_PER_YEAR)[..., None] * (_GL_X + 1.0)
    ph = np.exp(h * np.log(model.phi))
    pf = np.exp(h * np.log(model.phi_spike))
    mu = model.theta + ph * (x[..., None] - model.theta) + pf * spike[..., None]
    var = model.shock_var * (1.0 - ph * ph) / (1.0 - model.phi**2)
    if model.spike_var > 0.0:
        var = var + model.spike_var * (1.0 - pf * pf) / (1.0 - model.phi_spike**2)
    sd = np.sqrt(var)
    v = model.vol(mu[..., None] + sd[..., None] * _EV_X)
    ev = np.sum(_EV_W * v * v, axis=-1)
    return 0.5 * np.sum(_GL_W * ev, axis=-1) + model.jump_var


def smile_h(y: np.ndarray, eta: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Smile shape: implied variance / ATM variance at standardised moneyness y."""
    return 1.0 + eta * (rho * y + np.sqrt(y * y + 1.0) - 1.0)


def vs_ratio_small_t(eta: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """E[h(Y)], Y ~ N(0,1): variance-swap over ATM variance in the small-T limit."""
    eta, rho = np.broadcast_arrays(np.asarray(eta, float), np.asarray(rho, float))
    return np.sum(_GH_W * smile_h(_GH_X, eta[..., None], rho[..., None]), axis=-1)


_Y = np.linspace(-12.0, 12.0, 161)


def vs_ratio(s: np.ndarray, eta: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Variance-swap variance over ATM variance for total ATM vol s = atm * sqrt(T).

    Gatheral's identity: sigma_VS^2 T = integral n(d2(k)) w(k) (-dd2/dk) dk, written in
    y = k/s; a smooth integrand, so a 161-point trapezoid rule is accurate.
    """
    s, eta, rho = (np.asarray(a, float)[..., None] for a in np.broadcast_arrays(s, eta, rho))
    h = smile_h(_Y, eta, rho)
    dw = s * eta * (rho + _Y / np.sqrt(_Y * _Y + 1.0))  # dw/dk
    sw = s * np.sqrt(h)
    d2 = -_Y * s / sw - 0.5 * sw
    dd2 = -1.0 / sw + _Y * s * dw / (2.0 * sw**3) - dw / (4.0 * sw)
    f = norm_pdf(d2) * h * (-dd2) * s
    return np.trapezoid(f, _Y, axis=-1)


def target_variance(model, x, log_vrp, noise, t_years, spike=0.0) -> np.ndarray:
    """Targeted variance-swap variance: VRP^2 * noise^2 * expected average variance."""
    return np.exp(2.0 * (log_vrp + noise)) * expected_variance(model, x, t_years, spike)


def atm_vol(model, x, log_vrp, noise, eta, rho, t_years, spike=0.0) -> np.ndarray:
    """ATM implied vol (decimal) whose smile's exact variance swap hits the target.

    Two fixed-point steps on atm^2 = target / ratio(atm sqrt(T)), from the small-T ratio.
    """
    target = target_variance(model, x, log_vrp, noise, t_years, spike)
    atm = np.sqrt(target / vs_ratio_small_t(eta, rho))
    for _ in range(2):
        atm = np.sqrt(target / vs_ratio(atm * np.sqrt(t_years), eta, rho))
    return atm


def implied_vol(k, t_years, atm, eta, rho) -> np.ndarray:
    """Implied vol (decimal) at log-moneyness k = ln(K/F)."""
    y = k / (atm * np.sqrt(t_years))
    return atm * np.sqrt(smile_h(y, eta, rho))


def state_at(path: CoinPath, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Surface state at hour-boundary indices (e.g. 24*(d+1) = end of day d)."""
    return {
        "spot": np.exp(path.log_s_b[idx]),
        "x": path.x_b[idx],
        "spike": path.spike_b[idx],
        "log_vrp": path.log_vrp_b[idx],
        "noise": path.noise_b[idx],
        "rho": path.rho_b[idx],
        "eta": path.eta_b[idx],
        "carry": path.carry_b[idx],
    }


def level30(path: CoinPath, idx: np.ndarray) -> np.ndarray:
    """The model's 30-day variance-swap vol (vol points) at boundary indices: DVOL's target."""
    ev = expected_variance(path.model, path.x_b[idx], DVOL_DAYS / 365.0, path.spike_b[idx])
    return 100.0 * np.exp(path.log_vrp_b[idx] + path.noise_b[idx]) * np.sqrt(ev)


def model_variance_swap(t_years, atm, eta, rho, n: int = 2401, y_max: float = 12.0) -> np.ndarray:
    """Exact variance-swap vol (vol points) of the model smile, by a fine strike integral.

    sigma^2 = (2/T) * integral of OTM price(K)/K^2 dK, on the forward (r = 0, F = 1),
    with a trapezoid rule over k = ln(K/F) in [-y_max, y_max] ATM standard deviations.
    Vectorised over leading array shapes.
    """
    t, atm, eta, rho = (np.asarray(a, float)[..., None] for a in np.broadcast_arrays(t_years, atm, eta, rho))
    y = np.linspace(-y_max, y_max, n)
    k = y * atm * np.sqrt(t)
    vol = implied_vol(k, t, atm, eta, rho)
    q = price(1.0, np.exp(k), t, vol, k >= 0.0)
    integrand = q * np.exp(-k)
    integral = np.trapezoid(integrand, k, axis=-1)
    return 100.0 * np.sqrt(2.0 * integral / t[..., 0])


def model_vs30(path: CoinPath, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(variance-swap vol, ATM vol) of the model's 30-day smile, vol points, at indices."""
    s = state_at(path, idx)
    t = DVOL_DAYS / 365.0
    atm = atm_vol(path.model, s["x"], s["log_vrp"], s["noise"], s["eta"], s["rho"], t, s["spike"])
    return model_variance_swap(t, atm, s["eta"], s["rho"]), 100.0 * atm
