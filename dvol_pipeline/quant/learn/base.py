"""The one small interface every forecasting family implements (qlib's Model, arch's parts).

A forecaster predicts the label `y_h(D) = DVOL(D+h) - DVOL(D)` (vol points) for each row
`(date, asset)` of a polars frame. The life cycle is always

    model = make_forecaster("har", horizon=7, seed=0, **config)
    model.fit(train, features, "y_7")      # train: rows of the training window only
    y_hat = model.predict(frame)           # one float per row of `frame`, same order
    model.save(folder); same = load_forecaster(folder)   # registry.py: any family
    model.params()                         # JSON-able: config, window, small fitted values

Conventions shared by every family (the base class enforces them):

* Frames carry `date` (pl.Date) and `asset` (str), unique per pair; order does not matter,
  outputs follow the input's row order. Float NaN counts as missing, like null.
* `features` is the candidate list. A name absent from the training frame, or null on every
  training row, is dropped and listed in `params()["features_missing"]`; `self.features` is
  exactly the columns the fitted model reads, and `predict` refuses a frame without them.
* Rows whose target is null (the last `h` days of history: the future is unknown) are not
  used to fit. Families that need context (the LSTM) still read their features.
* `save` writes `forecaster.json` (family, horizon, seed, config, features, window, the
  fitted state including any scaler) plus family files; `registry.load_forecaster(folder)`
  dispatches on the family named in the manifest, so a caller never needs to know the
  class. `SomeFamily.load(folder)` restores a folder known to hold that family.

Layering (no import cycles): this module imports no family and not the registry; each
family imports this module; `registry.py` imports every family and is the factory on top
(arch's `arch_model` over its mean, volatility and distribution parts). A model made of
other models (the ensemble) is handed its members; to load them it is handed a loader
(`load_member`), which the registry passes.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl

MANIFEST = "forecaster.json"
KEYS = ("date", "asset")


def check_frame(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise a ValueError that names what is missing, instead of a polars error later."""
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"{what}: expected a polars DataFrame, got {type(frame).__name__}")
    missing = [c for c in (*KEYS, *columns) if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; it has {frame.columns}")
    if frame.schema["date"] != pl.Date:
        raise ValueError(f"{what}: `date` must be pl.Date, got {frame.schema['date']}")
    if frame.select(pl.struct(*KEYS).is_duplicated().any()).item():
        raise ValueError(f"{what}: (date, asset) pairs must be unique")


def read_manifest(folder: Path) -> dict[str, Any]:
    """The `forecaster.json` of a saved model folder."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {folder} a saved forecaster folder?")
    return json.loads(path.read_text())


def numeric(frame: pl.DataFrame, column: str) -> np.ndarray:
    """A column as float64 with NaN for null/NaN (the one place values leave polars)."""
    return frame[column].cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64, copy=False)


class Forecaster(ABC):
    """fit / predict / save / load / params; subclasses implement the underscored hooks."""

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, horizon: int, seed: int = 0, **config: Any) -> None:
        if int(horizon) < 1:
            raise ValueError(f"{self.name}: horizon must be >= 1 day, got {horizon}")
        unknown = sorted(set(config) - set(self.defaults))
        if unknown:
            raise ValueError(f"{self.name}: unknown config {unknown}; known: {sorted(self.defaults)}")
        self.horizon = int(horizon)
        self.seed = int(seed)
        try:  # JSON types from the start, so a loaded model's config equals the original's
            self.config: dict[str, Any] = json.loads(json.dumps({**self.defaults, **config}))
        except TypeError as exc:
            raise ValueError(f"{self.name}: config must be JSON-serialisable ({exc})") from None
        self.features: list[str] = []
        self.features_missing: list[str] = []
        self.target: str | None = None
        self.window: dict[str, Any] | None = None
        self.notes: list[str] = []
        self.state: dict[str, Any] = {}

    # -- the interface -------------------------------------------------------------------
    def fit(self, train: pl.DataFrame, features: Sequence[str], target: str) -> Forecaster:
        check_frame(train, [target], f"{self.name}.fit")
        labelled = train.filter(pl.col(target).cast(pl.Float64).fill_nan(None).is_not_null())
        if labelled.height == 0:
            raise ValueError(f"{self.name}.fit: no row of the training frame has a `{target}` label")
        candidates = list(dict.fromkeys(features))
        usable = [
            f for f in candidates
            if f in train.columns and train[f].cast(pl.Float64).fill_nan(None).null_count() < train.height
        ]
        self.features_missing = [f for f in candidates if f not in usable]
        self.target = target
        self.notes = []
        window = {
            "start": str(labelled["date"].min()),
            "end": str(labelled["date"].max()),
            "rows": labelled.height,
            "assets": sorted(labelled["asset"].unique().to_list()),
        }
        self.window, self.state = None, {}  # a fit that raises leaves the model unfitted
        self.features = self._fit(train, labelled, usable, target)
        self.window = window
        return self

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        if self.window is None:
            raise RuntimeError(f"{self.name}: call fit() or load() before predict()")
        check_frame(frame, self.features, f"{self.name}.predict")
        out = np.asarray(self._predict(frame), dtype=np.float64)
        if out.shape != (frame.height,):
            raise AssertionError(f"{self.name}: {out.shape} predictions for {frame.height} rows")
        return out

    def params(self) -> dict[str, Any]:
        """What to log: hyperparameters, data window, features and small fitted values."""
        return {
            "family": self.name,
            "horizon": self.horizon,
            "seed": self.seed,
            "config": dict(self.config),
            "target": self.target,
            "features": list(self.features),
            "features_missing": list(self.features_missing),
            "train_window": self.window,
            "fitted": self._fitted_params(),
            "notes": list(self.notes),
        }

    def save(self, folder: Path) -> None:
        if self.window is None:
            raise RuntimeError(f"{self.name}: nothing to save, the model is not fitted")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._save_files(folder)
        manifest = {
            "family": self.name, "horizon": self.horizon, "seed": self.seed, "config": self.config,
            "features": self.features, "features_missing": self.features_missing, "target": self.target,
            "window": self.window, "notes": self.notes, "state": self.state,
        }
        tmp = folder / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=1))
        tmp.replace(folder / MANIFEST)

    @classmethod
    def load(cls, folder: Path, load_member: Callable[[Path], Forecaster] | None = None) -> Forecaster:
        """The model of this family saved in `folder` (ValueError if it holds another family).

        `load_member` restores nested models of any family (the ensemble's members);
        `registry.load_forecaster(folder)`, the way to load when the family is not known,
        passes itself."""
        folder = Path(folder)
        manifest = read_manifest(folder)
        if cls is Forecaster:
            raise TypeError("Forecaster.load needs a family; use "
                            "dvol_pipeline.quant.learn.registry.load_forecaster(folder)")
        if manifest["family"] != cls.name:
            raise ValueError(f"{folder} holds a `{manifest['family']}` model, not `{cls.name}`; use load_forecaster")
        model = cls(manifest["horizon"], manifest["seed"], **manifest["config"])
        model.features, model.features_missing = manifest["features"], manifest["features_missing"]
        model.target, model.window, model.notes = manifest["target"], manifest["window"], manifest["notes"]
        model.state = manifest["state"]
        model._load_files(folder)
        return model

    # -- hooks ---------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, train: pl.DataFrame, labelled: pl.DataFrame, features: list[str], target: str) -> list[str]:
        """Fit on the training frame; store JSON-able state in self.state; return the columns read."""

    @abstractmethod
    def _predict(self, frame: pl.DataFrame) -> np.ndarray: ...

    def _fitted_params(self) -> dict[str, Any]:
        return {}

    def _save_files(self, folder: Path) -> None:
        """Families with binary artifacts (a booster, torch weights) write them here."""

    def _load_files(self, folder: Path) -> None: ...

    def __repr__(self) -> str:
        fitted = "fitted" if self.window else "unfitted"
        return f"{type(self).__name__}(horizon={self.horizon}, seed={self.seed}, {fitted})"


def flatten_params(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """`params()` flattened to `a.b.c -> str`, the shape MLflow's log_params wants."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_params(value, name + "."))
        elif isinstance(value, (list, tuple)):
            flat[name] = ",".join(map(str, value))
        else:
            flat[name] = str(value)
    return flat
