"""Daily DVOL bars computed from the exchange's own marks.

Why: the real DVOL is a variance swap replicated from option marks, so the simulated one
is too. The close of day D is `replicate_dvol` on D's clean end-of-day marks of every
listed strike (`chains.build_chain` returns it next to the chain): the exchange computes
its index from its own fair values, not from the dump a user downloads, whose marks,
stale quotes and missing strikes (`quotes`) make the pipeline's replica differ. The intraday
open/high/low follow the model's hourly 30-day variance-swap level, rescaled so that its
end-of-day value equals the replicated close (the replica's discretisation error is a
per-day factor of a fraction of a percent). Including the close in the max/min keeps
low <= open, close <= high exactly.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .calendar import US_PER_DAY
from .chains import snapshot_us
from .paths import CoinPath
from .surface import level30


def dvol_bars(path: CoinPath, days: np.ndarray, published: pl.DataFrame) -> pl.DataFrame:
    """raw_dvol rows of one coin for day indices `days`; `published` (ts, dvol) covers those days."""
    days = np.asarray(days, np.int64)
    ts_us = snapshot_us(path.start, days)
    close = (
        pl.DataFrame({"ts": pl.Series(ts_us).cast(pl.Datetime("us", "UTC"))})
        .join(published.select("ts", "dvol"), on="ts", how="left")["dvol"]
        .to_numpy()
    )
    if np.isnan(close).any():
        raise RuntimeError(f"DVOL replication failed on {int(np.isnan(close).sum())} {path.coin} day(s)")
    hourly = level30(path, 24 * days[:, None] + np.arange(25)[None, :])
    scale = close / hourly[:, -1]
    path_scaled = hourly * scale[:, None]
    open_ = path_scaled[:, 0]
    high = np.maximum(path_scaled.max(axis=1), close)
    low = np.minimum(path_scaled.min(axis=1), close)
    return pl.DataFrame(
        {
            "ts": pl.Series(ts_us + 1_000_000 - US_PER_DAY).cast(pl.Datetime("us", "UTC")),
            "asset": pl.repeat(path.coin, days.size, eager=True),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
        }
    )
