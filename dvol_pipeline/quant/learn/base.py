"""The one model interface of the package: fit / predict / predict_proba / save / load / params, seeded.

`Model` is what every fitted model implements, regressor or classifier, whatever the lane:

    model = SomeModel(seed=0, **config)    # config: the class's `defaults`, overridden (unknown keys raise)
    model.fit(train, features, target)     # polars frame, candidate feature columns, label column
    model.predict(frame)                   # one value per row of `frame`, same order
    model.predict_proba(frame)             # classifiers: (rows, classes) probabilities
    model.params()                         # JSON-able: config, window, small fitted values
    model.save(folder); SomeModel.load(folder)

`Forecaster` is the model of the DVOL forecasting families: a regressor of the label
`y_h(D) = DVOL(D+h) - DVOL(D)` (vol points) for each row `(date, asset)` of a panel, with a
horizon. Its life cycle is the same, with the horizon first:

    model = make_forecaster("har", horizon=7, seed=0, **config)
    model.fit(train, features, "y_7")      # train: rows of the training window only
    y_hat = model.predict(frame)           # one float per row of `frame`, same order
    model.save(folder); same = load_forecaster(folder)   # registry.py: any family
    model.params()                         # JSON-able: config, window, small fitted values

Conventions of every model (the base class enforces them):

* Outputs follow the input's row order. Float NaN counts as missing, like null. Rows whose
  target is missing are not used to fit.
* `features` is the candidate list. A `Model` needs every one of them in the training frame
  (a column null on every row is kept: tree models route missing values themselves); a
  `Forecaster` drops a name absent from the training frame, or null on every training row,
  and lists it in `params()["features_missing"]`. `self.features` is exactly the columns the
  fitted model reads, and `predict` refuses a frame without them.
* `save` writes a JSON manifest (`model.json`; a Forecaster's is `forecaster.json`: family,
  horizon, seed, config, features, window, the fitted state including any scaler) plus the
  class's files; `SomeClass.load(folder)` restores a folder known to hold that class, and
  `registry.load_forecaster(folder)` dispatches on the family named in a Forecaster's
  manifest, so a caller never needs to know the class.

Forecaster conventions on top: frames carry `date` (pl.Date) and `asset` (str), unique per
pair; families that need context (the LSTM) still read the features of rows whose target is
null (the last `h` days of history: the future is unknown).

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
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl

MANIFEST = "forecaster.json"
MODEL_MANIFEST = "model.json"
KEYS = ("date", "asset")
TASKS = ("regression", "classification")


def check_columns(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise a TypeError for a non-polars frame, a ValueError that names missing columns."""
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"{what}: expected a polars DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; it has {frame.columns}")


def check_frame(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    """A Forecaster's frame: `columns` plus the keys, `date` a pl.Date, (date, asset) unique."""
    check_columns(frame, (*KEYS, *columns), what)
    if frame.schema["date"] != pl.Date:
        raise ValueError(f"{what}: `date` must be pl.Date, got {frame.schema['date']}")
    if frame.select(pl.struct(*KEYS).is_duplicated().any()).item():
        raise ValueError(f"{what}: (date, asset) pairs must be unique")


def read_manifest(folder: Path, name: str = MANIFEST) -> dict[str, Any]:
    """The manifest (`forecaster.json` unless `name` says otherwise) of a saved model folder."""
    path = Path(folder) / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {folder} a saved model folder?")
    return json.loads(path.read_text())


def numeric(frame: pl.DataFrame, column: str) -> np.ndarray:
    """A column as float64 with NaN for null/NaN (the one place values leave polars)."""
    return frame[column].cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64, copy=False)


def present(frame: pl.DataFrame, column: str) -> pl.Expr:
    """True where `column` holds a value: not null, and not NaN for a float column."""
    col = pl.col(column)
    if frame.schema[column].is_numeric():
        return col.cast(pl.Float64).fill_nan(None).is_not_null()
    return col.is_not_null()


class Model(ABC):
    """fit / predict / predict_proba / save / load / params; subclasses implement the underscored hooks.

    `task` is "regression" (predict: one float per row) or "classification" (predict: the
    most likely class per row; predict_proba: one column per class, in `classes` order)."""

    name: ClassVar[str]
    task: ClassVar[str] = "regression"
    defaults: ClassVar[dict[str, Any]] = {}
    manifest_name: ClassVar[str] = MODEL_MANIFEST

    def __init__(self, seed: int = 0, **config: Any) -> None:
        unknown = sorted(set(config) - set(self.defaults))
        if unknown:
            raise ValueError(f"{self.name}: unknown config {unknown}; known: {sorted(self.defaults)}")
        self.seed = int(seed)
        try:  # JSON types from the start, so a loaded model's config equals the original's
            self.config: dict[str, Any] = json.loads(json.dumps({**self.defaults, **config}))
        except TypeError as exc:
            raise ValueError(f"{self.name}: config must be JSON-serialisable ({exc})") from None
        self.features: list[str] = []
        self.target: str | None = None
        self.window: dict[str, Any] | None = None
        self.notes: list[str] = []
        self.state: dict[str, Any] = {}

    # -- the interface -------------------------------------------------------------------
    def fit(self, train: pl.DataFrame, features: Sequence[str], target: str) -> Self:
        what = f"{self.name}.fit"
        self._check(train, [target], what)
        labelled = train.filter(present(train, target))
        if labelled.height == 0:
            raise ValueError(f"{what}: no row of the training frame has a `{target}` label")
        usable = self._usable(train, list(dict.fromkeys(features)), what)
        self.target = target
        self.notes = []
        window = self._window(labelled)
        self.window, self.state = None, {}  # a fit that raises leaves the model unfitted
        self.features = self._fit(train, labelled, usable, target)
        self.window = window
        return self

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        self._check_fitted("predict")
        self._check(frame, self.features, f"{self.name}.predict")
        out = np.asarray(self._predict(frame))
        if self.task == "regression":
            out = out.astype(np.float64, copy=False)
        if out.shape != (frame.height,):
            raise AssertionError(f"{self.name}: {out.shape} predictions for {frame.height} rows")
        return out

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        """(rows, classes) probabilities; a regression model has none (TypeError)."""
        if self.task != "classification":
            raise TypeError(f"{self.name}: a {self.task} model has no class probabilities")
        self._check_fitted("predict_proba")
        self._check(frame, self.features, f"{self.name}.predict_proba")
        out = np.asarray(self._predict_proba(frame), dtype=np.float64)
        if out.ndim != 2 or out.shape[0] != frame.height:
            raise AssertionError(f"{self.name}: {out.shape} probabilities for {frame.height} rows")
        return out

    def params(self) -> dict[str, Any]:
        """What to log: hyperparameters, data window, features and small fitted values."""
        return {
            "family": self.name,
            "task": self.task,
            "seed": self.seed,
            "config": dict(self.config),
            "target": self.target,
            "features": list(self.features),
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
        tmp = folder / (self.manifest_name + ".tmp")
        tmp.write_text(json.dumps(self._manifest(), indent=1))
        tmp.replace(folder / self.manifest_name)

    @classmethod
    def load(cls, folder: Path) -> Self:
        """The model of this class saved in `folder` (ValueError if it holds another family)."""
        folder = Path(folder)
        manifest = read_manifest(folder, cls.manifest_name)
        if getattr(cls, "name", None) is None:
            raise TypeError(f"{cls.__name__}.load needs a concrete class (a family)")
        if manifest["family"] != cls.name:
            raise ValueError(f"{folder} holds a `{manifest['family']}` model, not `{cls.name}`; use load_forecaster")
        model = cls._from_manifest(manifest)
        model._load_files(folder)
        return model

    # -- hooks ---------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, train: pl.DataFrame, labelled: pl.DataFrame, features: list[str], target: str) -> list[str]:
        """Fit on the training frame (`labelled`: its rows with a target); store JSON-able
        state in self.state; return the columns the model reads."""

    @abstractmethod
    def _predict(self, frame: pl.DataFrame) -> np.ndarray: ...

    def _predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        raise NotImplementedError(f"{self.name}: no predict_proba")

    def _check(self, frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
        check_columns(frame, columns, what)

    def _usable(self, train: pl.DataFrame, candidates: list[str], what: str) -> list[str]:
        """The candidate features the fit may read: all of them, each must be in the frame."""
        check_columns(train, candidates, what)
        return candidates

    def _window(self, labelled: pl.DataFrame) -> dict[str, Any]:
        return {"rows": labelled.height}

    def _check_fitted(self, what: str) -> None:
        if self.window is None:
            raise RuntimeError(f"{self.name}: call fit() or load() before {what}()")

    def _manifest(self) -> dict[str, Any]:
        return {
            "family": self.name, "task": self.task, "seed": self.seed, "config": self.config,
            "features": self.features, "target": self.target, "window": self.window, "notes": self.notes,
            "state": self.state,
        }

    @classmethod
    def _from_manifest(cls, manifest: dict[str, Any]) -> Self:
        model = cls(manifest["seed"], **manifest["config"])
        model._restore(manifest)
        return model

    def _restore(self, manifest: dict[str, Any]) -> None:
        self.features, self.target = manifest["features"], manifest["target"]
        self.window, self.notes, self.state = manifest["window"], manifest["notes"], manifest["state"]

    def _fitted_params(self) -> dict[str, Any]:
        return {}

    def _save_files(self, folder: Path) -> None:
        """Models with binary artifacts (a booster, torch weights) write them here."""

    def _load_files(self, folder: Path) -> None: ...

    def __repr__(self) -> str:
        fitted = "fitted" if self.window else "unfitted"
        return f"{type(self).__name__}(seed={self.seed}, {fitted})"


class Forecaster(Model):
    """A Model of the DVOL panel with a horizon: (date, asset) keys, missing features dropped."""

    manifest_name: ClassVar[str] = MANIFEST

    def __init__(self, horizon: int, seed: int = 0, **config: Any) -> None:
        if int(horizon) < 1:
            raise ValueError(f"{self.name}: horizon must be >= 1 day, got {horizon}")
        super().__init__(seed, **config)
        self.horizon = int(horizon)
        self.features_missing: list[str] = []

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

    @classmethod
    def load(cls, folder: Path, load_member: Callable[[Path], Forecaster] | None = None) -> Forecaster:
        """The model of this family saved in `folder` (ValueError if it holds another family).

        `load_member` restores nested models of any family (the ensemble's members);
        `registry.load_forecaster(folder)`, the way to load when the family is not known,
        passes itself."""
        if cls is Forecaster:
            read_manifest(Path(folder))  # a folder without a manifest says so first
            raise TypeError("Forecaster.load needs a family; use "
                            "dvol_pipeline.quant.learn.registry.load_forecaster(folder)")
        return super().load(folder)

    # -- Model hooks ---------------------------------------------------------------------
    def _check(self, frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
        check_frame(frame, columns, what)

    def _usable(self, train: pl.DataFrame, candidates: list[str], what: str) -> list[str]:
        """Candidates present in the frame and not null on every training row; the rest are
        listed in `features_missing`."""
        usable = [
            f for f in candidates
            if f in train.columns and train[f].cast(pl.Float64).fill_nan(None).null_count() < train.height
        ]
        self.features_missing = [f for f in candidates if f not in usable]
        return usable

    def _window(self, labelled: pl.DataFrame) -> dict[str, Any]:
        return {
            "start": str(labelled["date"].min()),
            "end": str(labelled["date"].max()),
            "rows": labelled.height,
            "assets": sorted(labelled["asset"].unique().to_list()),
        }

    def _manifest(self) -> dict[str, Any]:
        return {
            "family": self.name, "horizon": self.horizon, "seed": self.seed, "config": self.config,
            "features": self.features, "features_missing": self.features_missing, "target": self.target,
            "window": self.window, "notes": self.notes, "state": self.state,
        }

    @classmethod
    def _from_manifest(cls, manifest: dict[str, Any]) -> Forecaster:
        model = cls(manifest["horizon"], manifest["seed"], **manifest["config"])
        model._restore(manifest)
        model.features_missing = manifest["features_missing"]
        return model

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
