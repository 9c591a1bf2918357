"""Black-76 prices and greeks on the expiry's forward, array-wide.

Why Black-76 on the forward: Deribit marks every option against the forward of its expiry
(`underlying_price`), so the forward is the state variable and no carry or dividend enters.
A rate r is optional (default 0, Deribit's convention); when given it only discounts the
payoff, D = exp(-r T), with the forward held fixed (so rho is -T V, not the spot-model rho).

Units (the same everywhere in `quant.options`):

* inputs: F, K in USD; T in years (ACT/365 in seconds, see year_fraction.py); sigma a decimal
  (0.55 = 55 %); r a decimal continuously compounded rate; is_call bool.
* price: USD (the forward's currency), discounted by D.
* delta dV/dF (coins per option); gamma d2V/dF2 (per USD).
* vega: value change for +1 vol point (sigma + 0.01), the one vega unit of the project;
  dV/dsigma per unit sigma is vega / VOL_POINT (callers that need it say so).
* theta: value change for one calendar day passing (-dV/dT / 365), the analytic rate; Deribit's
  tickers publish `exchange_theta` instead: that rate times the part of the day left
  (min(1, days to expiry)), never below -V.
* rho: value change for +1 % in r (r + 0.01), forward fixed.
* vanna: d(delta)/d(sigma) per vol point; volga: d2V/dsigma2 per (vol point)^2.
* charm: delta change for one calendar day passing (-d(delta)/dT / 365).

`greeks` returns all nine outputs in one pass; `price`, `delta`, `gamma` and `vega` compute
one output each (for bisections and hot loops) with the very same operations, so each is
bit-identical to the matching `greeks` field.

Degenerate inputs (T <= 0, sigma <= 0, or sigma*sqrt(T) below 1e-12) give the intrinsic
limits: price D * intrinsic, delta D * step (0.5 at the money), gamma/vega/vanna/volga 0,
theta r*V/365, rho -T*V/100, charm r*delta/365; T <= 0 is treated as T = 0. No NaN is
produced for finite positive F and K.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .normal import norm_cdf, norm_pdf
from .year_fraction import DAYS_PER_YEAR

VOL_POINT = 0.01
"""One vol point (1 % of sigma) and one percent of rate share the same scale."""
_TINY_TOTAL_VOL = 1e-12
"""Total volatility sigma*sqrt(T) below this is priced as pure intrinsic."""


class Greeks(NamedTuple):
    """Black-76 value and sensitivities (arrays of the broadcast shape); units in the module doc."""

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray
    rho: np.ndarray
    vanna: np.ndarray
    volga: np.ndarray
    charm: np.ndarray


BLOCK = 32_768
"""Options per block: a block's temporaries stay in cache, which doubles the throughput of
long arrays; every option's result is the same whatever the block (pure elementwise work)."""


def _inputs(F, K, T, sigma, is_call, r):
    """Broadcast and flatten (work is 1-D; results are reshaped to the broadcast shape)."""
    arrays = np.broadcast_arrays(
        np.asarray(F, dtype=np.float64),
        np.asarray(K, dtype=np.float64),
        np.asarray(T, dtype=np.float64),
        np.asarray(sigma, dtype=np.float64),
        np.asarray(is_call, dtype=bool),
        np.asarray(r, dtype=np.float64),
    )
    return arrays[0].shape, [a.ravel() for a in arrays]


def _blocked(kernel, n_out: int, F, K, T, sigma, is_call, r) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """Run `kernel` (flat arrays in, `n_out` flat arrays out) block by block."""
    shape, flat = _inputs(F, K, T, sigma, is_call, r)
    n = flat[0].size
    if n <= BLOCK:
        return shape, list(kernel(*flat))
    outs = [np.empty(n) for _ in range(n_out)]
    for start in range(0, n, BLOCK):
        part = slice(start, start + BLOCK)
        for out, values in zip(outs, kernel(*(a[part] for a in flat))):
            out[part] = values
    return shape, outs


class _Core(NamedTuple):
    F: np.ndarray
    K: np.ndarray
    T: np.ndarray  # clipped at 0
    sqrt_t: np.ndarray
    sign: np.ndarray  # +1 call, -1 put
    r: np.ndarray
    D: np.ndarray | float
    sd: np.ndarray  # total vol sigma*sqrt(T), 1.0 where dead
    d1: np.ndarray
    d2: np.ndarray
    dead: np.ndarray | None  # indices of degenerate options, None if all live


def _core(F, K, T, sigma, is_call, r) -> _Core:
    T = np.maximum(T, 0.0)
    sqrt_t = np.sqrt(T)
    sd = np.maximum(sigma, 0.0) * sqrt_t
    live = sd > _TINY_TOTAL_VOL
    dead = None
    if not live.all():
        dead = np.flatnonzero(~live)
        sd = np.where(live, sd, 1.0)
    d1 = np.log(F / K)
    d1 /= sd
    d1 += 0.5 * sd
    d2 = d1 - sd
    sign = np.where(is_call, 1.0, -1.0)
    D = np.exp(-r * T) if r.any() else 1.0  # scalar 1.0 in the Deribit case: faster
    return _Core(F, K, T, sqrt_t, sign, r, D, sd, d1, d2, dead)


def _undiscounted_price(c: _Core) -> tuple[np.ndarray, np.ndarray]:
    """sign * (F N(sign d1) - K N(sign d2)), and N(sign d1).

    Each side from its own tail (no parity), so far out-of-the-money values keep their
    relative precision.
    """
    n1 = norm_cdf(c.sign * c.d1)
    value = c.F * n1
    value -= c.K * norm_cdf(c.sign * c.d2)
    value *= c.sign
    np.maximum(value, 0.0, out=value)
    return value, n1


def _intrinsic_and_step(c: _Core, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undiscounted payoff and expiry delta (1/0 calls, 0/-1 puts, +-0.5 at the money)."""
    F, K, sign = c.F[idx], c.K[idx], c.sign[idx]
    call_step = np.where(F > K, 1.0, np.where(F < K, 0.0, 0.5))
    return np.maximum(sign * (F - K), 0.0), np.where(sign > 0, call_step, call_step - 1.0)


def _price_flat(F, K, T, sigma, is_call, r):
    c = _core(F, K, T, sigma, is_call, r)
    value, _ = _undiscounted_price(c)
    if c.dead is not None:
        value[c.dead] = _intrinsic_and_step(c, c.dead)[0]
    if np.ndim(c.D):
        value *= c.D
    return (value,)


def _greeks_flat(F, K, T, sigma, is_call, r):
    c = _core(F, K, T, sigma, is_call, r)
    F, T, sqrt_t, sd, d1, d2, D = c.F, c.T, c.sqrt_t, c.sd, c.d1, c.d2, c.D
    discounted = np.ndim(D) > 0
    with np.errstate(divide="ignore", invalid="ignore"):  # only dead entries, overwritten below
        value, n1 = _undiscounted_price(c)
        delta = n1
        delta *= c.sign  # call N(d1), put -N(-d1)
        density = norm_pdf(d1)
        if discounted:
            value *= D
            delta *= D
            density *= D  # every second-order greek carries D n(d1)
        gamma = density / (F * sd)
        vega_unit = F * density * sqrt_t  # dV/dsigma per unit sigma
        sigma_inv = sqrt_t / sd  # 1 / sigma
        half_inv_t = 0.5 / T
        theta = F * density * sd
        theta *= -half_inv_t  # -D F n(d1) sigma / (2 sqrt T): the yearly time-value bleed
        charm = density * d2 * half_inv_t
        if discounted:
            theta += c.r * value
            charm += c.r * delta
        theta *= 1.0 / DAYS_PER_YEAR
        charm *= 1.0 / DAYS_PER_YEAR
        rho = T * value
        rho *= -VOL_POINT
        rho += 0.0  # no -0.0 where nothing is at stake
        vanna = density * d2
        vanna *= sigma_inv
        vanna *= -VOL_POINT
        volga = vega_unit * d1
        volga *= d2
        volga *= sigma_inv
        volga *= VOL_POINT * VOL_POINT
        vega = vega_unit
        vega *= VOL_POINT
    if c.dead is not None:
        idx = c.dead
        intrinsic, step = _intrinsic_and_step(c, idx)
        disc = D[idx] if discounted else 1.0
        rate = c.r[idx]
        v, dl = disc * intrinsic, disc * step
        value[idx], delta[idx] = v, dl
        for out in (gamma, vega, vanna, volga):
            out[idx] = 0.0
        theta[idx] = rate * v / DAYS_PER_YEAR
        rho[idx] = -T[idx] * v * VOL_POINT + 0.0
        charm[idx] = rate * dl / DAYS_PER_YEAR
    return value, delta, gamma, vega, theta, rho, vanna, volga, charm


def _discount(c: _Core, values: np.ndarray) -> np.ndarray:
    if np.ndim(c.D):
        values *= c.D
    return values


def _delta_flat(F, K, T, sigma, is_call, r):
    c = _core(F, K, T, sigma, is_call, r)
    delta = norm_cdf(c.sign * c.d1)
    delta *= c.sign  # call N(d1), put -N(-d1): each from its own tail, as in `greeks`
    _discount(c, delta)
    if c.dead is not None:
        disc = c.D[c.dead] if np.ndim(c.D) else 1.0
        delta[c.dead] = disc * _intrinsic_and_step(c, c.dead)[1]
    return (delta,)


def _gamma_flat(F, K, T, sigma, is_call, r):
    c = _core(F, K, T, sigma, is_call, r)
    gamma = _discount(c, norm_pdf(c.d1)) / (c.F * c.sd)
    if c.dead is not None:
        gamma[c.dead] = 0.0
    return (gamma,)


def _vega_flat(F, K, T, sigma, is_call, r):
    c = _core(F, K, T, sigma, is_call, r)
    vega = c.F * _discount(c, norm_pdf(c.d1)) * c.sqrt_t
    vega *= VOL_POINT
    if c.dead is not None:
        vega[c.dead] = 0.0
    return (vega,)


def _one(kernel, F, K, T, sigma, is_call, r) -> np.ndarray:
    shape, (values,) = _blocked(kernel, 1, F, K, T, sigma, is_call, r)
    return values.reshape(shape)


def price(F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, is_call: ArrayLike, r: ArrayLike = 0.0) -> np.ndarray:
    """Black-76 value in USD, discounted by exp(-r T); calls and puts from their own formula."""
    return _one(_price_flat, F, K, T, sigma, is_call, r)


def delta(F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, is_call: ArrayLike, r: ArrayLike = 0.0) -> np.ndarray:
    """Forward delta dV/dF alone (calls in [0, D], puts in [-D, 0]); `greeks(...).delta`."""
    return _one(_delta_flat, F, K, T, sigma, is_call, r)


def gamma(F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, is_call: ArrayLike = True, r: ArrayLike = 0.0) -> np.ndarray:
    """d2V/dF2 alone (per USD); the same for calls and puts, so `is_call` only broadcasts."""
    return _one(_gamma_flat, F, K, T, sigma, is_call, r)


def vega(F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, is_call: ArrayLike = True, r: ArrayLike = 0.0) -> np.ndarray:
    """Value change per vol point alone (USD per +0.01 of sigma); the same for calls and puts.

    For dV/dsigma per unit sigma divide by VOL_POINT (x100) at the call site.
    """
    return _one(_vega_flat, F, K, T, sigma, is_call, r)


def greeks(F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, is_call: ArrayLike, r: ArrayLike = 0.0) -> Greeks:
    """All nine Black-76 outputs in one pass (units in the module doc).

    One pass shares the log, the two normal CDFs and the density between the outputs,
    which is what makes a 2 M-option chain cost a tenth of a second.
    """
    shape, outs = _blocked(_greeks_flat, 9, F, K, T, sigma, is_call, r)
    return Greeks(*(o.reshape(shape) for o in outs))


def exchange_theta(F: ArrayLike, K: ArrayLike, T: ArrayLike, sigma: ArrayLike, is_call: ArrayLike,
                   r: ArrayLike = 0.0, days: ArrayLike = 1.0) -> np.ndarray:
    """Deribit's theta in USD: max(theta x min(days, days to expiry), -V), theta = `greeks().theta`.

    The exchange's tickers publish the analytic rate -dV/dT / 365 while more than a day is
    left; within the last day they scale it by the part of the day that remains, and never
    report more than the option's whole value V (it cannot lose more than it is worth). That
    rule reproduces the published theta of real Deribit tickers (each priced at its own
    mark_iv) where the next-day value change V(T - 1 day) - V(T) does not: as T -> 0 an
    at-the-money rate grows like 1/sqrt(T), so rate x time left tends to -V/2, not -V.

    `days` other than 1 applies the same rule over that many calendar days (a weekend gap
    in the daily P&L attribution): the rate held for the days elapsed, to expiry if sooner,
    at most the whole value.
    """
    g = greeks(F, K, T, sigma, is_call, r)
    return exchange_theta_from(g.theta, g.price, T, days)


def exchange_theta_from(theta: ArrayLike, value: ArrayLike, T: ArrayLike, days: ArrayLike = 1.0) -> np.ndarray:
    """`exchange_theta` from greeks already computed: analytic `theta` per day and `value` (USD), T in years."""
    days_left = np.maximum(np.asarray(T, dtype=np.float64), 0.0) * DAYS_PER_YEAR
    charged = np.asarray(theta, dtype=np.float64) * np.minimum(np.asarray(days, dtype=np.float64), days_left)
    return np.maximum(charged, -np.asarray(value, dtype=np.float64))


def usd_to_coin(value_usd: ArrayLike, F: ArrayLike) -> np.ndarray:
    """A USD value (premium, greek in USD) in coins at the forward F (Deribit quotes in coin)."""
    return np.asarray(value_usd, dtype=np.float64) / np.asarray(F, dtype=np.float64)


def coin_to_usd(value_coin: ArrayLike, F: ArrayLike) -> np.ndarray:
    """A coin amount (Deribit mark_price, bid, ask) in USD at the forward F."""
    return np.asarray(value_coin, dtype=np.float64) * np.asarray(F, dtype=np.float64)


def coin_delta(delta: ArrayLike, price_coin: ArrayLike) -> np.ndarray:
    """Premium-adjusted delta of a coin-margined option: delta - price in coin.

    Why: on Deribit the premium is paid in the coin, so the option's coin value V/F moves
    with F too. F * d(V/F)/dF = dV/dF - V/F is the coin exposure a coin-margined book
    actually carries; it is the delta Deribit shows for its inverse options.
    """
    return np.asarray(delta, dtype=np.float64) - np.asarray(price_coin, dtype=np.float64)
