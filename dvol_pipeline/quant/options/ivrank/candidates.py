"""Every candidate trade of one asset: each chain day x each structure, with its legs.

Why every day x every structure: the gate learns which trades pay from all of them (the
rule trades only some), and the strategies then pick from this one table, so a rule trade
and the same trade seen by the gate are the same row. Legs are padded to four (qty 0 = no
leg) so all candidates fit one (trade, leg) array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dvol_pipeline.quant.execution.options.config import round_to_step
from dvol_pipeline.quant.execution.options.market import AssetChain, DayChain
from dvol_pipeline.quant.execution.options.selection import (
    BlockDeltas,
    atm_pair,
    block_deltas,
    call_spread_rows,
    condor_rows,
    expiry_window,
    put_spread_rows,
)

from .config import CALL_SPREAD, IRON_CONDOR, LONG_STRADDLE, PUT_SPREAD, STRUCTURES, IVRankConfig

MAX_LEGS = 4
_SIGNS = {IRON_CONDOR: (1.0, -1.0, -1.0, 1.0), PUT_SPREAD: (1.0, -1.0), CALL_SPREAD: (-1.0, 1.0),
          LONG_STRADDLE: (1.0, 1.0)}


@dataclass(frozen=True)
class Candidates:
    """n candidate trades; leg arrays are (n, MAX_LEGS), `row` indexes the asset chain's rows."""

    entry: np.ndarray  # chain day index of the entry close
    structure: np.ndarray  # index into STRUCTURES
    row: np.ndarray  # chain row of each leg at entry (-1: no leg)
    qty: np.ndarray  # signed coins per leg (+ long), 0 for no leg

    @property
    def size(self) -> int:
        return int(self.entry.size)


def _rows(day: DayChain, block: slice, name: str, cfg: IVRankConfig, deltas: BlockDeltas) -> np.ndarray | None:
    if name == LONG_STRADDLE:
        pair = atm_pair(day, block)
        return None if pair is None else np.array(pair)
    pick = {IRON_CONDOR: condor_rows, PUT_SPREAD: put_spread_rows, CALL_SPREAD: call_spread_rows}[name]
    return pick(day, block, cfg.short_delta, cfg.wing_delta, deltas)


def build_candidates(chain: AssetChain, cfg: IVRankConfig, days: np.ndarray | None = None) -> Candidates:
    """Candidates on `days` (chain day indices; default every day but the last, which cannot be held)."""
    n_days = len(chain.dates)
    days = np.arange(n_days - 1) if days is None else np.asarray(days, int)
    entry, struct, rows, qty = [], [], [], []
    for i in days.tolist():
        day = chain.day(i)
        block = expiry_window(day, cfg.entry_dte_min, cfg.entry_dte_max, cfg.entry_dte_target)
        if block is None:
            continue
        start = int(chain.starts[i])
        units = round_to_step(cfg.notional_usd / float(day.fwd[block.start]), cfg.qty_step)
        deltas = block_deltas(day, block)
        for s, name in enumerate(STRUCTURES):
            r = _rows(day, block, name, cfg, deltas)
            if r is None:
                continue
            legs = np.full(MAX_LEGS, -1, np.int64)
            legs[: r.size] = start + r
            q = np.zeros(MAX_LEGS)
            q[: r.size] = units * np.asarray(_SIGNS[name])
            entry.append(i)
            struct.append(s)
            rows.append(legs)
            qty.append(q)
    if not entry:
        return Candidates(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, MAX_LEGS), np.int64),
                          np.zeros((0, MAX_LEGS)))
    return Candidates(np.asarray(entry, np.int64), np.asarray(struct, np.int64), np.stack(rows), np.stack(qty))
