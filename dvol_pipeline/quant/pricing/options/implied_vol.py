"""Black-76 implied volatility, array-wide: a vectorised port of Jäckel's "Let's be rational".

Why this method: chains of millions of quotes need an inversion that is accurate everywhere
(deep in or out of the money, minutes or years to expiry, tiny or huge vols) and costs a
fixed, small amount of work per quote. Jäckel (2015, "Let's be rational", Wilmott) gets
both: a rational-cubic first guess in one of four branches, then two third-order
Householder steps on an objective transformed per branch. Here each step runs over whole
arrays; options are grouped by branch once (compacted index sets) so every group evaluates
only its own formulas. Each quote's result depends on that quote alone (not on the batch).

Steps, for undiscounted price P = price * exp(rT), x = ln(F/K), theta = +1 call / -1 put:

1. Checks (reason codes, never an exception): invalid inputs, T <= 0, price <= 0, P below
   intrinsic, P at or above the upper bound (F for calls, K for puts).
2. Out-of-the-money reduction, exact with r = 0 after undiscounting: an in-the-money
   option's time value P - theta*(F - K) is the price of the opposite type at the same
   strike. Normalise beta = OTM price / sqrt(F K) and map to a call with x = -|x| <= 0,
   whose value is b(x, s) = exp(x/2) N(x/s + s/2) - exp(-x/2) N(x/s - s/2), s = sigma sqrt(T).
3. First guess and bracket per branch around the inflection point s_c = sqrt(2|x|): the
   lowest segment (objective 1/ln b - 1/ln beta), two middle ones (b - beta), the upper one
   (ln of the distance to the maximum exp(x/2)).
4. Two Householder(3) steps inside the bracket. Options whose last step was not tiny
   (a handful in a million, all at extreme inputs) get up to 30 more safeguarded steps,
   bisecting when a step leaves the bracket; anything still unsettled is `no_convergence`.

b is evaluated in the form that keeps its digits in each group: in log space via erfcx
(one exponential, no underflow however far out) in the lowest segment; as
exp(x/2) - [exp(x/2) N(-d1) + exp(-x/2) N(d2)] (two positive terms) near the maximum; by
the plain formula in the middle, where neither term is deep in a tail. The result matches
py_lets_be_rational to ~1e-13 and the true vol to within ~10 ulps of what the price's own
rounding allows; an in-the-money quote whose time value is lost in rounding can only be
as accurate as that time value. (Without Jäckel's small-t expansion, an at-the-money time
value below ~1e-10 of the forward, sigma*sqrt(T) < ~1e-10, comes back to ~1e-6 relative
or as no_convergence; a 5-minute option at 5 % vol still has sigma*sqrt(T) = 1.5e-4.)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import erfcx, ndtr, ndtri

REASONS: dict[int, str] = {
    0: "ok",
    1: "below_intrinsic",
    2: "above_upper_bound",
    3: "nonpositive_time",
    4: "nonpositive_price",
    5: "invalid_input",
    6: "no_convergence",
}
"""Reason codes of `IVResult.reason`; sigma is NaN for every code except 0 ("ok")."""
OK, BELOW_INTRINSIC, ABOVE_UPPER_BOUND, NONPOSITIVE_TIME, NONPOSITIVE_PRICE, INVALID_INPUT, NO_CONVERGENCE = range(7)

_DBL_MIN = np.finfo(np.float64).tiny
_DBL_MAX = np.finfo(np.float64).max
_DBL_EPS = np.finfo(np.float64).eps
_SQRT_DBL_MAX = np.sqrt(_DBL_MAX)
_ONE_OVER_SQRT_TWO = 0.7071067811865475244008443621048490392848359376887
_ONE_OVER_SQRT_TWO_PI = 0.3989422804014326779399460599343818684758586311649
_SQRT_TWO_OVER_PI = 0.7978845608028653558798921198687637369517172623298
_TWO_PI = 6.283185307179586476925286766559005768394338798750
_SQRT_PI_OVER_TWO = 1.253314137315500251207882642405522626503493370305
_SQRT_THREE = 1.732050807568877293527446341505872366942805253810
_SQRT_ONE_OVER_THREE = 0.577350269189625764509148780501957455647601751270
_TWO_PI_OVER_SQRT_27 = 1.209199576156145233729385505094770488189377498728
_PI_OVER_SIX = 0.523598775598298873077107230546583814032861566563
_MIN_CONTROL = -(1.0 - np.sqrt(_DBL_EPS))
_MAX_CONTROL = 2.0 / (_DBL_EPS * _DBL_EPS)

HOUSEHOLDER_STEPS = 2
EXTRA_STEPS = 30
_SETTLED_STEP = 1e-5
"""A Householder(3) step this small (relative to s) leaves an error of order its 4th power."""


class IVResult(NamedTuple):
    """Implied vols (decimal, NaN where unsolvable) and an int8 reason code per quote (see REASONS)."""

    sigma: np.ndarray
    reason: np.ndarray

    def reason_names(self) -> np.ndarray:
        """The reason codes as strings ("ok", "below_intrinsic", ...)."""
        return reason_labels(self.reason)


def reason_labels(codes: ArrayLike) -> np.ndarray:
    names = np.array([REASONS[i] for i in range(len(REASONS))], dtype=object)
    return names[np.asarray(codes, dtype=np.int64)]


# ---- the normalised Black function, x <= 0, s > 0 -----------------------------------------
def _black_direct(x, s):
    """b and db/ds by the plain formula: exact enough where neither term is far in a tail."""
    h = x / s
    t = 0.5 * s
    half = np.exp(0.5 * x)
    b = half * ndtr(h + t) - ndtr(h - t) / half
    return b, _ONE_OVER_SQRT_TWO_PI * np.exp(-0.5 * (h * h + t * t))


def _complement(x, s):
    """exp(x/2) - b = exp(x/2) N(-d1) + exp(-x/2) N(d2): two positive terms, exact near the top."""
    h = x / s
    t = 0.5 * s
    half = np.exp(0.5 * x)
    c = half * ndtr(-(h + t)) + ndtr(h - t) / half
    vega = _ONE_OVER_SQRT_TWO_PI * np.exp(-0.5 * (h * h + t * t))
    return c, vega


# ---- rational cubic interpolation (Delbourgo-Gregory), vectorised --------------------------
def _rc_interpolate(x, x_l, x_r, y_l, y_r, d_l, d_r, r):
    h = x_r - x_l
    t = (x - x_l) / h
    omt = 1.0 - t
    t2, omt2 = t * t, omt * omt
    out = (y_r * t2 * t + (r * y_r - h * d_r) * t2 * omt + (r * y_l + h * d_l) * t * omt2 + y_l * omt2 * omt) / (
        1.0 + (r - 3.0) * t * omt
    )
    rare = ~(r < _MAX_CONTROL) | ~(np.abs(h) > 0)  # linear limit, or a zero-width interval
    if rare.any():
        out = np.where(r >= _MAX_CONTROL, y_r * t + y_l * omt, out)
        out = np.where(np.abs(h) > 0, out, 0.5 * (y_l + y_r))
    return out


def _fit_ratio(numerator, denominator):
    """numerator / denominator with LBR's conventions for a vanishing numerator or denominator."""
    out = numerator / denominator
    rare = (np.abs(numerator) < _DBL_MIN) | (np.abs(denominator) < _DBL_MIN)
    if rare.any():
        out = np.where(np.abs(denominator) < _DBL_MIN, np.where(numerator > 0, _MAX_CONTROL, _MIN_CONTROL), out)
        out = np.where(np.abs(numerator) < _DBL_MIN, 0.0, out)
    return out


def _minimum_control(d_l, d_r, s, prefer_shape):
    """Smallest control parameter keeping the interpolant monotone/convex (Delbourgo-Gregory 3.8, 3.18)."""
    monotonic = (d_l * s >= 0) & (d_r * s >= 0)
    shaped = ((d_l <= s) & (s <= d_r)) | ((d_l >= s) & (s >= d_r))  # convex or concave
    span = d_r - d_l
    r1 = (d_r + d_l) / s
    r2 = np.maximum(np.abs(span / (d_r - s)), np.abs(span / (s - d_l)))
    # where a ratio is undefined (zero slope), shape preservation asks for the linear limit
    fallback1 = np.where(monotonic, _MAX_CONTROL, -_DBL_MAX) if prefer_shape else -_DBL_MAX
    fallback2 = np.where(shaped | monotonic, _MAX_CONTROL, -_DBL_MAX) if prefer_shape else -_DBL_MAX
    r1 = np.where(monotonic & np.isfinite(r1), r1, fallback1)
    r2 = np.where(shaped & np.isfinite(r2), r2, fallback2)
    return np.maximum(np.maximum(r1, r2), _MIN_CONTROL)


def _control_right(x_l, x_r, y_l, y_r, d_l, d_r, second_r, prefer_shape):
    h = x_r - x_l
    slope = (y_r - y_l) / h
    r = _fit_ratio(0.5 * h * second_r + (d_r - d_l), d_r - slope)
    return np.maximum(r, _minimum_control(d_l, d_r, slope, prefer_shape))


def _control_left(x_l, x_r, y_l, y_r, d_l, d_r, second_l, prefer_shape):
    h = x_r - x_l
    slope = (y_r - y_l) / h
    r = _fit_ratio(0.5 * h * second_l + (d_r - d_l), slope - d_l)
    return np.maximum(r, _minimum_control(d_l, d_r, slope, prefer_shape))


# ---- branch maps of Jäckel's first guess ---------------------------------------------------
def _f_lower_map(x, s):
    ax = np.abs(x)
    z = _SQRT_ONE_OVER_THREE * ax / s
    y = z * z
    s2 = s * s
    Phi = ndtr(-z)
    phi = _ONE_OVER_SQRT_TWO_PI * np.exp(-0.5 * y)
    grow = np.exp(y + 0.125 * s2)
    fpp = (
        _PI_OVER_SIX * y / (s2 * s) * Phi
        * (8.0 * _SQRT_THREE * s * ax + (3.0 * s2 * (s2 - 8.0) - 8.0 * x * x) * Phi / phi)
        * (grow * grow)
    )
    Phi2 = Phi * Phi
    fp = _TWO_PI * y * Phi2 * grow
    f = _TWO_PI_OVER_SQRT_27 * ax * (Phi2 * Phi)
    return f, fp, fpp


def _inverse_f_lower_map(x, f):
    u = np.cbrt(f / (_TWO_PI_OVER_SQRT_27 * np.abs(x)))
    return np.where(f > 0, np.abs(x / (_SQRT_THREE * ndtri(u))), 0.0)


def _f_upper_map(x, s):
    f = ndtr(-0.5 * s)
    w = (x / s) ** 2
    fp = -0.5 * np.exp(0.5 * w)
    fpp = _SQRT_PI_OVER_TWO * np.exp(w + 0.125 * s * s) * w / s
    return f, fp, fpp


# ---- iteration ----------------------------------------------------------------------------
_LOWEST, _MIDDLE, _UPPER = range(3)


def _householder(newton, halley, hh3):
    return newton * (1.0 + 0.5 * halley * newton) / (1.0 + newton * (halley + hh3 * newton / 6.0))


def _group_constants(kind: int, beta, x):
    """What a group's objective needs at every step, computed once."""
    if kind == _LOWEST:
        ln_beta = np.log(beta)
        return ln_beta, 1.0 / (_SQRT_TWO_OVER_PI * ln_beta)
    half = np.exp(0.5 * x)
    return half if kind == _MIDDLE else (half, half - beta)  # upper: distance of beta to the maximum


def _step(kind: int, beta, x, s, const):
    """One Householder(3) step of the objective of `kind`.

    Returns ds, whether b(s) is above / below beta (for the bracket), and whether the step
    is usable (finite, no underflow); unusable steps are replaced by bisection.
    """
    inv_s = 1.0 / s
    h = x * inv_s
    t = 0.5 * s
    hh = h * h
    exponent = -0.5 * (hh + t * t)
    b_halley = hh * inv_s - 0.5 * t  # b''/b' = x^2/s^3 - s/4
    b_hh3 = b_halley * b_halley - 3.0 * hh * inv_s * inv_s - 0.25  # b'''/b' = halley^2 - 3 x^2/s^4 - 1/4
    if kind == _LOWEST:  # objective 1/ln(b) - 1/ln(beta)
        ln_beta, scaled_inv_ln_beta = const
        diff = erfcx(-_ONE_OVER_SQRT_TWO * (h + t)) - erfcx(-_ONE_OVER_SQRT_TWO * (h - t))
        ln_b = exponent + np.log(0.5 * diff)  # log space: no underflow however far out
        bpob = _SQRT_TWO_OVER_PI / diff  # b'/b: the common exponential cancels
        inv = 1.0 / ln_b
        q = 1.0 + 2.0 * inv
        newton = (ln_beta - ln_b) * ln_b * diff * scaled_inv_ln_beta  # (ln beta - ln b) ln b / ln beta / (b'/b)
        halley = b_halley - bpob * q
        hh3 = b_hh3 + bpob * (2.0 * bpob * (1.0 + 3.0 * inv * (1.0 + inv)) - 3.0 * b_halley * q)
        above, below = ln_b > ln_beta, ln_b < ln_beta
        usable = np.isfinite(ln_b)
    elif kind == _MIDDLE:
        half = const  # between s_l and s_h both terms are moderate: the plain formula keeps its digits
        b = half * ndtr(h + t) - ndtr(h - t) / half
        bp = _ONE_OVER_SQRT_TWO_PI * np.exp(exponent)
        newton = (beta - b) / bp
        halley, hh3 = b_halley, b_hh3
        above, below = b > beta, b < beta
        usable = bp > 0
    else:
        half, target = const
        c = half * ndtr(-(h + t)) + ndtr(h - t) / half  # exp(x/2) - b, two positive terms
        bp = _ONE_OVER_SQRT_TWO_PI * np.exp(exponent)
        above, below = c < target, c > target
        gp = bp / c  # objective ln((b_max - beta) / (b_max - b))
        newton = -np.log(target / c) / gp
        halley = b_halley + gp
        hh3 = b_hh3 + gp * (2.0 * gp + 3.0 * b_halley)
        usable = (bp > _DBL_MIN) & (c > 0)
    ds = _householder(newton, halley, hh3)
    usable &= np.isfinite(ds)
    return ds, above, below, usable


def _iterate(kind: int, beta, x, s, lo, hi, steps: int, stop_early: bool = False):
    """`steps` safeguarded Householder(3) steps; returns s, whether each settled, and the bracket.

    `lo` and `hi` are updated in place. An option stops moving once its step falls below
    machine precision (as in LBR), so a converged value sitting on its bracket edge is not
    mistaken for a step out of it.
    """
    settled = done = np.zeros(s.shape, dtype=bool)
    const = _group_constants(kind, beta, x)
    for i in range(steps):
        if i > 0:  # a step that left the bracket is replaced by bisection
            outside = ~((s > lo) & (s < hi))
            outside &= ~done
            if outside.any():
                s = np.where(outside, _bisect(lo, hi), s)
        ds, above, below, usable = _step(kind, beta, x, s, const)
        above &= s < hi
        np.copyto(hi, s, where=above)
        below &= s > lo
        np.copyto(lo, s, where=below)
        if not usable.all():
            ds = np.where(usable, ds, _bisect(lo, hi) - s)
        np.maximum(ds, -0.5 * s, out=ds)
        if done.any():
            ds[done] = 0.0
        s = s + ds
        step = np.abs(ds)
        done = done | (usable & (step <= _DBL_EPS * s))
        if i == steps - 1 or stop_early:
            settled = done | (usable & (step <= _SETTLED_STEP * s)) | (hi - lo <= 4.0 * _DBL_EPS * s)
            if stop_early and settled.all():
                break
    return s, settled, lo, hi


def _bisect(lo, hi):
    """Bracket midpoint; with an open upper end (hi = DBL_MAX) it grows geometrically instead."""
    return 0.5 * (lo + np.minimum(hi, np.maximum(4.0 * lo, 1.0)))


def _solve_group(kind: int, beta, x, s, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    s, settled, lo, hi = _iterate(kind, beta, x, s, lo, hi, HOUSEHOLDER_STEPS)
    if settled.all():
        return s, settled
    idx = np.flatnonzero(~settled)
    s_more, settled_more, _, _ = _iterate(kind, beta[idx], x[idx], s[idx], lo[idx], hi[idx], EXTRA_STEPS, True)
    s[idx] = s_more
    settled[idx] = settled_more
    return s, settled


# ---- the normalised solver ----------------------------------------------------------------
def _lower_half(beta, x, s_c, b_c, v_c):
    """Guesses and solves for beta below b(s_c): the tangent at s_c reaches zero at s_l > 0."""
    s_out = np.empty(beta.size)
    settled = np.empty(beta.size, dtype=bool)
    s_l = s_c - b_c / v_c
    b_l, v_l = _black_direct(x, s_l)
    lowest = beta < b_l
    k = np.flatnonzero(lowest)
    if k.size:  # lowest segment: interpolate the lower map f(beta), objective 1/ln(b)
        xb, bb, sl, bl = x[k], beta[k], s_l[k], b_l[k]
        f_l, fp_l, fpp_l = _f_lower_map(xb, sl)
        r_ll = _control_right(0.0, bl, 0.0, f_l, 1.0, fp_l, fpp_l, True)
        f = _rc_interpolate(bb, 0.0, bl, 0.0, f_l, 1.0, fp_l, r_ll)
        t = bb / bl
        f = np.where(f > 0, f, (f_l * t + bl * (1.0 - t)) * t)
        s0 = _inverse_f_lower_map(xb, f)
        s_out[k], settled[k] = _solve_group(_LOWEST, bb, xb, s0, np.full(k.size, _DBL_MIN), sl)
    k = np.flatnonzero(~lowest)
    if k.size:  # between s_l and s_c: interpolate s(beta) itself, objective b
        xb, bb, sl, bl, vl, sc, bc, vc = (a[k] for a in (x, beta, s_l, b_l, v_l, s_c, b_c, v_c))
        r_lm = _control_right(bl, bc, sl, sc, 1.0 / vl, 1.0 / vc, 0.0, False)
        s0 = _rc_interpolate(bb, bl, bc, sl, sc, 1.0 / vl, 1.0 / vc, r_lm)
        s_out[k], settled[k] = _solve_group(_MIDDLE, bb, xb, s0, sl, sc)
    return s_out, settled


def _upper_half(beta, x, s_c, b_c, v_c, b_max):
    """Guesses and solves for beta above b(s_c): the tangent at s_c reaches the maximum at s_h."""
    s_out = np.empty(beta.size)
    settled = np.empty(beta.size, dtype=bool)
    s_h = np.where(v_c > _DBL_MIN, s_c + (b_max - b_c) / v_c, s_c)
    c_h, v_h = _complement(x, s_h)
    b_h = b_max - c_h
    middle = beta <= b_h
    k = np.flatnonzero(middle)
    if k.size:  # between s_c and s_h: interpolate s(beta), objective b
        xb, bb, sh, bh, vh, sc, bc, vc = (a[k] for a in (x, beta, s_h, b_h, v_h, s_c, b_c, v_c))
        r_hm = _control_left(bc, bh, sc, sh, 1.0 / vc, 1.0 / vh, 0.0, False)
        s0 = _rc_interpolate(bb, bc, bh, sc, sh, 1.0 / vc, 1.0 / vh, r_hm)
        s_out[k], settled[k] = _solve_group(_MIDDLE, bb, xb, s0, sc, sh)
    k = np.flatnonzero(~middle)
    if k.size:  # above s_h: interpolate the upper map f(beta) = N(-s/2)
        xb, bb, sh, bh, bm = (a[k] for a in (x, beta, s_h, b_h, b_max))
        f_h, fp_h, fpp_h = _f_upper_map(xb, sh)
        finite = (fpp_h > -_SQRT_DBL_MAX) & (fpp_h < _SQRT_DBL_MAX)
        r_hh = _control_left(bh, bm, f_h, 0.0, fp_h, -0.5, fpp_h, True)
        f = np.where(finite, _rc_interpolate(bb, bh, bm, f_h, 0.0, fp_h, -0.5, r_hh), -1.0)
        width = bm - bh
        t = (bb - bh) / width
        f = np.where(f > 0, f, (f_h * (1.0 - t) + 0.5 * width * t) * (1.0 - t))
        s0 = -2.0 * ndtri(f)
        # LBR switches to the b objective below beta = b_max / 2, but b(s_h) >= 0.79 b_max
        # for every x, so this segment always uses ln(distance to the maximum)
        s_out[k], settled[k] = _solve_group(_UPPER, bb, xb, s0, sh, np.full(k.size, _DBL_MAX))
    return s_out, settled


def _normalised_vol(beta: np.ndarray, x: np.ndarray, b_max: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total vol s with b(x, s) = beta for x <= 0 and 0 < beta < b_max = exp(x/2); and a settled flag."""
    s_out = np.empty(beta.size)
    settled = np.empty(beta.size, dtype=bool)
    s_c = np.sqrt(-2.0 * x)
    b_c = 0.5 * b_max - ndtr(-s_c) / b_max  # b at the inflection point s_c, where h + t = 0
    v_c = _ONE_OVER_SQRT_TWO_PI * b_max  # vega at s_c
    lower = beta < b_c
    for half, sel in ((_lower_half, lower), (_upper_half, ~lower)):
        k = np.flatnonzero(sel)
        if k.size == beta.size:
            args = (beta, x, s_c, b_c, v_c, b_max)
        elif k.size:
            args = tuple(a[k] for a in (beta, x, s_c, b_c, v_c, b_max))
        else:
            continue
        s_k, ok_k = half(*args[:5]) if half is _lower_half else half(*args)
        if k.size == beta.size:
            return s_k, ok_k
        s_out[k], settled[k] = s_k, ok_k
    return s_out, settled


# ---- public -------------------------------------------------------------------------------
BLOCK = 65_536
"""Quotes per block: temporaries stay in cache (faster on long arrays); a quote's
result never depends on its block or batch."""


def implied_vol(price: ArrayLike, F: ArrayLike, K: ArrayLike, T: ArrayLike, is_call: ArrayLike, r: ArrayLike = 0.0) -> IVResult:
    """Black-76 implied volatility (decimal) of discounted USD prices, array-wide.

    Inputs broadcast like `pricing.price` (F, K, price in USD; T years ACT/365; r decimal).
    Never raises on bad quotes: sigma is NaN and `reason` says why (see REASONS). A price
    exactly at intrinsic value (no time value left) gives sigma = 0 with reason "ok".
    """
    arrays = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (price, F, K, T, r)), np.asarray(is_call, dtype=bool)
    )
    shape = arrays[0].shape
    flat = [a.ravel() for a in arrays]
    n = flat[0].size
    if n <= BLOCK:
        sigma, reason = _implied_vol_flat(*flat)
    else:
        sigma, reason = np.empty(n), np.empty(n, dtype=np.int8)
        for start in range(0, n, BLOCK):
            part = slice(start, start + BLOCK)
            sigma[part], reason[part] = _implied_vol_flat(*(a[part] for a in flat))
    return IVResult(sigma.reshape(shape), reason.reshape(shape))


def _implied_vol_flat(price, F, K, T, r, is_call):
    with np.errstate(all="ignore"):  # bad quotes are classified below, never warned about
        undiscounted = price * np.exp(r * T) if r.any() else price
        gap = F - K
        np.negative(gap, out=gap, where=~is_call)  # intrinsic direction: F - K calls, K - F puts
        otm_price = undiscounted - np.maximum(gap, 0.0)  # parity: an ITM option's OTM twin
        x = np.log(F / K)
        np.negative(np.abs(x, out=x), out=x)
        beta = otm_price / (np.sqrt(F) * np.sqrt(K))
        b_max = np.exp(0.5 * x)
        solvable = (beta > 0) & (beta < b_max) & (T > 0) & (price > 0) & (F > 0) & (K > 0)
        solvable &= np.isfinite(beta) & np.isfinite(T)
        if solvable.all():
            s, settled = _normalised_vol(beta, x, b_max)
            sigma = s / np.sqrt(T)
            reason = np.where(settled & np.isfinite(sigma), OK, NO_CONVERGENCE).astype(np.int8)
        else:
            sigma = np.full(price.size, np.nan)
            idx = np.flatnonzero(solvable)
            s, settled = _normalised_vol(beta[idx], x[idx], b_max[idx])
            sigma[idx] = s / np.sqrt(T[idx])
            reason = np.zeros(price.size, dtype=np.int8)
            reason[idx[~(settled & np.isfinite(sigma[idx]))]] = NO_CONVERGENCE
            bad = np.flatnonzero(~solvable)
            reason[bad], sigma[bad] = _classify(bad, price, F, K, T, r, undiscounted, otm_price, beta, b_max, is_call)
        sigma[reason != OK] = np.nan
    return sigma, reason


def _classify(bad, price, F, K, T, r, undiscounted, otm_price, beta, b_max, is_call):
    """Reason codes (and sigma: 0 at intrinsic, else NaN) of the quotes the solver skips."""
    p, f, k, t = price[bad], F[bad], K[bad], T[bad]
    finite = np.isfinite(p) & np.isfinite(f) & np.isfinite(k) & np.isfinite(t) & np.isfinite(r[bad])
    upper = np.where(is_call[bad], f, k)
    conditions = [
        ~finite | ~(f > 0) | ~(k > 0),
        t <= 0,
        p <= 0,
        otm_price[bad] < 0,
        (undiscounted[bad] >= upper) | (beta[bad] >= b_max[bad]),
        otm_price[bad] > 0,  # a time value that underflows once normalised (absurd scales)
    ]
    codes = [INVALID_INPUT, NONPOSITIVE_TIME, NONPOSITIVE_PRICE, BELOW_INTRINSIC, ABOVE_UPPER_BOUND, NO_CONVERGENCE]
    reason = np.select(conditions, codes, OK).astype(np.int8)
    sigma = np.where(reason == OK, 0.0, np.nan)  # what remains is priced exactly at intrinsic
    return reason, sigma
