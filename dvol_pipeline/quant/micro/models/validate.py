"""Validation schemes: purged k-fold with an embargo (tuning), expanding walk-forward folds by time,
the cross-symbol split, and a per-bar regime label.

Purged k-fold: scikit-learn's `KFold`/`TimeSeriesSplit` neither purge nor embargo (and the common
purged implementations default the embargo to 0), so it is written here. Sample i's label spans
[t0_i, t1_i] (the bar's close to the close of its last label bar). A test block is a contiguous
run of rows, spanning [T0, T1] = [min t0, max t1]; training keeps row i only if
t1_i + embargo < T0 or t0_i - embargo > T1: the label intervals, widened by the embargo on both
sides, never touch the test block's. With t in bar indices and t1 = t0 + h, every training index
is more than h + embargo bars from every test index.

Walk-forward: half-open windows [start, end). Fold 0 trains on [first, first + min_train), tests
on [train_end + embargo, + test); each later fold moves the test window by `step`, the training
window expands from `first` to test_start - embargo. A training row also needs its label to end
before train_end (`ts + horizon < train_end`), so no label reaches into the embargo or the test.
The plan's config is days (90/30/30/1); the demo's is the same in hours or minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numba
import numpy as np
import polars as pl

from dvol_pipeline.quant.micro.features.frames import coin_expr

# ------------------------------------------------------------------ purged k-fold

def purged_kfold(t0: np.ndarray, t1: np.ndarray, n_splits: int, embargo: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(train rows, test rows)] of `n_splits` contiguous test blocks over rows sorted by `t0`;
    `t1` >= `t0` is each label's end, `embargo` (same unit: bars or ns) is set explicitly."""
    t0, t1 = np.asarray(t0), np.asarray(t1)
    n = t0.size
    if n_splits < 2 or n_splits > n:
        raise ValueError(f"n_splits must be within 2..{n}, got {n_splits}")
    if embargo < 0:
        raise ValueError("embargo must be >= 0")
    if np.any(np.diff(t0) < 0) or np.any(t1 < t0):
        raise ValueError("t0 must be sorted and t1 >= t0")
    out = []
    for test in np.array_split(np.arange(n), n_splits):
        lo, hi = t0[test].min(), t1[test].max()
        keep = (t1 + embargo < lo) | (t0 - embargo > hi)
        out.append((np.flatnonzero(keep), test))
    return out


def purged_kfold_bars(n: int, n_splits: int, horizon: int, embargo: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`purged_kfold` on bar indices: row i's label covers bars i..i+horizon."""
    t0 = np.arange(n)
    return purged_kfold(t0, t0 + horizon, n_splits, embargo)


# ------------------------------------------------------------------ walk-forward

@dataclass(frozen=True)
class FoldConfig:
    """Expanding walk-forward; the plan's default. Scale it down with hours/minutes for the demo."""

    min_train: timedelta = timedelta(days=90)
    test: timedelta = timedelta(days=30)
    step: timedelta = timedelta(days=30)
    embargo: timedelta = timedelta(days=1)
    partial_last: bool = False
    """Keep a last fold whose test window the data cut short."""

    def __post_init__(self) -> None:
        if self.min_train <= timedelta(0) or self.test <= timedelta(0) or self.step <= timedelta(0):
            raise ValueError("min_train, test and step must be positive")
        if self.embargo < timedelta(0):
            raise ValueError("embargo must be >= 0")


@dataclass(frozen=True)
class TimeFold:
    fold: int
    train_start: datetime
    train_end: datetime  # exclusive
    test_start: datetime  # = train_end + embargo
    test_end: datetime  # exclusive


def walkforward_folds(first: datetime, end: datetime, config: FoldConfig = FoldConfig()) -> list[TimeFold]:
    """The folds over data in [first, end)."""
    folds: list[TimeFold] = []
    test_start = first + config.min_train + config.embargo
    while test_start < end:
        test_end = test_start + config.test
        if test_end > end:
            if not config.partial_last:
                break
            test_end = end
        folds.append(TimeFold(len(folds), first, test_start - config.embargo, test_start, test_end))
        test_start += config.step
    return folds


def fold_rows(frame: pl.DataFrame, fold: TimeFold, horizon: timedelta) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(training rows whose label ends before train_end, test rows) of `frame` (a `ts` column)."""
    train = frame.filter((pl.col("ts") >= fold.train_start) & (pl.col("ts") + horizon < fold.train_end))
    test = frame.filter((pl.col("ts") >= fold.test_start) & (pl.col("ts") < fold.test_end))
    return train, test


# ------------------------------------------------------------------ cross-symbol

def cross_symbol_split(frame: pl.DataFrame, train_coin: str = "BTC",
                       test_coins: tuple[str, ...] = ("ETH", "SOL")) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """(rows of the training coin, {coin: its rows}) by the symbol's base coin (BTCUSDT -> BTC).
    A test coin equal to the training coin is refused: the test symbol is never trained on."""
    if train_coin in test_coins:
        raise ValueError(f"cross-symbol: {train_coin} cannot be both the training and a test symbol")
    coins = frame.with_columns(__coin=coin_expr("symbol"))
    train = coins.filter(pl.col("__coin") == train_coin).drop("__coin")
    return train, {c: coins.filter(pl.col("__coin") == c).drop("__coin") for c in test_coins}


# ------------------------------------------------------------------ regimes

VOL_LEVELS = ("low", "mid", "high")


@numba.njit(cache=True)
def _trailing_pct(x, window, min_count):  # pragma: no cover - numba
    """Share of the finite values in the `window` values ending at t that are <= x[t]."""
    n = x.size
    out = np.full(n, np.nan)
    for t in range(n):
        if not np.isfinite(x[t]):
            continue
        c, le = 0, 0
        for j in range(max(0, t - window + 1), t + 1):
            if np.isfinite(x[j]):
                c += 1
                if x[j] <= x[t]:
                    le += 1
        if c >= min_count:
            out[t] = le / c
    return out


def trailing_percentile(x: np.ndarray, window: int, min_count: int | None = None) -> np.ndarray:
    """Trailing percentile rank of x[t] among the `window` values ending at t (past only)."""
    return _trailing_pct(np.asarray(x, np.float64), int(window), int(min_count or max(2, window // 4)))


def regime_labels(frame: pl.DataFrame, vol: str = "rv_60", adx: str = "adx_14", window: int = 1440,
                  adx_trend: float = 25.0) -> pl.Series:
    """`regime` per row: `<low|mid|high>_<range|trend>`, volatility by the trailing percentile of `vol`
    (terciles, per venue and symbol, rows in `ts` order) and trend by `adx` >= `adx_trend` (Wilder's
    usual 25; a frame without `adx` gets `_all`). Null where the inputs are. Aligned with `frame`'s rows."""
    idx = frame.with_row_index("__i")
    parts = []
    for part in idx.partition_by(["venue", "symbol"], maintain_order=True):
        part = part.sort("ts")
        p = trailing_percentile(part[vol].cast(pl.Float64).fill_null(np.nan).to_numpy(), window)
        parts.append(part.select("__i", pl.Series("__p", p, pl.Float64, nan_to_null=True),
                                 (pl.col(adx).cast(pl.Float64) if adx in frame.columns
                                  else pl.lit(None, pl.Float64)).alias("__adx")))
    if not parts:
        return pl.Series("regime", [], pl.Utf8)
    both = pl.concat(parts).sort("__i")
    level = (pl.when(pl.col("__p") <= 1 / 3).then(pl.lit("low"))
             .when(pl.col("__p") <= 2 / 3).then(pl.lit("mid")).otherwise(pl.lit("high")))
    trend = (pl.lit("all") if adx not in frame.columns else
             pl.when(pl.col("__adx") >= adx_trend).then(pl.lit("trend")).otherwise(pl.lit("range")))
    ok = pl.col("__p").is_not_null() & (pl.col("__adx").is_not_null() if adx in frame.columns else pl.lit(True))
    return both.select(pl.when(ok).then(pl.concat_str([level, trend], separator="_")).alias("regime"))["regime"]
