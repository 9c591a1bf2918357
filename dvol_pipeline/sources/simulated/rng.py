"""Per-day random blocks: the determinism and range-independence guarantee.

Why: a day's values must not depend on how far the market was simulated or which range a
caller asked for. Every random number is therefore drawn from a generator seeded by
(seed, stream, coin, day index), in fixed-size blocks per day; the block for day D is the
same whatever else is drawn. Paths are then built by sequential filters (cumsum,
lfilter) whose value at step t depends only on steps <= t.
"""

from __future__ import annotations

import numpy as np

STREAM_COMMON = 1
"""Market-wide shocks shared by all coins (so a coin's path is the same in any universe)."""
STREAM_COIN = 2
"""A coin's own state shocks (returns, vol, premium, IV noise, daily flows)."""
STREAM_BARS = 3
"""Sub-hour bridges and volumes: drawn only for requested days, never feed the state."""
STREAM_CHAIN = 4
"""Per-instrument option noise (open interest, volume, spreads)."""
STREAM_QUOTES = 5
"""Per-instrument quote realism (mark wobble, quote noise, stale, missing, crossed); its own
stream so that adding it left every other series unchanged."""
STREAM_MARKS = 6
"""Per-expiry deviations of the venue's mark smile from the model smile."""
COMMON_COIN_ID = 0


def day_rng(seed: int, stream: int, coin_id: int, day: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream, coin_id, day]))


def hourly_blocks(
    seed: int, stream: int, coin_id: int, n_days: int, n_normal: int, n_uniform: int,
    n_gamma: int = 0, gamma_shape: float = 1.0, n_daily: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw per-day blocks for days 0..n_days-1 and lay them out as hourly series.

    Returns normals (n_normal, 24*n_days), uniforms (n_uniform, 24*n_days), gammas
    (n_gamma, 24*n_days) and daily normals (n_daily, n_days).
    """
    nrm = np.empty((n_days, n_normal, 24))
    uni = np.empty((n_days, n_uniform, 24))
    gam = np.empty((n_days, n_gamma, 24))
    daily = np.empty((n_days, n_daily))
    for d in range(n_days):
        rng = day_rng(seed, stream, coin_id, d)
        nrm[d] = rng.standard_normal((n_normal, 24))
        uni[d] = rng.random((n_uniform, 24))
        if n_gamma:
            gam[d] = rng.standard_gamma(gamma_shape, (n_gamma, 24))
        if n_daily:
            daily[d] = rng.standard_normal(n_daily)

    def hourly(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a.transpose(1, 0, 2).reshape(a.shape[1], 24 * n_days))

    return hourly(nrm), hourly(uni), hourly(gam), np.ascontiguousarray(daily.T)


def per_day_normals(
    seed: int, stream: int, coin_id: int, days: np.ndarray, counts: np.ndarray, k: int = 1
) -> np.ndarray:
    """Standard normals (k, sum(counts)): counts[i] columns drawn for day days[i], in order."""
    parts = [
        day_rng(seed, stream, coin_id, int(d)).standard_normal((k, int(n))) for d, n in zip(days, counts)
    ]
    return np.concatenate(parts, axis=1) if parts else np.empty((k, 0))
