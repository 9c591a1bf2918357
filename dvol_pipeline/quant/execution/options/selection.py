"""Which options to trade on a day: the expiry, the ATM straddle, the iron condor and its two halves.

Why these rules: the signal forecasts a change of 30-day implied vol over about a week,
so the structure should carry vega without the violent gamma of the last days: an expiry
with 7–21 days left, the one nearest 14. The straddle uses the strike nearest the forward
(the most vega per premium, nearly delta-neutral); the condor sells the ±20-delta strikes
and buys ±10-delta wings so its loss is bounded (defined risk) and its vega is short.
Deltas are Black-76 at each option's own mark IV and forward, as Deribit reports them.
All choices are vectorised over the day's chain; ties go to the earlier expiry / lower
strike, so a selection is deterministic. The put and call credit spreads (the IV-rank
strategies, ivrank/) are the condor's two halves, picked by the same delta rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dvol_pipeline.quant.pricing.options import delta

from .config import OptionBacktestConfig, round_to_step
from .costs import half_spreads
from .market import US_PER_DAY, DayChain

STRADDLE, CONDOR = 1, -1
STRUCTURE_NAMES = {STRADDLE: "long straddle", CONDOR: "short iron condor", 0: "flat"}
"""What a structure code (the option book's `structure`, the sleeve's `target_next`) holds, in words."""


@dataclass(frozen=True)
class Structure:
    """Rows of the day's chain to trade and their signed quantities (coins; + long)."""

    kind: int
    rows: np.ndarray
    qty: np.ndarray


def expiry_block(day: DayChain, cfg: OptionBacktestConfig) -> slice | None:
    """Rows of the expiry with dte_min <= DTE <= dte_max nearest dte_target, if any."""
    return expiry_window(day, cfg.dte_min, cfg.dte_max, cfg.dte_target)


def expiry_window(day: DayChain, dte_min: float, dte_max: float, dte_target: float) -> slice | None:
    """Rows of the expiry with dte_min <= DTE <= dte_max nearest dte_target, if any (ties: earlier)."""
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(day.expiry_us)) + 1, [day.expiry_us.size]])
    dte = (day.expiry_us[bounds[:-1]] - day.ts_us) / US_PER_DAY
    ok = (dte >= dte_min) & (dte <= dte_max)
    if not ok.any():
        return None
    j = int(np.argmin(np.where(ok, np.abs(dte - dte_target), np.inf)))
    return slice(int(bounds[j]), int(bounds[j + 1]))


def _atm_pair(day: DayChain, block: slice) -> tuple[int, int] | None:
    """(call row, put row) at the strike nearest the forward among strikes quoted both ways."""
    k, calls = day.strike[block], day.is_call[block]
    # rows are sorted by (strike, put before call): a put followed by a call at one strike
    pair = np.flatnonzero((k[:-1] == k[1:]) & ~calls[:-1] & calls[1:])
    if pair.size == 0:
        return None
    fwd = day.fwd[block.start]
    best = pair[int(np.argmin(np.abs(k[pair] - fwd)))]
    return block.start + int(best) + 1, block.start + int(best)


def straddle(day: DayChain, cfg: OptionBacktestConfig) -> Structure | None:
    block = expiry_block(day, cfg)
    pair = None if block is None else _atm_pair(day, block)
    if pair is None:
        return None
    return Structure(STRADDLE, np.array(pair), np.full(2, cfg.straddle_units(day.fwd[pair[0]])))


def _nearest(score: np.ndarray, allowed: np.ndarray) -> int | None:
    if not allowed.any():
        return None
    return int(np.argmin(np.where(allowed, score, np.inf)))


BlockDeltas = tuple[np.ndarray, np.ndarray, np.ndarray, float]
"""(strikes, is_call, Black-76 deltas, forward) of one expiry block: computed once, shared by the pickers."""


def block_deltas(day: DayChain, block: slice) -> BlockDeltas:
    k, calls = day.strike[block], day.is_call[block]
    return k, calls, delta(day.fwd[block], k, day.years(block), day.iv[block], calls), float(day.fwd[block.start])


def put_spread_rows(day: DayChain, block: slice, short_delta: float, wing_delta: float,
                    deltas: BlockDeltas | None = None) -> np.ndarray | None:
    """(long put, short put) rows: sell the OTM put nearest -short_delta, buy the one nearest -wing_delta below."""
    k, calls, d, fwd = deltas or block_deltas(day, block)
    short = _nearest(np.abs(d + short_delta), ~calls & (k < fwd))
    if short is None:
        return None
    wing = _nearest(np.abs(d + wing_delta), ~calls & (k < k[short]))
    return None if wing is None else block.start + np.array([wing, short])


def call_spread_rows(day: DayChain, block: slice, short_delta: float, wing_delta: float,
                     deltas: BlockDeltas | None = None) -> np.ndarray | None:
    """(short call, long call) rows: sell the OTM call nearest short_delta, buy the one nearest wing_delta above."""
    k, calls, d, fwd = deltas or block_deltas(day, block)
    short = _nearest(np.abs(d - short_delta), calls & (k > fwd))
    if short is None:
        return None
    wing = _nearest(np.abs(d - wing_delta), calls & (k > k[short]))
    return None if wing is None else block.start + np.array([short, wing])


def condor_rows(day: DayChain, block: slice, short_delta: float, wing_delta: float,
                deltas: BlockDeltas | None = None) -> np.ndarray | None:
    """(long put, short put, short call, long call) rows, or None when a leg has no strike."""
    deltas = deltas or block_deltas(day, block)
    puts = put_spread_rows(day, block, short_delta, wing_delta, deltas)
    calls = None if puts is None else call_spread_rows(day, block, short_delta, wing_delta, deltas)
    return None if calls is None else np.concatenate([puts, calls])


def atm_pair(day: DayChain, block: slice) -> tuple[int, int] | None:
    """(call row, put row) at the strike nearest the forward among strikes quoted both ways."""
    return _atm_pair(day, block)


def _condor_rows(day: DayChain, block: slice, cfg: OptionBacktestConfig) -> np.ndarray | None:
    return condor_rows(day, block, cfg.condor_short_delta, cfg.condor_wing_delta)


def condor_qty(
    day: DayChain, rows: np.ndarray, straddle_rows: tuple[int, int] | None, cfg: OptionBacktestConfig
) -> float:
    """Units so the condor's max loss equals the straddle's premium at risk (config doc)."""
    if cfg.condor_sizing == "fixed" or straddle_rows is None:
        return cfg.condor_qty
    fwd = day.fwd[rows[0]]
    frac, tick = cfg.fallback_half_spread_frac, cfg.tick
    buy_hs, sell_hs, _, _ = half_spreads(day.bid[rows], day.ask[rows], day.mark[rows], frac, tick)
    side = np.array([1.0, -1.0, -1.0, 1.0])
    paid = day.mark[rows] + np.where(side > 0, buy_hs, -sell_hs)
    credit = -float(np.sum(side * paid)) * fwd
    k = day.strike[rows]
    max_loss = max(k[1] - k[0], k[3] - k[2]) - credit
    s = np.asarray(straddle_rows)
    s_buy, _, _, _ = half_spreads(day.bid[s], day.ask[s], day.mark[s], frac, tick)
    at_risk = float(np.sum(day.mark[s] + s_buy)) * fwd * cfg.straddle_units(fwd)
    if max_loss <= 0:
        return cfg.condor_qty
    return round_to_step(at_risk / max_loss, cfg.qty_step)


def iron_condor(day: DayChain, cfg: OptionBacktestConfig) -> Structure | None:
    block = expiry_block(day, cfg)
    rows = None if block is None else _condor_rows(day, block, cfg)
    if rows is None:
        return None
    units = condor_qty(day, rows, _atm_pair(day, block), cfg)
    return Structure(CONDOR, rows, units * np.array([1.0, -1.0, -1.0, 1.0]))


def structure_for(signal: int, day: DayChain, cfg: OptionBacktestConfig) -> Structure | None:
    """+1 (IV up) -> long straddle, -1 (IV down) -> short iron condor, 0 -> nothing."""
    if signal > 0:
        return straddle(day, cfg)
    if signal < 0:
        return iron_condor(day, cfg)
    return None
