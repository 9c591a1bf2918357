"""Strategy 2, funding and basis mean reversion on the perpetual.

* signal "funding": fade extreme funding: funding_z > entry_z short the perp (it receives the
  funding longs pay), < -entry_z long; exit when |funding_z| < exit_z (normalised). Traded price:
  the perp's mid.
* signal "basis": fade the spot-perp basis: basis_bps > entry_basis_bps short the basis (short perp,
  long spot), < -entry_basis_bps long; exit when |basis_bps| < exit_basis_bps. The traded price is
  the ratio perp / spot = 1 + basis_bps / 1e4, so gross P&L is the basis' move; two legs pay costs
  (`legs` = 2 in the trades), and the perp leg's side pays the funding.
* `pre_funding_minutes`: when set, entries only when time_to_funding_min <= that (the window before a
  funding, to collect it).
* funding: a position open at a funding instant (entry_ts <= instant < exit_ts) pays side x rate x
  notional (common.funding_events); only series whose venue ends with `perp_suffix` run.
* time stop max_hold_minutes; optional stop-loss stop_bps (adverse move, bps).
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

NAME = "funding_basis"


@dataclass(frozen=True)
class FundingBasisConfig(ExecutionConfig):
    signal: str = "funding"
    entry_z: float = 2.0
    exit_z: float = 0.5
    entry_basis_bps: float = 10.0
    exit_basis_bps: float = 2.0
    pre_funding_minutes: float | None = None
    max_hold_minutes: float = 24 * 60.0
    stop_bps: float | None = None
    name: str = NAME


def signals(part: pl.DataFrame, config: FundingBasisConfig) -> Signals:
    ts = part["ts"].dt.epoch("ns").to_numpy()
    bm = bar_minutes(ts)
    if config.signal == "funding":
        price, low, high = prices(part, config.price_col)
        x, entry, exit_ = f64(part, "funding_z"), config.entry_z, config.exit_z
        legs = 1
    elif config.signal == "basis":
        x, entry, exit_ = f64(part, "basis_bps"), config.entry_basis_bps, config.exit_basis_bps
        price = 1.0 + x / 1e4
        low = high = None
        legs = 2
    else:
        raise ValueError(f"signal must be funding or basis, not {config.signal!r}")
    sig = np.where(x > entry, -1, np.where(x < -entry, 1, 0))
    if config.pre_funding_minutes is not None:
        ttf = f64(part, "time_to_funding_min")
        with np.errstate(invalid="ignore"):
            sig = np.where(ttf <= config.pre_funding_minutes, sig, 0)
    with np.errstate(invalid="ignore"):
        normal = np.abs(x) < exit_
    stop = np.full(part.height, np.nan if config.stop_bps is None else config.stop_bps)
    hold = minutes_to_bars(np.full(part.height, config.max_hold_minutes), bm)
    return Signals(price, sig.astype(np.int64), normal, normal, hold, stop, low, high, legs)


def run_strategy(features: pl.DataFrame, config: FundingBasisConfig | None = None,
                 cost_fn: CostFn | None = None) -> StrategyRun:
    """Trades and per-bar P&L of every perpetual series of `features`."""
    config = config or FundingBasisConfig()
    parts = [run_series(config.name, v, s, part, signals(part, config), passive=config.passive,
                        fill_bars=config.fill_bars, notional_usd=config.notional_usd, funding=True)
             for v, s, part in series(features) if v.endswith(config.perp_suffix)]
    return finish(config.name, parts, cost_fn)
