"""Marks and quotes that look like a Deribit dump, not like the model surface.

Why: a chain whose marks lie exactly on the model smile and whose quotes bracket them
symmetrically makes every smile fit and the DVOL replica trivially perfect. A real dump
differs from any parametric smile in documented ways, and so does this one (all draws per
day, from their own random streams, so a day never depends on the requested range):

* marks: the venue's mark is a smoothed fair value, not an exact SVI smile: per expiry a
  small level, skew and a localised bump off the model (not in the SVI family), plus a
  tiny per-strike wobble shared by the call and the put; mark_price is Black-76 of that
  mark_iv on the expiry's forward (put-call parity holds on the marks);
* quotes: bid and ask sit around the model's fair value (not around the mark), with a
  mid shifted by part of the half-spread and each side widened by its own noise, so the
  mid differs from the mark and the spread is asymmetric; wings and short expiries are
  wider (`chains._quotes`);
* stale quotes: some far strikes (|y| > STALE_MIN_Y) still carry yesterday's resting
  quote in coin, priced off yesterday's forward and smile, while the underlying moved;
* missing strikes: a strike (its call and put) is absent on a day with a probability that
  grows in the wings; deep OTM options (|y| > NO_BID_MIN_Y) often have no bid, a few show
  a zero bid (Deribit lists those; the contract keeps them, the smile filter drops them);
* crossed quotes: very rarely bid > ask (a snapshot stitched from two instants); the
  raw_option_chain contract quarantines those rows.

The published DVOL is computed from the clean model marks (the exchange's own index), so
the pipeline's replica from this chain differs from it by a realistic amount.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .rng import STREAM_MARKS, STREAM_QUOTES, per_day_normals

MARK_LEVEL_SD = 0.002
"""Per-expiry relative shift of the mark smile's level."""
MARK_SKEW_SD = 0.003
"""Per-expiry relative tilt, times tanh(y / 2)."""
MARK_BUMP_SD = 0.006
"""Per-expiry relative Gaussian bump exp(-(y - c)^2 / 2), c uniform in +-2."""
MARK_STRIKE_SD = 0.001
"""Per-strike relative wobble (times 1 + |y| / 2)."""
MID_SHIFT = 0.2
"""Sd of the quote mid off the model fair value, in half-spreads."""
SIDE_NOISE = 0.3
"""Log-sd of each side's own distance to the mid (asymmetric spreads)."""
STALE_MIN_Y, STALE_P = 1.5, 0.12
"""Far strikes (|y| beyond) keep yesterday's quote with this probability."""
MISSING_BASE_P, MISSING_WING_P = 0.005, 0.15
"""A strike with |y| > 0.5 is absent with MISSING_BASE_P, plus up to MISSING_WING_P far out."""
NO_BID_MIN_Y, NO_BID_P = 2.5, 0.35
"""Deep OTM quotes (|y| beyond) lose their bid with this probability."""
ZERO_BID_P = 0.03
"""Share of bid-less rows shown with a zero bid instead of none."""
CROSSED_P = 2e-5
"""Probability of a crossed quote (bid above ask) per row."""
N_ROW_DRAWS, N_EXPIRY_DRAWS = 7, 4


def mark_iv(g: dict, seed: int, coin_id: int, days: np.ndarray) -> np.ndarray:
    """The venue's mark IV (decimal): the model smile with per-expiry and per-strike noise.

    A strike's call and put share one mark IV (rows come as call, put), so the marks keep
    put-call parity on the quoted forward, as Deribit's do."""
    e_counts = np.bincount(g["e_day_pos"], minlength=days.size)
    ze = per_day_normals(seed, STREAM_MARKS, coin_id, days, e_counts, k=N_EXPIRY_DRAWS)[:, g["e_idx"]]
    zr = g["row_draws"]
    y = g["y"]
    centre = 4.0 * ndtr(ze[3]) - 2.0
    rel = (
        MARK_LEVEL_SD * ze[0]
        + MARK_SKEW_SD * ze[1] * np.tanh(0.5 * y)
        + MARK_BUMP_SD * ze[2] * np.exp(-0.5 * (y - centre) ** 2)
        + MARK_STRIKE_SD * (1.0 + 0.5 * np.abs(y)) * np.repeat(zr[0][0::2], 2)
    )
    return g["iv"] * (1.0 + rel)


def row_draws(g: dict, seed: int, coin_id: int, days: np.ndarray) -> np.ndarray:
    """(N_ROW_DRAWS, rows) normals, drawn per day."""
    counts = np.bincount(g["day_pos"], minlength=days.size)
    return per_day_normals(seed, STREAM_QUOTES, coin_id, days, counts, k=N_ROW_DRAWS)


def present(g: dict) -> np.ndarray:
    """Rows whose strike is listed today: call and put of a strike share one draw."""
    u = ndtr(g["row_draws"][5])
    pair_u = np.repeat(u[0::2], 2)  # rows come as (call, put) per strike
    ay = np.abs(g["y"])
    p_miss = MISSING_BASE_P * (ay > 0.5) + MISSING_WING_P * np.clip((ay - 1.0) / 2.0, 0.0, 1.0)
    return pair_u >= p_miss


def stale_rows(g: dict) -> np.ndarray:
    """Far strikes of expiries listed yesterday that keep yesterday's quote."""
    u = ndtr(g["row_draws"][4])
    return g["listed_before"] & (np.abs(g["y"]) > STALE_MIN_Y) & (u < STALE_P)


def bid_ask(g: dict, fair: np.ndarray, half: np.ndarray, tick: float) -> tuple[np.ndarray, np.ndarray]:
    """Tick-rounded bid (NaN: none) and ask around `fair`, with the shifted mid, asymmetric
    sides, missing and zero bids in the deep wings and the rare crossed quote."""
    z = g["row_draws"]
    mid = fair + MID_SHIFT * half * z[1]
    ticks = 1.0 / tick  # dividing integer tick counts keeps prices exact decimals
    ask = np.ceil((mid + half * np.exp(SIDE_NOISE * z[2])) * ticks) / ticks
    bid = np.floor((mid - half * np.exp(SIDE_NOISE * z[3])) * ticks) / ticks
    ask = np.maximum(ask, tick)
    bid = np.where(bid >= ask, ask - tick, bid)
    u = ndtr(z[6])
    no_bid = (bid <= 0) | ((np.abs(g["y"]) > NO_BID_MIN_Y) & (u < NO_BID_P))
    bid = np.where(no_bid, np.where(u > 1.0 - ZERO_BID_P, 0.0, np.nan), bid)
    crossed = (u > NO_BID_P) & (u < NO_BID_P + CROSSED_P) & ~no_bid
    bid = np.where(crossed, ask + tick * (1.0 + np.floor(3.0 * ndtr(z[1]))), bid)
    return bid, ask
