"""Daily DVOL bars computed from the simulated chains.

Why: the real DVOL is a variance swap replicated from option marks, so the simulated one
is too. The close of day D is `replicate_dvol` on D's end-of-day chain; the intraday
open/high/low follow the model's hourly 30-day variance-swap level, rescaled so that its
end-of-day value equals the replicated close (the replica's discretisation error is a
per-day factor of a fraction of a percent). Including the close in the max/min keeps
low <= open, close <= high exactly.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dvol_pipeline.quant.variance_swap import replicate_dvol

from .calendar import US_PER_DAY
from .chains import CHUNK_DAYS, snapshot_us
from .paths import CoinPath
from .surface import level30


def dvol_bars(path: CoinPath, days: np.ndarray, chain: pl.DataFrame) -> pl.DataFrame:
    """raw_dvol rows of one coin for day indices `days`; `chain` covers those days."""
    days = np.asarray(days, np.int64)
    own = chain.filter(pl.col("asset") == path.coin)
    block = (pl.col("ts").dt.epoch("us") // (US_PER_DAY * CHUNK_DAYS)).alias("__block")
    # snapshot by snapshot, a block of days at a time: the strip's temporaries stay small
    blocks = own.with_columns(block).partition_by("__block", maintain_order=True, include_key=False)
    rep = pl.concat([replicate_dvol(b) for b in blocks]) if blocks else replicate_dvol(own)
    ts_us = snapshot_us(path.start, days)
    close = (
        pl.DataFrame({"ts": pl.Series(ts_us).cast(pl.Datetime("us", "UTC"))})
        .join(rep.select("ts", "dvol"), on="ts", how="left")["dvol"]
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
