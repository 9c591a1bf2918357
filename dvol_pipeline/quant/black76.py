"""Black-76: European options on a forward, vectorised over numpy arrays.

Why Black-76: Deribit quotes every option against the forward of its expiry
(`underlying_price`) and crypto has no meaningful risk-free rate in the premium, so
pricing on the forward with zero discounting (r = 0) is exactly how the venue marks.

All functions broadcast `F, K, T, sigma, is_call` (T in years, sigma a decimal, 0.55 =
55 %). Degenerate inputs (T <= 0 or sigma <= 0) return the intrinsic-value limits instead
of NaN, because chains near expiry and tests of limits hit them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
_TINY = 1e-12
"""Total volatility sigma*sqrt(T) below this is treated as zero (pure intrinsic)."""


def _prepare(F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, is_call: ArrayLike):
    F, K, T, sigma, is_call = np.broadcast_arrays(
        np.asarray(F, dtype=float),
        np.asarray(K, dtype=float),
        np.asarray(T, dtype=float),
        np.asarray(sigma, dtype=float),
        np.asarray(is_call, dtype=bool),
    )
    sd = np.maximum(sigma, 0.0) * np.sqrt(np.maximum(T, 0.0))
    live = sd > _TINY
    sd_safe = np.where(live, sd, 1.0)
    d1 = (np.log(F / K) + 0.5 * sd_safe * sd_safe) / sd_safe
    d2 = d1 - sd_safe
    return F, K, T, is_call, live, sd_safe, d1, d2


def _pdf(d: np.ndarray) -> np.ndarray:
    return _INV_SQRT_2PI * np.exp(-0.5 * d * d)


def price(F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, is_call: ArrayLike) -> np.ndarray:
    """Undiscounted option value in the forward's currency (USD for Deribit forwards).

    Calls and puts are computed each from their own formula (not via parity) so that far
    out-of-the-money prices keep their relative precision.
    """
    F, K, T, is_call, live, _, d1, d2 = _prepare(F, K, T, sigma, is_call)
    call = F * ndtr(d1) - K * ndtr(d2)
    put = K * ndtr(-d2) - F * ndtr(-d1)
    value = np.where(is_call, call, put)
    intrinsic = np.where(is_call, np.maximum(F - K, 0.0), np.maximum(K - F, 0.0))
    return np.where(live, np.maximum(value, 0.0), intrinsic)


def delta(F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, is_call: ArrayLike) -> np.ndarray:
    """Forward delta dV/dF (calls in [0, 1], puts in [-1, 0]); a step at expiry."""
    F, K, T, is_call, live, _, d1, _ = _prepare(F, K, T, sigma, is_call)
    call = ndtr(d1)
    step = np.where(F > K, 1.0, np.where(F < K, 0.0, 0.5))
    call = np.where(live, call, step)
    return np.where(is_call, call, call - 1.0)


def vega(F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, is_call: ArrayLike | None = None) -> np.ndarray:
    """dV/dsigma per unit sigma (1.0 = 100 vol points); same for calls and puts.

    Divide by 100 for the value of one vol point. Zero once no time value is left.
    """
    is_call = True if is_call is None else is_call
    F, K, T, _, live, _, d1, _ = _prepare(F, K, T, sigma, is_call)
    v = F * _pdf(d1) * np.sqrt(np.maximum(T, 0.0))
    return np.where(live, v, 0.0)


def gamma(F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, is_call: ArrayLike | None = None) -> np.ndarray:
    """d2V/dF2; same for calls and puts. Zero in the degenerate limit (a Dirac mass at K=F)."""
    is_call = True if is_call is None else is_call
    F, K, T, _, live, sd, d1, _ = _prepare(F, K, T, sigma, is_call)
    g = _pdf(d1) / (F * sd)
    return np.where(live, g, 0.0)
