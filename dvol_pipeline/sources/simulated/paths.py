"""Hourly state of the simulated market: spot, stochastic vol, VRP, smile, premium.

Model (per coin, hour t; every shock is drawn in per-day blocks, see rng.py):

* log vol = x_t + s_t, two factors. x_t, the slow level, is an OU process (half-life ~200
  days: DVOL's months-long memory) driven by Gaussian vol shocks (correlated across coins),
  a leverage term (-z_t), a size term (|z_t| - E|z|) and a daily "news" factor that scales
  vol-of-vol and lifts vol on busy days; rare market-wide "event days" multiply vol-of-vol
  fourfold (dDVOL's fat tails, stable across seeds). s_t, the fast spike component
  (half-life ~25 days), carries the vol response to jumps (larger after falls) and to the
  rarest event days, crashes, when every coin falls at the US open and implied vol jumps:
  DVOL's largest moves and spikes above 150. Weekday factors make weekends quieter (and
  events rarer there). The vol actually used is exp(x + s) softly capped (`VolModel.vol`).
* hourly log return = vol * season * news * z_t / sqrt(8760) + J_t - drift corrections;
  z_t a unit Student-t whose Gaussian part loads 0.91 on a market factor; J_t
  exponential jumps (crypto-wide ones hit both coins, ETH scaled up, plus rare own ones).
* an OU variance-risk-premium multiplier, transient IV noise plus an overshoot of each
  vol shock that fades within a day, smile skew that steepens after falls (momentum of
  standardised shocks), and a perpetual premium tied to slow momentum; funding and the
  option carry derive from that premium.

Every recursion is linear in exogenous shocks, so it is a first-order linear filter over the
whole horizon (quant/filters.py: scipy.signal.lfilter's arithmetic, bit for bit, without importing
scipy.signal), and the value at hour t depends only on shocks up to t.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy import special
from scipy.special import gammaln

from dvol_pipeline.quant.filters import ar1_filter

from . import params as P
from .rng import COMMON_COIN_ID, STREAM_COIN, STREAM_COMMON, hourly_blocks

def abs_t_mean(nu: float = P.T_DOF) -> float:
    """E|z| of a unit-variance Student-t."""
    return float(2 * np.sqrt(nu - 2) * np.exp(gammaln((nu + 1) / 2) - gammaln(nu / 2)) / (np.sqrt(np.pi) * (nu - 1)))


_LAG_X, _LAG_W = np.polynomial.laguerre.laggauss(40)


def _jump_abs(p: P.CoinParams, e: np.ndarray) -> np.ndarray:
    """|J| from a unit exponential draw: exponential with a cap (no -100 % days)."""
    return np.minimum(p.jump_scale * P.JUMP_MEAN * e, P.JUMP_CAP)


def _jump_response(p: P.CoinParams, jump: np.ndarray) -> np.ndarray:
    """Rise in log vol after a jump: larger after falls, saturating for huge moves."""
    c = P.JUMP_VOL_SAT
    gain = np.where(jump < 0, p.jump_vol_down, p.jump_vol_up)
    return gain * c * np.tanh(np.abs(jump) / c)


def _jump_moments(p: P.CoinParams) -> tuple[float, float, float, float, float]:
    """Per hour (at mean intensity): jump probability, mean and variance of the vol
    response, E[J^2]; and E[exp(J)] - 1 per jump (Gauss-Laguerre over |J|)."""
    prob, q = P.COMMON_JUMP_P + p.jump_p, P.JUMP_DOWN_PROB
    a = _jump_abs(p, _LAG_X)
    w = _LAG_W
    r_dn, r_up = _jump_response(p, -a), _jump_response(p, a)
    resp1 = np.sum(w * (q * r_dn + (1 - q) * r_up))
    resp2 = np.sum(w * (q * r_dn**2 + (1 - q) * r_up**2))
    m1, m2 = prob * resp1, prob * resp2
    growth = np.sum(w * (q * np.exp(-a) + (1 - q) * np.exp(a))) - 1.0
    return prob, m1, m2 - m1 * m1, prob * np.sum(w * a * a), growth


@dataclass(frozen=True)
class VolModel:
    """What the market 'knows' about future variance: used for the implied surface."""

    theta: float
    phi: float
    """Hourly AR(1) coefficient of x."""
    shock_var: float
    """Average hourly variance of the x shocks (lognormal approximation)."""
    jump_var: float
    """Annualised variance contributed by jumps."""
    log_cap: float
    """Diffusive vol saturates smoothly around exp(log_cap) (no runaway vol regimes)."""
    phi_spike: float = 1.0
    """Hourly AR(1) coefficient of the fast spike component s (jump responses)."""
    spike_var: float = 0.0
    """Average hourly variance of the spike shocks."""

    def vol(self, x: np.ndarray) -> np.ndarray:
        """Annualised diffusive vol of state x: exp(x), softly capped."""
        c = P.VOL_CAP_SOFTNESS
        return np.exp(x - c * np.logaddexp(0.0, (x - self.log_cap) / c))

    @classmethod
    def of(cls, p: P.CoinParams) -> VolModel:
        phi = 0.5 ** (1.0 / (24.0 * p.vol_halflife_days))
        ez = abs_t_mean()
        _, _, jv, j2, _ = _jump_moments(p)
        s2 = p.volvol**2 + p.lev_down**2 + p.lev_abs**2 * (1.0 - ez * ez) + P.NEWS_VOL_PUSH**2 / 24.0
        return cls(
            theta=p.vol_theta, phi=phi, shock_var=s2, jump_var=j2 * P.HOURS_PER_YEAR, log_cap=np.log(p.vol_cap),
            phi_spike=0.5 ** (1.0 / (24.0 * P.SPIKE_HALFLIFE_DAYS)),
            spike_var=jv + P.CRASH_DAY_P / 24.0 * P.CRASH_VOL**2 * 13.0 / 12.0,
        )


@dataclass
class CoinPath:
    """Hourly arrays; `*_b` arrays live on hour boundaries (n_hours + 1 values)."""

    coin: str
    params: P.CoinParams
    model: VolModel
    start: date
    x_b: np.ndarray
    """Slow log-vol level (the persistent regime)."""
    spike_b: np.ndarray
    """Fast log-vol component: jump responses that fade within weeks (DVOL's crash spikes)."""
    vol_b: np.ndarray
    """Diffusive annualised vol model.vol(x + spike) on hour boundaries."""
    log_s_b: np.ndarray
    ret: np.ndarray
    sig_h: np.ndarray
    """Hourly diffusive return sd (incl. seasonality)."""
    log_vrp_b: np.ndarray
    noise_b: np.ndarray
    rho_b: np.ndarray
    eta_b: np.ndarray
    premium_b: np.ndarray
    carry_b: np.ndarray
    daily_noise: np.ndarray
    """(4, n_days) normals for daily flows (tx count, fees, hashrate, option OI)."""

    @property
    def n_days(self) -> int:
        return self.ret.size // 24


def _ar1(shocks: np.ndarray, phi: float, y0: float = 0.0, gain: float = 1.0) -> np.ndarray:
    """y[0] = y0, y[t+1] = phi*y[t] + gain*shocks[t]; returns n+1 boundary values."""
    y = ar1_filter(shocks, phi, gain, phi * y0)
    return np.concatenate([[y0], y])


def _unit_ou(shocks: np.ndarray, halflife_hours: float) -> np.ndarray:
    phi = 0.5 ** (1.0 / halflife_hours)
    return _ar1(shocks, phi, gain=np.sqrt(1.0 - phi * phi))


def _mix(common: np.ndarray, own: np.ndarray, corr: float) -> np.ndarray:
    return corr * common + np.sqrt(1.0 - corr * corr) * own


def _crash_growth(p: P.CoinParams) -> float:
    """E[exp(crash return)] - 1 of a crash day (its size factor is uniform on 0.5 .. 1.5)."""
    a = p.jump_scale * P.CRASH_RET
    return float((np.exp(-0.5 * a) - np.exp(-1.5 * a)) / a - 1.0)


def _jump_size(p: P.CoinParams, u_size: np.ndarray, u_sign: np.ndarray) -> np.ndarray:
    size = _jump_abs(p, -np.log1p(-u_size))
    return np.where(u_sign < P.JUMP_DOWN_PROB, -size, size)


def _soft_floor(premium: np.ndarray) -> np.ndarray:
    """Perps rarely trade far below spot: compress the premium below -0.04 % so that
    negative funding stays mild (real daily funding: 1st percentile about -1e-4)."""
    knee, width = P.FUNDING_INTEREST - P.FUNDING_CLAMP, P.PREMIUM_FLOOR_WIDTH
    below = premium < knee
    return np.where(below, knee - width * np.tanh((knee - premium) / width), premium)


def funding_from_premium(premium: np.ndarray) -> np.ndarray:
    """Binance-style funding: premium + clamp(interest - premium, +-0.05 %)."""
    return premium + np.clip(P.FUNDING_INTEREST - premium, -P.FUNDING_CLAMP, P.FUNDING_CLAMP)


def simulate(seed: int, start: date, n_days: int, coins: tuple[str, ...]) -> dict[str, CoinPath]:
    """Simulate every coin's hourly state for days 0..n_days-1 from `start`."""
    nu = P.T_DOF
    cn, cu, cg, cd = hourly_blocks(seed, STREAM_COMMON, COMMON_COIN_ID, n_days, 7, 3, 1, nu / 2.0, n_daily=2)
    n = 24 * n_days
    hours = np.arange(n)
    wd = (start.weekday() + hours // 24) % 7
    season = P.INTRADAY_RET[hours % 24] * P.WEEKDAY_RET[wd]
    # "news days": a daily lognormal scale (E[scale^2] = 1) on vol-of-vol and, less, on
    # return vol; a robust source of fat tails in daily dDVOL and returns
    news = np.repeat(cd[0], 24)
    # rare "event days" (a hack, a liquidation cascade, a regulator) multiply both scales;
    # dozens of them in a four-year sample make dDVOL's kurtosis large but stable across
    # seeds, unlike one heavier lognormal tail that a single day would dominate
    u_event = special.ndtr(cd[1])
    day_jump = P.WEEKDAY_JUMP[(start.weekday() + np.arange(n_days)) % 7]  # fewer events at weekends
    event = np.repeat(u_event < P.EVENT_DAY_P * day_jump, 24)
    # the rarest event days (u < CRASH_DAY_P) are crashes: at the US open every coin falls by
    # CRASH_RET x (0.5 .. 1.5) (ETH scaled by jump_scale) and implied vol jumps by CRASH_VOL x
    # the same factor, in the fast spike component: DVOL's largest daily moves and its
    # spikes above 150; both are compensated so their means are zero
    crash_p = P.CRASH_DAY_P * day_jump
    crash = np.flatnonzero(u_event < crash_p)
    crash_size = np.zeros(n)
    crash_size[24 * crash + P.EVENT_HOUR] = 0.5 + u_event[crash] / crash_p[crash]
    ev_vol = np.where(event, P.EVENT_VOLVOL, 1.0) / np.sqrt(1.0 + P.EVENT_DAY_P * (P.EVENT_VOLVOL**2 - 1.0))
    ev_ret = np.where(event, P.EVENT_RET, 1.0) / np.sqrt(1.0 + P.EVENT_DAY_P * (P.EVENT_RET**2 - 1.0))
    news_vol = np.exp(P.NEWS_VOLVOL_SD * news - P.NEWS_VOLVOL_SD**2) * ev_vol
    news_ret = np.exp(P.NEWS_RET_SD * news - P.NEWS_RET_SD**2) * ev_ret
    news_push = P.NEWS_VOL_PUSH / 24.0 * news  # busy days also lift the vol level
    volvol_season = P.WEEKDAY_VOLVOL[wd]
    t_scale = np.sqrt((nu - 2.0) / (2.0 * cg[0]))
    intensity = P.WEEKDAY_JUMP[wd]
    common_jump = cu[0] < P.COMMON_JUMP_P * intensity
    ez = abs_t_mean(nu)
    out = {}
    for coin in coins:
        p = P.coin_params(coin)
        model = VolModel.of(p)
        own, ou_, _, daily = hourly_blocks(seed, STREAM_COIN, p.coin_id, n_days, 8, 3, n_daily=4)
        z = t_scale * _mix(cn[0], own[0], P.RET_CORR)
        crash_ret = -p.jump_scale * P.CRASH_RET * crash_size
        jump = np.where(common_jump, _jump_size(p, cu[1], cu[2]), 0.0) + np.where(
            ou_[0] < p.jump_p * intensity, _jump_size(p, ou_[1], ou_[2]), 0.0
        )
        prob, jm1, _, _, growth = _jump_moments(p)
        jump_resp = np.where(jump != 0.0, _jump_response(p, jump), 0.0) - jm1 * intensity
        eps = volvol_season * (
            news_vol * (p.volvol * _mix(cn[1], own[1], P.VOL_CORR) - p.lev_down * z + p.lev_abs * (np.abs(z) - ez))
            + news_push
        )
        x_b = model.theta + _ar1(eps, model.phi, p.vol_x0 - model.theta)
        crash_lift = P.CRASH_VOL * crash_size - P.CRASH_DAY_P / 24.0 * P.CRASH_VOL
        spike_b = _ar1(jump_resp + crash_lift, model.phi_spike)
        vol_b = model.vol(x_b + spike_b)
        sig_h = vol_b[:-1] * season * news_ret / np.sqrt(P.HOURS_PER_YEAR)
        compensator = prob * growth * intensity + P.CRASH_DAY_P / 24.0 * _crash_growth(p)
        shock = sig_h * z - 0.5 * sig_h * sig_h + jump + crash_ret - compensator
        # a very weak pull of log price towards its start (half-life PRICE_ANCHOR_DAYS) keeps
        # multi-year paths in a plausible price range without visible daily predictability
        phi_s = 0.5 ** (1.0 / (24.0 * P.PRICE_ANCHOR_DAYS))
        log_s_b = np.log(p.s0) + _ar1(shock, phi_s)
        ret = np.diff(log_s_b)
        # standardised shocks incl. jumps, squashed: the market's sense of recent momentum
        std_shock = np.tanh((ret / sig_h) / 3.0) * 3.0
        mom_fast = _unit_ou(std_shock, 48.0)
        mom_slow = _unit_ou(std_shock, 24.0 * 5)
        rho_b = np.clip(
            p.skew_mean + p.skew_mom * np.tanh(mom_fast / 1.5) + 0.08 * _unit_ou(_mix(cn[6], own[6], 0.7), 24.0 * 7),
            -0.8, 0.5,
        )
        # smiles flatten (relative to ATM) in very high-vol regimes, keeping wings sane
        flatten = (1.0 + (p.vol_theta_level / P.SMILE_FLAT_VOL) ** 2) / (1.0 + (vol_b / P.SMILE_FLAT_VOL) ** 2)
        eta_b = np.clip(p.curvature * np.exp(0.1 * _unit_ou(own[7], 24.0 * 10)) * flatten, 0.05, 0.45)
        log_vrp_b = p.vrp_mean + p.vrp_sd * _unit_ou(_mix(cn[4], own[4], 0.9), 24.0 * p.vrp_halflife_days)
        # transient IV: independent noise plus an overshoot of every vol shock that fades
        # within a day or so (dDVOL's negative lag-1 autocorrelation, strongest after spikes)
        overshoot = _ar1(P.IV_OVERSHOOT * (eps + jump_resp + crash_lift), 0.5 ** (1.0 / P.IV_OVERSHOOT_HL_HOURS))
        noise_b = p.noise_sd * _unit_ou(_mix(cn[3], own[3], 0.85), p.noise_halflife_hours) + overshoot
        premium_b = _soft_floor(
            p.premium_mean
            + p.premium_mom * np.tanh(mom_slow / 1.5)
            + p.premium_sd * _unit_ou(_mix(cn[5], own[5], 0.7), 24.0 * p.premium_halflife_days)
        )
        fund = funding_from_premium(premium_b)
        phi_c = 0.5 ** (1.0 / (24.0 * 7))  # option carry: 7-day EMA of funding, annualised
        carry_b = np.clip(3 * 365 * _ar1(fund[:-1], phi_c, fund[0], 1.0 - phi_c), -0.15, 0.4)
        out[coin] = CoinPath(
            coin=coin, params=p, model=model, start=start, x_b=x_b, spike_b=spike_b, vol_b=vol_b, log_s_b=log_s_b, ret=ret,
            sig_h=sig_h, log_vrp_b=log_vrp_b, noise_b=noise_b, rho_b=rho_b, eta_b=eta_b,
            premium_b=premium_b, carry_b=carry_b, daily_noise=daily,
        )
    return out
