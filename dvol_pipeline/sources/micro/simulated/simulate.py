"""One instrument-day: rates and external orders in, the engine run, its arrays out.

Why a separate driver: the engine (numba) sees only ticks, lots and nanoseconds of the day;
everything seeded, scaled or calendar-dependent is prepared here, vectorised, from the
day's own random streams (rng.py), so a day never depends on the days simulated before it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import numpy as np
from scipy.signal import lfilter

from .engine import run_day
from .fair import DAY_S, HOUR_S, DayFair
from .flows import Metaorders, liquidations, metaorders
from .params import ACTIVITY, PERP_VENUES, SimConfig
from .rng import STREAM_BOOK, STREAM_FLOW, numba_seed, stream_rng

ID_DAY = 10_000_000_000
"""Update ids of a day start at day ordinal x 1e10 (trade ids at x 1e9): increasing across days."""


@dataclass
class DayRun:
    """The engine's output for one instrument-day, in ticks, lots and ns since midnight."""

    counts: np.ndarray
    rows: tuple[np.ndarray, np.ndarray, np.ndarray]
    msgs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    tob: np.ndarray
    trades: np.ndarray
    snap_hdr: np.ndarray
    snap_rows: tuple[np.ndarray, np.ndarray, np.ndarray]
    liq: np.ndarray
    fair_ticks: np.ndarray
    metaorders: Metaorders
    tick: float


def activity_per_second() -> np.ndarray:
    """The intraday activity on the 1-second grid (hourly values, linearly interpolated, mean 1)."""
    h = np.arange(DAY_S) / HOUR_S
    centres = np.arange(-1, 25) + 0.5
    vals = np.concatenate([[ACTIVITY[-1]], ACTIVITY, [ACTIVITY[0]]])
    return np.interp(h, centres, vals)


def _engine_params(cfg: SimConfig, mean_lots: float) -> np.ndarray:
    return np.array([cfg.levels, cfg.max_depth, cfg.add_decay, cfg.cancel_fraction, cfg.stale_cancel,
                     cfg.informed_cap, mean_lots, cfg.message_ms * 1e6, cfg.impact_halflife_s, 0.8,
                     mean_lots * cfg.mo_size_ratio, cfg.cancel_decay,
                     cfg.limit_size_sd, cfg.join_queue_ref * mean_lots, cfg.deep_share], np.float64)


def day_tick(coin: str, fair: DayFair, cfg: SimConfig) -> float:
    """The day's price grid: tick_bps of the opening fair price, to 2 significant figures (both venues)."""
    return float(f"{cfg.coins[coin].tick_bps * 1e-4 * np.exp(fair.log_fair[0]):.2g}")


def coin_liquidations(coin: str, day: date, seed: int, fair: DayFair, cfg: SimConfig) -> tuple[tuple, DayFair]:
    """The day's liquidations (from the coin's own stream: both venues see the same cascades) and the
    fair path including their impact."""
    spec = cfg.coins[coin]
    rng = stream_rng(seed, STREAM_FLOW, spec.coin_id, day)
    *orders, move = liquidations(rng, fair.log_fair, fair.sig_s, spec.order_size / spec.lot * cfg.mo_size_ratio, cfg)
    return tuple(orders), replace(fair, log_fair=fair.log_fair + move)


def run_instrument_day(coin: str, venue: str, day: date, seed: int, fair: DayFair, cfg: SimConfig,
                       liq: tuple | None = None) -> DayRun:
    """One venue's day; `liq`: the coin's liquidation orders (executed on the perpetual only)."""
    spec = cfg.coins[coin]
    perp = venue in PERP_VENUES
    price = np.exp(fair.log_fair) * (1.0 + fair.premium if perp else 1.0)
    tick = day_tick(coin, fair, cfg)
    fair_ticks = price / tick
    bps_ticks = 1e-4 * float(fair_ticks[0])
    mean_lots = spec.order_size / spec.lot
    rng = stream_rng(seed, STREAM_BOOK, spec.coin_id, day, venue)
    act = activity_per_second()
    phi = 0.5 ** (1.0 / HOUR_S)
    e = rng.standard_normal(DAY_S) * np.sqrt(1.0 - phi * phi)
    e[0] = rng.standard_normal()
    depth = np.exp(0.3 * _ar1(e, phi) - 0.045)
    k = cfg.intensity
    rates = np.empty((DAY_S, 4))
    mm = act**cfg.mm_activity_power
    mm /= mm.mean()
    rates[:, 0] = cfg.limit_rate * k * mm * depth
    rates[:, 1] = cfg.cancel_rate * k * mm
    rates[:, 2] = cfg.noise_mo_rate * k * act
    rates[:, 3] = cfg.informed_rate * k * act
    init = np.maximum(1, np.round(4.0 * mean_lots * rng.lognormal(0.0, 0.3, (2, cfg.levels)))).astype(np.int64)
    flow_rng = stream_rng(seed, STREAM_FLOW, spec.coin_id, day, venue)
    *meta, truth = metaorders(flow_rng, act, mean_lots * cfg.mo_size_ratio, bps_ticks, cfg)
    if perp and liq is not None:
        ext = [np.concatenate([a, b]) for a, b in zip(meta, liq, strict=True)]
        order = np.argsort(ext[0], kind="stable")
        ext = [a[order] for a in ext]
    else:
        ext = meta
    n_ev = float(rates.sum()) + ext[0].size
    cap = int(n_ev * 1.3) + 100_000
    nseed = numba_seed(seed, STREAM_BOOK, spec.coin_id, day, venue)
    while True:
        out = run_day(fair_ticks, rates, *ext, _engine_params(cfg, mean_lots), nseed, perp,
                      np.int64(day.toordinal()) * ID_DAY, np.int64(day.toordinal()) * (ID_DAY // 10), init,
                      cap, cap, cap, cap, 200 * (cfg.max_depth + 2))
        if out[0][7] == 0:
            break
        cap *= 2
    c = out[0]
    n_rows, n_msgs, n_tob, n_trd, n_snap, n_snaprow, n_liq = (int(v) for v in c[:7])
    return DayRun(
        counts=c,
        rows=(out[1][:n_rows], out[2][:n_rows], out[3][:n_rows]),
        msgs=(out[4][:n_msgs], out[5][:n_msgs], out[6][:n_msgs], out[7][:n_msgs]),
        tob=out[8][:n_tob], trades=out[9][:n_trd], snap_hdr=out[10][:n_snap],
        snap_rows=(out[11][:n_snaprow], out[12][:n_snaprow], out[13][:n_snaprow]),
        liq=out[14][:n_liq], fair_ticks=fair_ticks, metaorders=truth, tick=tick,
    )


def _ar1(e: np.ndarray, phi: float) -> np.ndarray:
    return lfilter([1.0], [1.0, -phi], e)
