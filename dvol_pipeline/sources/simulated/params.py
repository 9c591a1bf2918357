"""Calibration of the simulated market, per coin, in one place.

Why one module: every number here was tuned so the simulated stylised facts land inside
the bands of MARKET_FACTS.md (tests assert them); keeping them together makes a
re-calibration a one-file change. Units: vol levels annualised decimals, shocks per hour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HOURS_PER_YEAR = 8760.0
T_DOF = 5.0
"""Student-t degrees of freedom of hourly diffusive shocks (fat tails)."""
RET_CORR = 0.91
"""Loading of each coin's hourly return shock on the common factor (corr = 0.91^2 = 0.83)."""
VOL_CORR = 0.97
"""Loading of each coin's idiosyncratic vol shock on the common vol factor."""

# Mon .. Sun multipliers of hourly return vol and of vol-of-vol (weekends are quieter).
WEEKDAY_RET = np.array([1.05, 1.0, 1.05, 1.08, 1.05, 0.85, 0.85])
WEEKDAY_VOLVOL = np.array([1.15, 0.75, 1.12, 1.25, 1.05, 0.55, 0.62])
# Mon .. Sun multipliers of the jump intensity (news and liquidations cluster on weekdays).
WEEKDAY_JUMP = np.array([1.1, 1.0, 1.1, 1.15, 1.1, 0.45, 0.5])
# UTC hour-of-day multipliers of return vol (Asia quiet, US open busiest).
INTRADAY_RET = np.array(
    [1.0, 0.95, 0.9, 0.85, 0.8, 0.8, 0.8, 0.85, 0.9, 0.95, 1.0, 1.0,
     1.05, 1.15, 1.3, 1.35, 1.25, 1.15, 1.1, 1.05, 1.05, 1.0, 1.0, 1.0]
)


def _rms_normalise(a: np.ndarray) -> np.ndarray:
    return a / np.sqrt(np.mean(a * a))


WEEKDAY_RET = _rms_normalise(WEEKDAY_RET)
WEEKDAY_VOLVOL = _rms_normalise(WEEKDAY_VOLVOL)
INTRADAY_RET = _rms_normalise(INTRADAY_RET)
WEEKDAY_JUMP = WEEKDAY_JUMP / WEEKDAY_JUMP.mean()


@dataclass(frozen=True)
class CoinParams:
    coin_id: int
    s0: float
    vol_theta: float
    """Long-run mean of log annualised diffusive vol x."""
    vol_cap: float
    """Annualised diffusive vol around which the vol state saturates."""
    vol_x0: float
    """x at the first simulated hour (2021-03-24 was a high-vol regime)."""
    vol_halflife_days: float
    """Half-life of the slow vol level x (the fast spike component: SPIKE_HALFLIFE_DAYS)."""
    volvol: float
    """Hourly sd of the Gaussian vol shock."""
    lev_down: float
    """Vol response to the signed standardised return shock (leverage)."""
    lev_abs: float
    """Vol response to the size of the return shock."""
    jump_p: float
    """Hourly probability of an own (idiosyncratic) jump; common jumps come on top."""
    jump_scale: float
    """Multiplier on the common jump size distribution."""
    jump_vol_down: float
    """Rise in x per unit of negative jump log-return."""
    jump_vol_up: float
    vrp_mean: float
    """Mean log variance-risk-premium multiplier of implied over expected vol."""
    vrp_sd: float
    vrp_halflife_days: float
    noise_sd: float
    """Stationary sd of the transient log-IV noise (negative lag-1 autocorr of dDVOL)."""
    noise_halflife_hours: float
    skew_mean: float
    """Mean SVI-like correlation of the smile (negative: puts richer)."""
    skew_mom: float
    """How much the skew steepens per unit of (tanh) recent standardised momentum."""
    curvature: float
    """Smile wing weight eta (butterfly) at the long-run vol level."""
    premium_mean: float
    """Mean perpetual premium per 8h (fraction)."""
    premium_mom: float
    premium_sd: float
    premium_halflife_days: float
    spot_volume: float
    """Typical spot volume per hour, in coin."""
    trade_usd: float
    """Typical spot trade size in USD."""
    option_oi: float
    """Total option open interest at the start, in coin."""
    tx_base: float
    fee_base: float

    @property
    def vol_theta_level(self) -> float:
        return float(np.exp(self.vol_theta))


COMMON_JUMP_P = 1.0 / (24 * 45)
"""Hourly probability of a crypto-wide jump (both coins, ETH scaled by jump_scale)."""
JUMP_MEAN = 0.04
"""Mean |log-return| of a jump (exponentially distributed)."""
JUMP_DOWN_PROB = 0.6
NEWS_VOLVOL_SD = 0.3
"""Log-sd of the daily market-wide scale on vol-of-vol (dDVOL fat tails)."""
EVENT_DAY_P = 1.0 / 40.0
"""Daily probability of a market-wide event day."""
EVENT_VOLVOL = 4.5
"""Multiplier of vol-of-vol on an event day (the daily scales are renormalised to E[s^2] = 1)."""
EVENT_RET = 1.5
CRASH_DAY_P = 1.0 / 250.0
"""Daily probability of a crash day (a subset of the event days)."""
CRASH_RET = 0.05
"""Mean log-return of a crash day (BTC; ETH scaled by jump_scale); sizes 0.5 .. 1.5 x."""
CRASH_VOL = 0.45
"""Mean jump of log vol on a crash day (fast spike component); same size factor."""
EVENT_HOUR = 14
"""UTC hour of a crash (the US open)."""
"""Multiplier of return vol on an event day."""
NEWS_RET_SD = 0.25
"""Log-sd of the same daily scale applied to return vol."""
NEWS_VOL_PUSH = 0.02
"""Daily sd of the shift in log vol driven by the same news factor (busy days lift vol)."""
IV_OVERSHOOT = 0.15
"""Implied vol first overshoots each vol shock by this fraction, then the excess fades."""
IV_OVERSHOOT_HL_HOURS = 12.0
PRICE_ANCHOR_DAYS = 365.0
"""Half-life of the (very weak) reversion of log price towards its start level."""
VOL_CAP_SOFTNESS = 0.25
SMILE_FLAT_VOL = 1.2
"""Smile curvature shrinks like 1 / (1 + (vol / 1.2)^2): flatter smiles in panics."""
JUMP_CAP = 0.30
"""Largest |log-return| of a single jump."""
SPIKE_HALFLIFE_DAYS = 25.0
"""Half-life of the fast vol component that carries the jump responses (crash spikes fade
within weeks while the slow vol level keeps its months-long memory)."""
JUMP_VOL_SAT = 0.12
"""Jump vol response saturates: gain * SAT * tanh(|J| / SAT)."""
FUNDING_INTEREST = 1e-4
FUNDING_CLAMP = 5e-4
PREMIUM_FLOOR_WIDTH = 2.0e-4
"""The premium goes at most this far below -0.04 % (Binance's zero-funding edge)."""

COINS: dict[str, CoinParams] = {
    "BTC": CoinParams(
        coin_id=1, s0=55_000.0, vol_theta=np.log(0.42), vol_cap=1.4, vol_x0=np.log(0.70),
        vol_halflife_days=200.0, volvol=0.0042, lev_down=0.0025, lev_abs=0.0090,
        jump_p=1.0 / (24 * 150), jump_scale=1.0, jump_vol_down=4.5, jump_vol_up=1.5,
        vrp_mean=np.log(1.14), vrp_sd=0.07, vrp_halflife_days=40.0,
        noise_sd=0.008, noise_halflife_hours=6.0,
        skew_mean=-0.25, skew_mom=0.30, curvature=0.30,
        premium_mean=1.0e-4, premium_mom=4.0e-4, premium_sd=5.0e-4, premium_halflife_days=6.0,
        spot_volume=1_500.0, trade_usd=1_200.0, option_oi=180_000.0,
        tx_base=330_000.0, fee_base=35.0,
    ),
    "ETH": CoinParams(
        coin_id=2, s0=1_700.0, vol_theta=np.log(0.52), vol_cap=1.8, vol_x0=np.log(0.90),
        vol_halflife_days=200.0, volvol=0.0038, lev_down=0.0025, lev_abs=0.0085,
        jump_p=1.0 / (24 * 250), jump_scale=1.3, jump_vol_down=2.2, jump_vol_up=1.3,
        vrp_mean=np.log(1.085), vrp_sd=0.07, vrp_halflife_days=40.0,
        noise_sd=0.008, noise_halflife_hours=6.0,
        skew_mean=-0.20, skew_mom=0.30, curvature=0.30,
        premium_mean=1.0e-4, premium_mom=4.0e-4, premium_sd=5.0e-4, premium_halflife_days=6.0,
        spot_volume=20_000.0, trade_usd=1_000.0, option_oi=1_400_000.0,
        tx_base=1_100_000.0, fee_base=900.0,
    ),
}

# ---- coins beyond BTC and ETH (scale benchmarks, multi-coin tests) ----------------------
DERIVED_PREFIX = "SIM"
"""Extra coins are named SIM3, SIM4, ... (k >= 3); their parameters are derived, not tuned."""
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def derived_index(coin: str) -> int | None:
    """k of a derived coin name `SIM<k>` (k >= 3), else None."""
    digits = coin[len(DERIVED_PREFIX):]
    if coin.startswith(DERIVED_PREFIX) and digits.isdigit() and int(digits) >= 3 and digits == str(int(digits)):
        return int(digits)
    return None


def is_known_coin(coin: str) -> bool:
    return coin in COINS or derived_index(coin) is not None


def coin_params(coin: str) -> CoinParams:
    """BTC and ETH: their calibrated parameters (unchanged). `SIM<k>`: a documented blend.

    A derived coin k takes each parameter between BTC's and ETH's at the weight
    w = frac(k * 0.618...) (the golden-ratio sequence, so successive coins spread over
    [0, 1)): geometric for positive parameters (prices, volumes, intensities), linear
    otherwise (log levels, skews). Its coin id is k, so its own random streams are
    distinct from BTC's (1), ETH's (2) and the common stream (0); the common shocks are
    shared, as between BTC and ETH. Such coins are plausible, not calibrated: the stylised
    facts of MARKET_FACTS.md are asserted for BTC and ETH only.
    """
    if coin in COINS:
        return COINS[coin]
    k = derived_index(coin)
    if k is None:
        raise ValueError(f"unknown simulated coin {coin!r}: use {sorted(COINS)} or {DERIVED_PREFIX}<k> with k >= 3")
    w = float((k * _GOLDEN) % 1.0)
    btc, eth = COINS["BTC"], COINS["ETH"]
    values = {}
    for name in CoinParams.__dataclass_fields__:
        a, b = float(getattr(btc, name)), float(getattr(eth, name))
        if name == "coin_id":
            values[name] = k
        elif a > 0 and b > 0:
            values[name] = float(np.exp((1.0 - w) * np.log(a) + w * np.log(b)))
        else:
            values[name] = (1.0 - w) * a + w * b
    return CoinParams(**values)


def scale_coins(n: int) -> tuple[str, ...]:
    """BTC, ETH, then SIM3 .. SIM<n>: the universe of n coins the scale benchmark simulates."""
    return ("BTC", "ETH", *(f"{DERIVED_PREFIX}{k}" for k in range(3, n + 1)))[:n]
