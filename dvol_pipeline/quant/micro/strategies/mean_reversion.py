"""Strategy 1, statistical mean reversion: fade the price's z-scored deviation from a fair value.

Rules (all at a bar's close, filled at the next bar, see engine.py):
* fair value `fair`: "rolling" (mean of the price over `window` bars; z = (p - mean) / std, the
  features' price_z_<window>), "vwap" (the features' vwap_dev_bps) or "ema" (ema_dev_bps); for the
  last two z = deviation / its std over the last `z_window` bars (ddof 1, this bar included).
* entry: z < -entry_z long, z > entry_z short, when the OU half-life (ou_half_life, bars) is known.
* exit at the mean (the deviation's sign has flipped or is 0), on the time stop (hl_mult x the
  half-life in minutes, clipped to [min_hold_minutes, max_hold_minutes] = 15-240 by default), or on
  the stop-loss: an adverse move of stop_mult (2) x the expected reversion (|deviation| in bps at
  the signal).
* kill switch: no entry when adx_14 > adx_max (a strong trend) or rv_60 > its trailing p90 over
  the previous `vol_window` bars (a volatility spike); unknown ADX or p90 (warm-up) blocks too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .common import (
    CostFn,
    ExecutionConfig,
    Signals,
    StrategyRun,
    bar_minutes,
    f64,
    finish,
    minutes_to_bars,
    prices,
    run_series,
    series,
)

NAME = "stat_mr"


@dataclass(frozen=True)
class MeanReversionConfig(ExecutionConfig):
    fair: str = "rolling"
    window: int = 60
    z_window: int = 60
    entry_z: float = 2.0
    hl_mult: float = 1.0
    min_hold_minutes: float = 15.0
    max_hold_minutes: float = 240.0
    stop_mult: float = 2.0
    adx_max: float = 25.0
    vol_window: int = 1440
    vol_quantile: float = 0.9
    name: str = NAME


def rolling_z(x: np.ndarray, window: int) -> np.ndarray:
    """(x - mean) / std (ddof 1) over the last `window` values, this one included; NaN in warm-up."""
    s = pl.Series(x).fill_nan(None)
    m = s.rolling_mean(window)
    sd = s.rolling_std(window)
    return ((s - m) / sd).fill_null(np.nan).fill_nan(np.nan).to_numpy()


def deviation(part: pl.DataFrame, price: np.ndarray, config: MeanReversionConfig) -> tuple[np.ndarray, np.ndarray]:
    """(deviation from fair value in bps, its z-score)."""
    if config.fair == "rolling":
        s = pl.Series(price)
        mean = s.rolling_mean(config.window).fill_null(np.nan).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            dev = 1e4 * (price / mean - 1.0)
        return dev, rolling_z(price, config.window)
    col = {"vwap": "vwap_dev_bps", "ema": "ema_dev_bps"}.get(config.fair)
    if col is None:
        raise ValueError(f"fair must be rolling, vwap or ema, not {config.fair!r}")
    dev = f64(part, col)
    return dev, rolling_z(dev, config.z_window)


def kill_switch(part: pl.DataFrame, config: MeanReversionConfig) -> np.ndarray:
    """True where entries are blocked: ADX above adx_max, or rv_60 above the p90 of the previous
    vol_window bars (a quarter of the window at least), or either unknown."""
    adx = f64(part, "adx_14")
    rv = pl.Series(f64(part, "rv_60")).fill_nan(None)
    p90 = rv.rolling_quantile(config.vol_quantile, "linear", window_size=config.vol_window,
                              min_samples=max(2, config.vol_window // 4)).shift(1)
    p90 = p90.fill_null(np.nan).to_numpy()
    rv = rv.fill_null(np.nan).to_numpy()
    with np.errstate(invalid="ignore"):
        return ~(adx <= config.adx_max) | ~(rv <= p90)


def signals(part: pl.DataFrame, config: MeanReversionConfig) -> Signals:
    price, low, high = prices(part, config.price_col)
    dev, z = deviation(part, price, config)
    ts = part["ts"].dt.epoch("ns").to_numpy()
    bm = bar_minutes(ts)
    hl = f64(part, "ou_half_life")
    hold_min = np.clip(config.hl_mult * hl * bm, config.min_hold_minutes, config.max_hold_minutes)
    known = np.isfinite(hl) & np.isfinite(z) & np.isfinite(dev)
    sig = np.where(z < -config.entry_z, 1, np.where(z > config.entry_z, -1, 0))
    sig = np.where(known & ~kill_switch(part, config), sig, 0).astype(np.int64)
    with np.errstate(invalid="ignore"):
        exit_long, exit_short = dev >= 0, dev <= 0
    return Signals(price, sig, exit_long, exit_short, minutes_to_bars(np.nan_to_num(hold_min, nan=1.0), bm),
                   config.stop_mult * np.abs(dev), low, high)


def run_strategy(features: pl.DataFrame, config: MeanReversionConfig | None = None,
                 cost_fn: CostFn | None = None) -> StrategyRun:
    """Trades and per-bar P&L of every (venue, symbol) series of `features` (strategy_frame's columns)."""
    config = config or MeanReversionConfig()
    parts = [run_series(config.name, v, s, part, signals(part, config), passive=config.passive,
                        fill_bars=config.fill_bars, notional_usd=config.notional_usd,
                        funding=v.endswith(config.perp_suffix)) for v, s, part in series(features)]
    return finish(config.name, parts, cost_fn)
