"""The micro lane's `simulated` source: a seeded limit-order-book market (see docs/micro/simulated.md).

`simulate_ticks` returns every raw tick table for BTC, ETH and SOL on a spot venue
(`sim_spot`) and a USDⓈ-M perpetual venue (`sim_usdm`), one UTC day at a time: a day's rows
depend only on (seed, coin, venue, day), so a day simulated alone equals that day in a range.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl

from dvol_pipeline.contracts.micro import MICRO_RAW_TABLES
from dvol_pipeline.sources.micro.batch import TickBatch

from .emit import SYMBOLS, frames
from .fair import day_fair
from .params import VENUES, SimConfig
from .simulate import coin_liquidations, run_instrument_day

__all__ = ["SimConfig", "simulate_day", "simulate_ticks"]


def simulate_day(coin: str, venue: str, day: date, *, seed: int = 0, config: SimConfig | None = None):
    """One instrument-day: (raw table name -> frame, the engine's DayRun with the metaorder truth)."""
    cfg = config or SimConfig()
    liq, fair = coin_liquidations(coin, day, seed, day_fair(coin, seed, day, cfg), cfg)
    run = run_instrument_day(coin, venue, day, seed, fair, cfg, liq)
    return frames(run, fair, coin, venue, day, seed, cfg), run


def simulate_ticks(start: date, end: date, *, seed: int = 0, coins: Sequence[str] = ("BTC", "ETH", "SOL"),
                   venues: Sequence[str] = VENUES, config: SimConfig | None = None) -> TickBatch:
    """Every raw tick table for UTC days [start, end] (inclusive), arrival order per (venue, symbol)."""
    cfg = config or SimConfig()
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    bad = [c for c in coins if c not in cfg.coins or c not in SYMBOLS]
    if bad:
        raise ValueError(f"unknown coin(s) {bad}; known: {sorted(set(cfg.coins) & set(SYMBOLS))}")
    bad = [v for v in venues if v not in VENUES]
    if bad:
        raise ValueError(f"unknown venue(s) {bad}; known: {list(VENUES)}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    parts: dict[str, list[pl.DataFrame]] = {name: [] for name in MICRO_RAW_TABLES}
    notes = [(f"simulated seed={seed} intensity={cfg.intensity}; latency median {cfg.latency_ms} ms, collector clock "
             f"skew +{cfg.clock_skew_ms} ms; each UTC day is its own session (a snapshot at 00:00 and every hour)")]
    for venue in venues:
        for coin in coins:
            for k in range((end - start).days + 1):
                day = start + timedelta(days=k)
                tables, run = simulate_day(coin, venue, day, seed=seed, config=cfg)
                for name, frame in tables.items():
                    parts[name].append(frame)
                notes.append(f"{venue} {SYMBOLS[coin]} {day}: tick {run.tick:g}, "
                             f"{tables['raw_book_deltas'].height} depth rows")
    tables = {name: pl.concat(fs) if fs else MICRO_RAW_TABLES[name].empty() for name, fs in parts.items()}
    return TickBatch(source="simulated", tables=tables, notes=notes)
