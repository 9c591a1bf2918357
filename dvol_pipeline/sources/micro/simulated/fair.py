"""The fair (efficient) price each simulated book tracks, on a 1-second grid, per coin-day.

Why a latent fair price: the book's zero-intelligence order flow alone diffuses far too
slowly to carry a crypto day's volatility in 1-2 M rows; liquidity providers instead quote
around a fair price, informed takers and stale-quote cancels pull the book after it, and
the order flow's own imbalance (OFI) moves the mid the way Cont-Kukanov-Stoikov describe.

BTC and ETH follow the daily simulated market (sources/simulated): its hourly log price is
the anchor at every UTC hour boundary, its hourly return sd sets the hour's variance, and
each hour's 1-second path is a bridge between anchors (stochastic vol inside the hour,
a jump where the hourly move is larger than 3 sd, and a weak AR(1) in 1-second increments:
the small, short-lived predictability). SOL, absent from the daily market, is BTC's path
with beta 1.25 plus its own noise bridged back at every hour. A day's randomness comes from
(seed, coin, day) only, so a day simulated alone equals the same day inside a range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np
from scipy.signal import lfilter

from dvol_pipeline.sources.simulated import SimConfig as DailyConfig
from dvol_pipeline.sources.simulated import SimulatedMarket
from dvol_pipeline.sources.simulated.paths import funding_from_premium

from .params import COIN_SPECS, SimConfig
from .rng import STREAM_BASIS, STREAM_FAIR, stream_rng

DAY_S = 86_400
HOUR_S = 3_600
BLOCK_DAYS = 256
FUNDING_CAP = 0.0075
"""Binance caps the USDⓈ-M funding rate (0.75 % for the large perpetuals at 8 h)."""
COMMON_ID = 0
"""Coin id of the market-wide stream."""
FALLBACK_VOL = 0.6
"""Annualised vol of an unanchored day (before the daily market's first day)."""


@dataclass(frozen=True)
class DayFair:
    """One coin-day: log fair price at the 86 401 second boundaries and the perp's premium."""

    log_fair: np.ndarray
    sig_s: np.ndarray
    """1-second return sd per second (86 400): the liquidation trigger's yardstick."""
    premium: np.ndarray
    """Perp premium (perp fair / spot fair - 1) at the second boundaries (86 401)."""
    premium_hourly: np.ndarray
    """The smooth premium at the 33 hour boundaries from 16:00 of the day before to 24:00 (funding's input)."""
    anchored: bool


@lru_cache(maxsize=4)
def _daily_paths(daily_seed: int, start: tuple[int, int, int], block: int):
    d0 = date(*start)
    end = date.fromordinal(d0.toordinal() + (block + 1) * BLOCK_DAYS - 1)
    return SimulatedMarket(DailyConfig(seed=daily_seed, start=d0, coins=("BTC", "ETH")), end=end).paths


def _anchor(coin: str, day: date, cfg: SimConfig):
    """(log price at 25 hour boundaries, hourly sd, premium at 33 boundaries) or None."""
    d0 = date(*cfg.daily_start)
    k = day.toordinal() - d0.toordinal()
    if coin not in ("BTC", "ETH") or k < 1:
        return None
    path = _daily_paths(cfg.daily_seed, cfg.daily_start, k // BLOCK_DAYS)[coin]
    h0 = 24 * k
    return path.log_s_b[h0:h0 + 25].copy(), path.sig_h[h0:h0 + 24].copy(), path.premium_b[h0 - 8:h0 + 25].copy()


def _ou(rng: np.random.Generator, n: int, halflife: float) -> np.ndarray:
    """A unit-variance OU sampled every step, started in its stationary law."""
    phi = 0.5 ** (1.0 / halflife)
    e = rng.standard_normal(n) * np.sqrt(1.0 - phi * phi)
    e[0] = rng.standard_normal()
    return lfilter([1.0], [1.0, -phi], e)


def _bridge_day(rng: np.random.Generator, common: np.random.Generator, sig_h: np.ndarray,
                hour_ret: np.ndarray | None, cfg: SimConfig, corr: float) -> np.ndarray:
    """1-second log returns (86 400) with hourly sd `sig_h`, each hour summing to `hour_ret` if given.

    The intra-hour vol bursts, the jump instants and a share `corr` of the 1-second shocks come from
    the market-wide stream `common` (BTC and ETH move together inside the hour, as their hourly
    anchors do); the rest from the coin's own `rng`."""
    vol_log = cfg.intraday_volvol * np.repeat(_ou(common, DAY_S // 60, cfg.intraday_vol_halflife_s / 60.0), 60)
    z_common = common.standard_normal((24, HOUR_S))
    jump_at = common.integers(0, HOUR_S, 24)
    m2 = np.exp(2.0 * vol_log).reshape(24, HOUR_S)
    w = m2 / m2.sum(axis=1, keepdims=True)
    z = corr * z_common + np.sqrt(1.0 - corr * corr) * rng.standard_normal((24, HOUR_S))
    x = sig_h[:, None] * np.sqrt(w) * z
    phi = cfg.momentum
    x = lfilter([1.0], [1.0, -phi], x.ravel()).reshape(24, HOUR_S) * np.sqrt(1.0 - phi * phi)
    if hour_ret is not None:
        cap = 3.0 * sig_h
        jump = hour_ret - np.clip(hour_ret, -cap, cap)
        x[np.arange(24), jump_at] += jump
        x += (hour_ret - x.sum(axis=1))[:, None] * w
    return x.ravel()


def _day_fair_base(coin: str, seed: int, day: date, cfg: SimConfig) -> DayFair:
    spec = cfg.coins[coin]
    rng = stream_rng(seed, STREAM_FAIR, spec.coin_id, day)
    common = stream_rng(seed, STREAM_FAIR, COMMON_ID, day)
    anchor = _anchor(coin, day, cfg)
    if anchor is None:
        sig_h = np.full(24, FALLBACK_VOL / np.sqrt(8760.0))
        x = _bridge_day(rng, common, sig_h, None, cfg, cfg.coin_corr)
        log0, prem_h, anchored = np.log(spec.fallback_price), np.full(33, 1e-4), False
    else:
        log_b, sig_h, prem_h = anchor
        x = _bridge_day(rng, common, sig_h, np.diff(log_b), cfg, cfg.coin_corr)
        log0, anchored = log_b[0], True
    log_fair = log0 + np.concatenate([[0.0], np.cumsum(x)])
    sig_s = np.repeat(sig_h / np.sqrt(HOUR_S), HOUR_S)
    return DayFair(log_fair, sig_s, np.zeros(DAY_S + 1), prem_h, anchored)


def day_fair(coin: str, seed: int, day: date, cfg: SimConfig) -> DayFair:
    """The coin's fair path for `day` (SOL derived from BTC's), with the perp premium."""
    if coin == "SOL":
        btc = _day_fair_base("BTC", seed, day, cfg)
        spec = cfg.coins[coin]
        rng = stream_rng(seed, STREAM_FAIR, spec.coin_id, day)
        own_sig = spec.own_vol_ratio * spec.beta_btc * btc.sig_s.reshape(24, HOUR_S)[:, 0] * np.sqrt(HOUR_S)
        own = _bridge_day(rng, stream_rng(seed, STREAM_FAIR, COMMON_ID + 100, day), own_sig, np.zeros(24), cfg, 0.0)
        btc0 = np.log(COIN_SPECS["BTC"].fallback_price)
        log_fair = (np.log(spec.fallback_price) + spec.beta_btc * (btc.log_fair - btc0)
                    + np.concatenate([[0.0], np.cumsum(own)]))
        sig_s = btc.sig_s * spec.beta_btc * np.sqrt(1.0 + spec.own_vol_ratio**2)
        base = DayFair(log_fair, sig_s, btc.premium, btc.premium_hourly, btc.anchored)
    else:
        base = _day_fair_base(coin, seed, day, cfg)
    rng = stream_rng(seed, STREAM_BASIS, cfg.coins[coin].coin_id, day)
    smooth = np.interp(np.arange(DAY_S + 1) / HOUR_S, np.arange(25), base.premium_hourly[8:])
    noise = cfg.basis_noise_bps * 1e-4 * _ou(rng, DAY_S + 1, cfg.basis_halflife_s)
    return DayFair(base.log_fair, base.sig_s, smooth + noise, base.premium_hourly, base.anchored)


def funding_series(fair: DayFair) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per second (86 400): published funding rate, funding time (seconds of day), settled flag.

    The rate of an open interval is funding_from_premium (Binance's premium + clamp(interest
    - premium)) of the smooth premium's mean since the interval began, capped at FUNDING_CAP;
    at 00/08/16 UTC the row is the settlement of the interval just closed (its own time).
    """
    t = np.arange(DAY_S)
    hours = np.arange(-8, 25)
    ph = fair.premium_hourly
    sec_h = t / HOUR_S
    smooth = np.interp(sec_h, hours, ph)
    start = (t // 28_800) * 28_800
    csum = np.concatenate([[0.0], np.cumsum(smooth)])
    mean_open = (csum[t + 1] - csum[start]) / (t - start + 1)
    rate = np.clip(funding_from_premium(mean_open), -FUNDING_CAP, FUNDING_CAP)
    next_time = start + 28_800
    settled = t % 28_800 == 0
    for s in (0, 28_800, 57_600):
        h = s // HOUR_S
        seg = ph[h:h + 9]  # hours h-8 .. h
        closed = float(np.clip(funding_from_premium(np.array([np.trapezoid(seg) / 8.0]))[0], -FUNDING_CAP, FUNDING_CAP))
        rate[s] = closed
        next_time[s] = s
    return rate, next_time, settled
