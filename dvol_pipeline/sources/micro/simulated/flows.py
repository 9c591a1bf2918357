"""External market orders of one instrument-day: metaorder children and liquidations.

Metaorders (Lillo-Farmer): they start as a Poisson process following the intraday
activity; a metaorder's number of children is Pareto(alpha) (alpha 1.5: trade signs then
autocorrelate like lag^-(alpha-1), a long memory); children arrive with exponential gaps
and one sign, and move this venue's fair price by meta_impact_bps * (sqrt(i) - sqrt(i-1))
for the i-th child, so a metaorder of n children has impact ~ sqrt(n): the square-root law.

Liquidations (perpetual only): a self-exciting (Hawkes) count per second whose base rate
grows exponentially with the excess of the last minute's absolute fair-price move over
1.5 sd, in that move's direction (falls liquidate longs: sells); each is a large market
order on the perpetual and moves the whole market's fair price by liq_impact_bps (spot
follows the perp), and each excites more: cascades.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .params import SimConfig

NS = 1_000_000_000
DAY_S = 86_400


@dataclass(frozen=True)
class Metaorders:
    """The day's metaorders (truth for the concave-impact fact; not a raw table)."""

    start_ns: np.ndarray
    end_ns: np.ndarray
    sign: np.ndarray
    children: np.ndarray
    lots: np.ndarray


def metaorders(rng: np.random.Generator, activity_s: np.ndarray, mean_lots: float, bps_ticks: float,
               cfg: SimConfig) -> tuple[np.ndarray, ...]:
    """Children as (t ns, sign, lots, impact ticks, kind 0) sorted by time, and the Metaorders truth."""
    lam = cfg.meta_rate * cfg.intensity * activity_s
    n_start = rng.poisson(lam)
    starts_s = np.repeat(np.arange(DAY_S), n_start) + rng.random(int(n_start.sum()))
    m = starts_s.size
    u = rng.random(m)
    n = np.minimum(np.floor(u ** (-1.0 / cfg.meta_alpha)), cfg.meta_max_children).astype(np.int64)
    sign = np.where(rng.random(m) < 0.5, 1, -1)
    total = int(n.sum())
    if total == 0:
        empty = np.zeros(0, np.int64)
        return (empty, empty, empty, np.zeros(0), empty,
                Metaorders(empty, empty, empty, empty, np.zeros(0)))
    owner = np.repeat(np.arange(m), n)
    gaps = rng.exponential(cfg.child_gap_s, total)
    first = np.concatenate([[0], np.cumsum(n)[:-1]])
    csum = np.cumsum(gaps)
    offset = csum - np.repeat(csum[first] - gaps[first], n)
    t_s = starts_s[owner] + offset
    i_child = np.arange(total) - np.repeat(first, n) + 1
    lots = np.maximum(1, np.round(rng.lognormal(np.log(mean_lots), 0.8, total))).astype(np.int64)
    impact = sign[owner] * cfg.meta_impact_bps * bps_ticks * (np.sqrt(i_child) - np.sqrt(i_child - 1.0))
    keep = t_s < DAY_S
    t_ns = (t_s[keep] * NS).astype(np.int64)
    order = np.argsort(t_ns, kind="stable")
    kept_n = np.bincount(owner[keep], minlength=m)
    end_s = np.full(m, -1.0)
    np.maximum.at(end_s, owner[keep], t_s[keep])
    vol = np.bincount(owner[keep], weights=lots[keep], minlength=m)
    truth = Metaorders((starts_s * NS).astype(np.int64), (end_s * NS).astype(np.int64), sign, kept_n, vol)
    return (t_ns[order], sign[owner][keep][order].astype(np.int64), lots[keep][order], impact[keep][order],
            np.zeros(int(keep.sum()), np.int64), truth)


@njit(cache=True)
def _hawkes(log_fair, sig_s, base, sens, branching, decay, cap):
    n = log_fair.size - 1
    counts = np.zeros(n, np.int64)
    sides = np.zeros(n, np.int64)
    excite = 0.0
    for s in range(n):
        s0 = max(s - 60, 0)
        move = log_fair[s + 1] - log_fair[s0]
        sd = sig_s[s] * np.sqrt(s + 1 - s0)
        z = abs(move) / sd
        lam = base * np.exp(sens * max(z - 1.5, 0.0)) + excite
        k = np.random.poisson(min(lam, cap))
        counts[s] = k
        sides[s] = 1 if move > 0 else -1
        excite = excite * decay + branching * (1.0 - decay) * k
    return counts, sides


@njit(cache=True)
def _seeded_hawkes(seed, log_fair, sig_s, base, sens, branching, decay, cap):
    np.random.seed(seed)
    return _hawkes(log_fair, sig_s, base, sens, branching, decay, cap)


def liquidations(rng: np.random.Generator, log_fair: np.ndarray, sig_s: np.ndarray, mean_lots: float,
                 cfg: SimConfig) -> tuple[np.ndarray, ...]:
    """Liquidation market orders (t ns, sign, lots, impact 0, kind 1) sorted by time, and the fair price's
    log move they cause (86 401 second boundaries; the whole market moves, spot included)."""
    decay = 0.5 ** (1.0 / cfg.liq_halflife_s)
    base = cfg.liq_base_per_hour / 3600.0 * cfg.intensity
    seed = int(rng.integers(0, 2**31 - 1))
    counts, sides = _seeded_hawkes(seed, log_fair, sig_s, base, cfg.liq_sensitivity, cfg.liq_branching, decay,
                                   cfg.liq_max_rate * cfg.intensity)
    total = int(counts.sum())
    t_s = np.repeat(np.arange(DAY_S), counts) + rng.random(total)
    sign = np.repeat(sides, counts)
    lots = np.maximum(1, np.round(cfg.liq_size_mult * rng.lognormal(np.log(mean_lots), 1.0, total))).astype(np.int64)
    order = np.argsort(t_s, kind="stable")
    t_s, sign, lots = t_s[order], sign[order], lots[order]
    step = np.bincount(np.ceil(t_s).astype(np.int64), weights=sign * cfg.liq_impact_bps * 1e-4, minlength=DAY_S + 1)
    return ((t_s * NS).astype(np.int64), sign.astype(np.int64), lots, np.zeros(total), np.ones(total, np.int64),
            np.cumsum(step[: DAY_S + 1]))
