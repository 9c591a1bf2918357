"""Monthly walk-forward folds with a purge, so no training label overlaps the test month.

Fold `M` predicts every day of month M. A training row D carries the label
y_h(D) = DVOL(D+h) − DVOL(D), which is only known at D+h; so training uses days with
D + h < start(M), i.e. D <= start(M) − h − 1 (the purge). Training only ever looks back,
so the embargo after the test month is automatic: no fold trains on anything after it.

A fold runs once its purged training window holds `min_history_days` days from the first
day (`too_little_history`); `monthly_folds` and `month_folds` both ask it, so the rule has
one definition. `feature_span` is the range of feature days a set of folds reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

DEFAULT_MIN_HISTORY_DAYS = 365


@dataclass(frozen=True)
class Fold:
    key: str  # "2023-04": also the Dagster partition key
    horizon: int
    train_start: date
    train_end: date  # inclusive, = test_start - horizon - 1 day
    test_start: date
    test_end: date  # inclusive


def month_start(month: date | str) -> date:
    """The first day of a month, given a day in it or its fold key "YYYY-MM"."""
    if isinstance(month, str):
        year, number = month.split("-")
        return date(int(year), int(number), 1)
    return month.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def fold_for_month(
    key: str,
    horizon: int,
    first_day: date,
    window: str = "expanding",
    rolling_days: int | None = None,
) -> Fold:
    """The fold whose test month is `key` ("YYYY-MM")."""
    test_start = date.fromisoformat(key + "-01")
    train_end = test_start - timedelta(days=horizon + 1)
    if window == "expanding":
        train_start = first_day
    elif window == "rolling":
        if not rolling_days:
            raise ValueError("a rolling window needs rolling_days")
        train_start = max(first_day, train_end - timedelta(days=rolling_days - 1))
    else:
        raise ValueError(f"window must be 'expanding' or 'rolling', not {window!r}")
    return Fold(key, horizon, train_start, train_end, test_start, next_month(test_start) - timedelta(days=1))


def too_little_history(fold: Fold, first_day: date, min_history_days: int) -> str | None:
    """Why `fold` does not run (fewer than `min_history_days` days of purged training history
    from `first_day`), or None when it runs."""
    days = (fold.train_end - first_day).days + 1
    return f"{days} days of purged history < {min_history_days}" if days < min_history_days else None


def monthly_folds(
    first_day: date,
    last_day: date,
    horizon: int,
    min_history_days: int = DEFAULT_MIN_HISTORY_DAYS,
    window: str = "expanding",
    rolling_days: int | None = None,
) -> list[Fold]:
    """Every month from the first with `min_history_days` of purged training data to `last_day`."""
    folds = []
    month = month_start(first_day)
    while month <= last_day:
        fold = fold_for_month(f"{month:%Y-%m}", horizon, first_day, window, rolling_days)
        if too_little_history(fold, first_day, min_history_days) is None:
            folds.append(fold)
        month = next_month(month)
    return folds


def split(frame: pl.DataFrame, fold: Fold, target: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(train rows with a known label, test rows of the fold's month); `frame` has a `date` column."""
    train = frame.filter(pl.col("date").is_between(fold.train_start, fold.train_end) & pl.col(target).is_not_null())
    test = frame.filter(pl.col("date").is_between(fold.test_start, fold.test_end))
    return train, test


@dataclass(frozen=True)
class WalkForwardConfig:
    """The walk-forward's choices, typed (the `oos_predictions` asset exposes them in the launchpad).

    `families` empty means every member family of the registry (the ensemble is added on
    top whenever earlier folds exist). `explain` computes LightGBM SHAP and the group
    ablations (they cost a refit per feature group per horizon), for the folds that
    `explains` picks: the newest fold of a run and every `explain_every`-th month counted
    from `explain_from` (default: 2022-04, 2022-10, 2023-04, ...); `explain_every=1`
    explains every fold, `explain=False` none. `workers` > 1 fits the families of a fold
    in a pool of that many processes (`parallel.py`; identical results; worth it for long
    backfills on free cores, hence off by default).
    """

    seed: int = 0
    families: tuple[str, ...] = ()
    window: str = "expanding"
    rolling_days: int | None = None
    min_history_days: int = DEFAULT_MIN_HISTORY_DAYS
    explain: bool = True
    explain_every: int = 6
    explain_from: str = "2022-04"
    workers: int = 1

    def __post_init__(self) -> None:
        if self.window not in ("expanding", "rolling"):
            raise ValueError(f"window must be 'expanding' or 'rolling', not {self.window!r}")
        if self.window == "rolling" and not self.rolling_days:
            raise ValueError("a rolling window needs rolling_days")
        if self.min_history_days < 1 or self.explain_every < 1 or self.workers < 1:
            raise ValueError("min_history_days, explain_every and workers must be >= 1")
        _month_index(self.explain_from)

    def explains(self, fold_key: str, newest: bool = False) -> bool:
        """Whether fold `fold_key` ("YYYY-MM") gets SHAP and group ablations in a run where
        it is the newest fold (`newest`) or not. The answer depends on the month alone
        (and `newest`), so a fold is explained the same way whichever range a run covers."""
        if not self.explain:
            return False
        return newest or (_month_index(fold_key) - _month_index(self.explain_from)) % self.explain_every == 0


def _month_index(key: str) -> int:
    try:
        year, month = (int(part) for part in key.split("-"))
    except ValueError:
        raise ValueError(f"a fold key is 'YYYY-MM', not {key!r}") from None
    if not 1 <= month <= 12 or len(key) != 7:
        raise ValueError(f"a fold key is 'YYYY-MM', not {key!r}")
    return 12 * year + month - 1


@dataclass(frozen=True)
class MonthFolds:
    """The folds of one test month: per horizon, the fold that runs or why it does not."""

    key: str
    runs: dict[int, Fold]
    skipped: dict[int, str]


def month_folds(key: str, horizons: Sequence[int], first_day: date,
                config: WalkForwardConfig = WalkForwardConfig()) -> MonthFolds:
    """Month `key`'s fold of every horizon under `config` (window and minimum history)."""
    runs, skipped = {}, {}
    for h in horizons:
        fold = fold_for_month(key, h, first_day, config.window, config.rolling_days)
        why = too_little_history(fold, first_day, config.min_history_days)
        if why is None:
            runs[h] = fold
        else:
            skipped[h] = why
    return MonthFolds(key, runs, skipped)


def feature_span(folds: Iterable[Fold], context_days: int) -> tuple[date, date] | None:
    """(first, last) day of features that `folds` read: each fold's training window, and the
    `context_days` before its test month that a model reads to predict the month's first
    day (the fold's prediction context); None for no fold."""
    folds = list(folds)
    if not folds:
        return None
    first = min(min(f.train_start, f.test_start - timedelta(days=context_days)) for f in folds)
    return first, max(f.test_end for f in folds)
