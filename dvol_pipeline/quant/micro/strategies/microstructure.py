"""Strategy 3, microstructure mean reversion: fade order-flow / book-imbalance overshoots.

* entry: |x| > entry_k with x = `signal_col` (ofi_z by default, or depth_imb_5 ...): x > k short
  (fade the buying pressure), x < -k long; only when vpin < vpin_max (flow not toxic; unknown VPIN
  blocks); with `use_p_up` and a `p_up` column (a model's probability of an up move), a long needs
  p_up >= p_min and a short p_up <= 1 - p_min (null p_up blocks).
* exit when |x| < exit_k (the overshoot has normalised), on the time stop hold_minutes, or on the
  optional stop-loss stop_bps.
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

NAME = "micro_mr"


@dataclass(frozen=True)
class MicroConfig(ExecutionConfig):
    signal_col: str = "ofi_z"
    entry_k: float = 2.5
    exit_k: float = 0.5
    vpin_col: str = "vpin"
    vpin_max: float = 0.5
    use_p_up: bool = True
    p_min: float = 0.55
    hold_minutes: float = 5.0
    stop_bps: float | None = None
    name: str = NAME


def signals(part: pl.DataFrame, config: MicroConfig) -> Signals:
    price, low, high = prices(part, config.price_col)
    ts = part["ts"].dt.epoch("ns").to_numpy()
    x = f64(part, config.signal_col)
    sig = np.where(x > config.entry_k, -1, np.where(x < -config.entry_k, 1, 0))
    with np.errstate(invalid="ignore"):
        ok = f64(part, config.vpin_col) < config.vpin_max
        if config.use_p_up and "p_up" in part.columns:
            p = f64(part, "p_up")
            ok &= np.where(sig > 0, p >= config.p_min, p <= 1.0 - config.p_min)
        normal = np.abs(x) < config.exit_k
    stop = np.full(part.height, np.nan if config.stop_bps is None else config.stop_bps)
    hold = minutes_to_bars(np.full(part.height, config.hold_minutes), bar_minutes(ts))
    return Signals(price, np.where(ok, sig, 0).astype(np.int64), normal, normal, hold, stop, low, high)


def run_strategy(features: pl.DataFrame, config: MicroConfig | None = None,
                 cost_fn: CostFn | None = None) -> StrategyRun:
    """Trades and per-bar P&L of every (venue, symbol) series of `features`."""
    config = config or MicroConfig()
    parts = [run_series(config.name, v, s, part, signals(part, config), passive=config.passive,
                        fill_bars=config.fill_bars, notional_usd=config.notional_usd,
                        funding=v.endswith(config.perp_suffix)) for v, s, part in series(features)]
    return finish(config.name, parts, cost_fn)
