"""Independent, seeded random streams per (seed, stream, coin, venue, day).

Why: the pipeline may simulate one day at a time; a day's rows must equal the same day
inside a range, so nothing random may depend on the days simulated before it.
"""

from __future__ import annotations

from datetime import date

import numpy as np

STREAM_FAIR = 1
STREAM_BASIS = 2
STREAM_BOOK = 3
STREAM_FLOW = 4
STREAM_CLOCK = 5
VENUE_IDS = {"sim_spot": 1, "sim_usdm": 2}


def seed_sequence(seed: int, stream: int, coin_id: int, day: date, venue: str | None = None) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), 0x5EC0, stream, coin_id, VENUE_IDS.get(venue, 0), day.toordinal()])


def stream_rng(seed: int, stream: int, coin_id: int, day: date, venue: str | None = None) -> np.random.Generator:
    return np.random.default_rng(seed_sequence(seed, stream, coin_id, day, venue))


def numba_seed(seed: int, stream: int, coin_id: int, day: date, venue: str | None = None) -> int:
    """A 31-bit seed for numba's generator (np.random.seed inside an njit function)."""
    return int(seed_sequence(seed, stream, coin_id, day, venue).generate_state(1)[0] & 0x7FFFFFFF)
