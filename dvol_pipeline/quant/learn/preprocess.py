"""Preprocessing fitted on the training window only, and the end-of-window validation split.

* `Preprocessor`: forward-fill within asset (causal: a row only sees earlier rows of its
  asset), then the training medians for what is still missing (the start of history), then
  optional standardisation with the training mean/std. Medians, means and stds are learned
  in `fit` from the training frame and never again; `transform` applies them to any frame.
  It serialises to a JSON dict that each forecaster stores in its manifest.
* `add_gaps`: vol-point level features expressed relative to today's DVOL
  (`gap_rv_22 = rv_22 - dvol`), which is the quantity mean reversion acts on; trees and the
  LSTM see it directly instead of having to learn a difference of two levels.
* `split_validation`: the validation slice is the last dates of the training window; the
  `horizon` days before it are purged so that no train-proper label (which looks `h` days
  ahead) overlaps a validation day.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

ROW = "__row"
_ALIAS = {"dvol_mean_": "dvol_ma{}", "rv_": "rv_{}d", "garch_vol_": "garch_vol{}"}


def aliases(role: str) -> tuple[str, ...]:
    """Column names that play `role`: the contract's name, then the feature table's spelling.

    `dvol_mean_22` is also `dvol_ma22`, `rv_22` also `rv_22d`, `garch_vol_30` also
    `garch_vol30` (quant/dvol/features names its columns that way).
    """
    match = re.fullmatch(r"(dvol_mean_|rv_|garch_vol_)(\d+)", role)
    return (role, _ALIAS[match.group(1)].format(match.group(2))) if match else (role,)


def resolve(role: str, available) -> str | None:
    """The first column among `available` that plays `role`, or None."""
    return next((name for name in aliases(role) if name in available), None)


GAP_SOURCES = tuple(a for role in ("dvol_lag1", "dvol_mean_5", "dvol_mean_22", "dvol_mean_66", "rv_1", "rv_5", "rv_22",
                                   "garch_vol_30") for a in aliases(role))
"""Features in vol points that the data contract defines; only these get a `gap_` twin."""


def forward_fill(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`columns` as Float64 (NaN -> null), forward-filled within asset in date order; row order kept."""
    return (
        frame.with_row_index(ROW)
        .sort("asset", "date")
        .with_columns(pl.col(c).cast(pl.Float64).fill_nan(None).forward_fill().over("asset") for c in columns)
        .sort(ROW)
        .drop(ROW)
    )


def add_gaps(
    frame: pl.DataFrame, features: list[str], mode: str = "replace", sources: tuple[str, ...] = GAP_SOURCES
) -> tuple[pl.DataFrame, list[str]]:
    """`gap_<f> = f - dvol` for every f in `features` ∩ `sources` (needs `dvol`).

    mode "replace": the model sees dvol's level and the gaps instead of the other levels
    (levels wander between regimes and trees cannot extrapolate them); "add": levels and
    gaps; "none": the features unchanged. Returns the frame and the model's column list.
    """
    if mode not in ("replace", "add", "none"):
        raise ValueError(f"gap_features must be 'replace', 'add' or 'none', got {mode!r}")
    if mode == "none" or "dvol" not in features:
        return frame, list(features)
    gaps = [f for f in features if f in sources]
    dvol = pl.col("dvol").cast(pl.Float64)
    frame = frame.with_columns((pl.col(f).cast(pl.Float64) - dvol).alias(f"gap_{f}") for f in gaps)
    kept = [f for f in features if mode == "add" or f not in gaps]
    return frame, [*kept, *(f"gap_{f}" for f in gaps)]


@dataclass
class Preprocessor:
    """Impute (ffill within asset, then training medians) and optionally standardise."""

    features: list[str]
    standardize: bool = True
    medians: dict[str, float] = field(default_factory=dict)
    means: dict[str, float] = field(default_factory=dict)
    stds: dict[str, float] = field(default_factory=dict)

    def fit(self, train: pl.DataFrame) -> Preprocessor:
        filled = forward_fill(train.select("date", "asset", *self.features), self.features)
        for f in self.features:  # the median of the observed values, not of the forward-filled ones
            median = train[f].cast(pl.Float64).fill_nan(None).median()
            self.medians[f] = float(median) if median is not None else 0.0
        x = self._impute(filled)
        mean, std = x.mean(axis=0), x.std(axis=0)
        for j, f in enumerate(self.features):
            self.means[f] = float(mean[j]) if self.standardize else 0.0
            ok = self.standardize and np.isfinite(std[j]) and std[j] > 1e-12
            self.stds[f] = float(std[j]) if ok else 1.0
        return self

    def transform(self, frame: pl.DataFrame) -> np.ndarray:
        """An (n_rows, n_features) float64 matrix in the frame's row order, no NaN."""
        if not self.medians and self.features:
            raise RuntimeError("Preprocessor.transform before fit")
        x = self._impute(forward_fill(frame.select("date", "asset", *self.features), self.features))
        mean = np.array([self.means[f] for f in self.features])
        std = np.array([self.stds[f] for f in self.features])
        return (x - mean) / std

    def _impute(self, filled: pl.DataFrame) -> np.ndarray:
        if not self.features:
            return np.empty((filled.height, 0))
        # one select and one copy out, not a Series and an array per column
        filled = filled.select(pl.col(f).cast(pl.Float64).fill_null(self.medians[f]) for f in self.features)
        return filled.to_numpy(order="c").astype(np.float64, copy=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        return cls(**data)


def split_validation(
    dates: pl.Series, horizon: int, fraction: float = 0.2, min_days: int = 30, min_train_days: int = 60
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    """Masks (train_proper, validation) over `dates`, or None if the window is too short.

    Validation = the last max(min_days, fraction * n_dates) distinct dates of the window.
    Purge = the `horizon` calendar days before the validation start: a train-proper row D
    satisfies D + horizon < validation start, so its label ends before validation begins.
    None when fewer than `min_train_days` distinct dates would remain for train-proper.
    """
    unique = dates.unique().sort()
    n_val = max(int(min_days), int(round(fraction * unique.len())))
    if unique.len() - n_val < int(min_train_days) + horizon:
        return None
    val_start = unique[unique.len() - n_val]
    purge_start = val_start - timedelta(days=horizon)
    values = dates.to_numpy()
    train = values < np.datetime64(purge_start)
    val = values >= np.datetime64(val_start)
    if train.sum() == 0:
        return None
    info = {
        "train_start": str(unique[0]),
        "train_end": str(dates.filter(pl.Series(train)).max()),
        "purge_days": horizon,
        "validation_start": str(val_start),
        "validation_end": str(unique[-1]),
    }
    return train, val, info
