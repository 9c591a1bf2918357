"""LightGBM, once: a regressor and a classifier behind the model interface, and the DVOL family.

    LightGBMRegressor(seed, params={...}, rounds=100).fit(train, features, "y_7")   # any frame
    LightGBMClassifier(seed, params={...}, rounds=80, classes=[False, True])         # predict_proba
    make_forecaster("lightgbm", 7)                                                   # LightGBMForecaster

Every lane configures the same wrapper: the universe's pooled regressor and regime
classifier (quant/universe/models.py), the IV-rank gate (quant/options/ivrank/gate.py) and
the DVOL family below, which early-stops it on the end of its training window.

The wrapper (`LightGBMModel`):

* `params`: the lane's LightGBM parameters (objective, learning rate, leaves, ...). The
  model adds `seed` (with `seed_all`, also the bagging, feature-fraction and data seeds,
  each = seed; else LightGBM derives them from `seed`), `num_threads` (default 1),
  `deterministic` and `force_row_wise`: same data + seed + threads give the same booster.
  A classifier adds its objective: "binary" for two `classes`, "multiclass" with
  `num_class` for more; a regressor's objective is `params`' (default "regression").
* `rounds`: boosting rounds; with `early_stopping_rounds` and a validation set
  (`fit_matrix(..., valid=(x, y))`) the most rounds, the best iteration kept in `state`.
* `fit(frame, features, target)` reads the feature columns as float64 (null -> NaN, which
  LightGBM routes itself; a column null on every row is kept, so the column sampling stays
  the same); `fit_matrix(x, y)` takes a matrix the lane built itself (the DVOL family's
  imputed, gap-transformed one). A classifier's labels are the values in `classes`, in
  that order (column j of `predict_proba` is `classes[j]`).
* `save` writes `booster.txt` (the model string) next to the manifest.

The DVOL family (`LightGBMForecaster`, family "lightgbm"):

* Inputs: the features, imputed (forward-fill within asset, training medians; no scaling,
  trees do not need it), with the contract's vol-point levels (means, RV, GARCH vol)
  replaced by `gap_<f> = f − dvol` (`gap_features="replace"`; "add" keeps both): trees
  split on one column at a time, mean reversion acts on a difference of two levels, and
  levels wander outside the training range. Mean R²_oos over 6 synthetic panels, h=14:
  replace 0.119, add 0.090, none 0.052 (LSTM: 0.153, 0.138, 0.058). No asset column.
* HAR's residual (residual.py): the booster learns r = y − HAR(x), and the forecast is
  HAR(x) + λ·booster(x), λ ∈ [0, 1] chosen on the window's last slice (0 unless the
  booster's residual forecast is significant there: then the family is HAR exactly).
  SHAP and the gain shares describe the residual booster (what it adds to HAR, before λ).
* Inner slices (residual.py `inner_split`, all inside the training window, each purged
  from the next by `horizon` days, so no earlier label overlaps a later slice): the λ
  slice is the last `shrinkage_fraction` of the dates (at least `shrinkage_min_days`);
  the stopping slice is the last `val_fraction` (at least `val_min_days`) of what
  precedes it; inner-train is the rest. Nothing after the training window is ever seen.
  HAR is fitted on inner-train for the residual target; the booster early-stops on HAR's
  residuals on the stopping slice (its rounds: the capacity). λ is chosen on the λ slice
  for HAR and a booster of those rounds both refit on every row before it (the booster on
  that HAR's residuals): the forecasting procedure below, one step back. With
  `refit=True` (default) HAR and the booster are then refit on the whole window (the
  booster with the best number of rounds), so the most recent weeks inform the forecast,
  with the λ chosen before: λ measures how far the residual signal at that capacity
  carries to unseen days, which the refit cannot measure again (it has no unseen days
  left); `refit=False` keeps the early-stopped booster. A window too short
  for the slices trains `rounds_no_val` rounds with λ = `shrinkage` or 0 (HAR).
  `fixed_rounds` (the group ablations) trains once on the whole window with those rounds
  and λ = `shrinkage` (the full model's) or 0.
* Determinism: the wrapper's, with `seed_all` and a fixed num_threads (1). Same data +
  seed gives the same model string, byte for byte.

LightGBM itself is imported on the first fit or load, not with this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl

from dvol_pipeline.quant.learn.base import Forecaster, Model, numeric
from dvol_pipeline.quant.learn.preprocess import Preprocessor, add_gaps
from dvol_pipeline.quant.learn.residual import (
    before, before_mask, choose_shrinkage, combine, fit_har, inner_split, load_har, save_har,
)

BOOSTER_FILE = "booster.txt"


def load_lightgbm():
    """The lightgbm module, imported on first use (a process that never fits a tree skips it)."""
    import lightgbm as lgb

    return lgb


def feature_matrix(frame: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    """`features` of `frame` as a float64 matrix, NaN where a value is missing."""
    return frame.select(pl.col(f).cast(pl.Float64) for f in features).to_numpy()


def save_booster(booster, folder: Path) -> None:
    (Path(folder) / BOOSTER_FILE).write_text(booster.model_to_string(num_iteration=-1))


def load_booster(folder: Path):
    return load_lightgbm().Booster(model_str=(Path(folder) / BOOSTER_FILE).read_text())


class LightGBMModel(Model):
    """A LightGBM booster behind the model interface; see the module doc for the config."""

    defaults: dict[str, Any] = {
        "params": {}, "rounds": 100, "early_stopping_rounds": None, "seed_all": False, "num_threads": 1,
    }

    def __init__(self, seed: int = 0, **config: Any) -> None:
        super().__init__(seed, **config)
        self.booster = None

    def lgb_params(self) -> dict[str, Any]:
        """The parameters handed to `lightgbm.train`."""
        s = self.seed
        seeds = {"seed": s, "bagging_seed": s, "feature_fraction_seed": s, "data_random_seed": s} \
            if self.config["seed_all"] else {"seed": s}
        return {**self._param_defaults(), **self.config["params"], **self._fixed_params(), **seeds,
                "num_threads": int(self.config["num_threads"]), "deterministic": True, "force_row_wise": True}

    def _param_defaults(self) -> dict[str, Any]:
        """Defaults the lane's params may override."""
        return {}

    def _fixed_params(self) -> dict[str, Any]:
        """What the task fixes, over the lane's params."""
        return {}

    def _labels(self, y) -> np.ndarray:
        return np.asarray(y)

    # -- matrix level --------------------------------------------------------------------
    def fit_matrix(self, x: np.ndarray, y, names: Sequence[str] | None = None,
                   valid: tuple[np.ndarray, Any] | None = None) -> Self:
        """Fit on a (rows, features) matrix and its labels; with `early_stopping_rounds`,
        `valid` = (x, y) is the validation set it stops on (else: `rounds` rounds)."""
        self.window, self.notes = None, []
        self._train(x, y, names, valid)
        self.features = list(names) if names is not None else []
        self.window = {"rows": int(len(x))}
        return self

    def raw_predict(self, x: np.ndarray, num_iteration: int | None = None) -> np.ndarray:
        """The booster's output for a matrix: the regression value, or the class probabilities
        (of class 1 for a binary classifier). An early-stopped booster uses its best iteration."""
        if self.booster is None:
            raise RuntimeError(f"{self.name}: call fit() or load() before predicting")
        if num_iteration is None:
            num_iteration = self.state.get("best_iteration")
        return self.booster.predict(x, num_iteration=num_iteration)

    def _train(self, x: np.ndarray, y, names: Sequence[str] | None, valid: tuple[np.ndarray, Any] | None) -> None:
        lgb = load_lightgbm()
        params, rounds = self.lgb_params(), int(self.config["rounds"])
        feature_name = list(names) if names is not None else "auto"
        patience = self.config["early_stopping_rounds"]
        self.state = {}
        if patience and valid is not None:
            train_set = lgb.Dataset(x, self._labels(y), feature_name=feature_name, free_raw_data=False)
            valid_set = lgb.Dataset(valid[0], self._labels(valid[1]), reference=train_set)
            self.booster = lgb.train(params, train_set, num_boost_round=rounds, valid_sets=[valid_set],
                                     callbacks=[lgb.early_stopping(int(patience), verbose=False)])
            self.state["best_iteration"] = max(int(self.booster.best_iteration), 1)
            self.state["rounds"] = self.state["best_iteration"]
        else:
            train_set = lgb.Dataset(x, self._labels(y), feature_name=feature_name)
            self.booster = lgb.train(params, train_set, num_boost_round=rounds)
            self.state["rounds"] = int(self.booster.current_iteration())

    # -- Model hooks ---------------------------------------------------------------------
    def _fit(self, train, labelled, features, target) -> list[str]:
        self._train(feature_matrix(labelled, features), labelled[target], features, None)
        return list(features)

    def _fitted_params(self) -> dict[str, Any]:
        return dict(self.state)

    def _save_files(self, folder: Path) -> None:
        save_booster(self.booster, folder)

    def _load_files(self, folder: Path) -> None:
        self.booster = load_booster(folder)


class LightGBMRegressor(LightGBMModel):
    name = "lightgbm_regressor"

    def _param_defaults(self) -> dict[str, Any]:
        return {"objective": "regression"}

    def _labels(self, y) -> np.ndarray:
        return y.cast(pl.Float64).to_numpy() if isinstance(y, pl.Series) else np.asarray(y)

    def _predict(self, frame: pl.DataFrame) -> np.ndarray:
        return self.raw_predict(feature_matrix(frame, self.features))


class LightGBMClassifier(LightGBMModel):
    name = "lightgbm_classifier"
    task = "classification"
    defaults: dict[str, Any] = {**LightGBMModel.defaults, "classes": [False, True]}

    @property
    def classes(self) -> list[Any]:
        return list(self.config["classes"])

    def __init__(self, seed: int = 0, **config: Any) -> None:
        super().__init__(seed, **config)
        if len(self.classes) < 2 or len(set(map(repr, self.classes))) != len(self.classes):
            raise ValueError(f"{self.name}: `classes` must be two or more distinct labels, got {self.classes}")

    def _fixed_params(self) -> dict[str, Any]:
        k = len(self.classes)
        return {"objective": "binary"} if k == 2 else {"objective": "multiclass", "num_class": k}

    def _labels(self, y) -> np.ndarray:
        """Class indices (0..k-1 in `classes` order); a label outside `classes` raises."""
        codes = {c: i for i, c in enumerate(self.classes)}
        if isinstance(y, pl.Series):
            unknown = y.drop_nulls().unique().filter(~y.drop_nulls().unique().is_in(self.classes))
            if unknown.len():
                raise ValueError(f"{self.name}: label(s) {unknown.to_list()} not one of {self.classes}")
            return y.replace_strict(codes, return_dtype=pl.Int32).to_numpy()
        try:
            return np.array([codes[v] for v in np.asarray(y).tolist()], dtype=np.int32)
        except KeyError as exc:
            raise ValueError(f"{self.name}: label {exc.args[0]!r} not one of {self.classes}") from None

    def _predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        return self.proba_matrix(feature_matrix(frame, self.features))

    def proba_matrix(self, x: np.ndarray) -> np.ndarray:
        """(rows, classes) probabilities for a matrix; a binary booster's p is column 1."""
        p = self.raw_predict(x)
        return np.vstack((1.0 - p, p)).transpose() if p.ndim == 1 else p

    def _predict(self, frame: pl.DataFrame) -> np.ndarray:
        labels = np.empty(len(self.classes), dtype=object)
        labels[:] = self.classes
        return labels[self._predict_proba(frame).argmax(axis=1)]


class LightGBMForecaster(Forecaster):
    name = "lightgbm"
    defaults: dict[str, Any] = {
        "learning_rate": 0.03, "num_leaves": 7, "min_data_in_leaf": 100, "feature_fraction": 0.8,
        "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "max_rounds": 1000,
        "early_stopping_rounds": 50, "val_fraction": 0.3, "val_min_days": 30, "rounds_no_val": 200,
        "refit": True, "gap_features": "replace", "num_threads": 1, "fixed_rounds": None,
        "shrinkage": None, "shrinkage_min_t": 2.0, "shrinkage_fraction": 0.15, "shrinkage_min_days": 30,
    }
    """`fixed_rounds`: train once on the whole window with that many rounds, no validation slice
    (what the default's refit does after early stopping; the group ablations use the full model's).
    `shrinkage`: None = λ chosen on the inner validation slice; a number in [0, 1] fixes λ (used
    only without a validation slice: `fixed_rounds`, a short window). `shrinkage_min_t`: the
    t-statistic λ's slope needs on the λ slice, the window's last `shrinkage_fraction` of dates
    (at least `shrinkage_min_days`); the stopping slice is `val_fraction` of what precedes it
    (residual.py)."""

    def __init__(self, horizon: int, seed: int = 0, **config: Any) -> None:
        super().__init__(horizon, seed, **config)
        self._booster, self._booster_folder = None, None
        self.har = None

    @property
    def booster(self):
        """The fitted booster; a loaded model parses its file (and imports lightgbm) on first use, not at
        load: with λ = 0 a forecast is HAR's exactly and never runs the booster, so an end-of-day run
        whose promoted ensemble has such a LightGBM member skips both (~0.4 s)."""
        if self._booster is None and self._booster_folder is not None:
            self._booster, self._booster_folder = load_booster(self._booster_folder), None
        return self._booster

    @booster.setter
    def booster(self, value) -> None:
        self._booster, self._booster_folder = value, None

    def __getstate__(self) -> dict[str, Any]:
        """A copy or a pickle (the fold pool) carries the booster itself, not the folder it would be read from."""
        _ = self.booster
        return self.__dict__.copy()

    def _lgb_params(self) -> dict[str, Any]:
        """The family's LightGBM parameters (the wrapper adds seeds, threads and determinism)."""
        c = self.config
        keys = ("learning_rate", "num_leaves", "min_data_in_leaf", "feature_fraction", "bagging_fraction",
                "bagging_freq", "lambda_l2")
        return {"objective": "regression", "verbosity": -1, **{k: c[k] for k in keys}}

    def regressor(self, rounds: int, early_stopping_rounds: int | None = None) -> LightGBMRegressor:
        """The wrapper as this family configures it."""
        return LightGBMRegressor(self.seed, params=self._lgb_params(), rounds=rounds, seed_all=True,
                                 early_stopping_rounds=early_stopping_rounds, num_threads=self.config["num_threads"])

    def _matrix(self, frame: pl.DataFrame) -> np.ndarray:
        pre = Preprocessor.from_dict(self.state["preprocessor"])
        return pre.transform(add_gaps(frame, self.features, self.config["gap_features"])[0])

    def _fixed_shrinkage(self) -> float:
        fixed = self.config["shrinkage"]
        if fixed is not None and not 0.0 <= float(fixed) <= 1.0:
            raise ValueError(f"lightgbm: shrinkage must be within [0, 1] or None, got {fixed}")
        return 0.0 if fixed is None else float(fixed)

    def _fit(self, train, labelled, features, target) -> list[str]:
        if not features:
            raise ValueError("lightgbm: no usable feature in the training frame")
        self.features = list(features)
        gapped, columns = add_gaps(train, self.features, self.config["gap_features"])
        self.state["columns"] = columns
        self.state["preprocessor"] = Preprocessor(columns, standardize=False).fit(gapped).to_dict()
        y = numeric(train, target)
        ok = np.isfinite(y)
        x, y, dates = self._matrix(train)[ok], y[ok], train["date"].filter(pl.Series(ok))
        fixed = self.config["fixed_rounds"]
        c = self.config
        split = None if fixed else inner_split(dates, self.horizon, c["val_fraction"], c["val_min_days"],
                                               c["shrinkage_fraction"], c["shrinkage_min_days"])
        if fixed:
            rounds = int(fixed)
            self.state["validation"] = None
            shrink = {"lambda": self._fixed_shrinkage(), "reason": "fixed: no validation slice (fixed_rounds)"}
        elif split is None:
            rounds = int(c["rounds_no_val"])
            self.notes.append(f"window too short for a validation slice: fixed {rounds} rounds, no early stopping")
            self.state["validation"] = None
            shrink = {"lambda": self._fixed_shrinkage(), "reason": "window too short for the inner slices"}
        else:
            tr, va, sh, info = split
            inner = fit_har(before(train, info["validation_start"], self.horizon), self.features, target,
                            self.horizon, self.seed)
            r = y - inner.predict(train)[ok]
            stopped = self.regressor(int(c["max_rounds"]), int(c["early_stopping_rounds"]))
            stopped.fit_matrix(x[tr], r[tr], columns, valid=(x[va], r[va]))
            rounds = stopped.state["best_iteration"]
            info["best_iteration"] = rounds
            info["validation_rmse"] = float(np.sqrt(np.mean((stopped.raw_predict(x[va], rounds) - r[va]) ** 2)))
            info["har_validation_rmse"] = float(np.sqrt(np.mean(r[va] ** 2)))
            self.state["validation"] = info
            # λ judges the procedure that forecasts, one step back: HAR and the booster (its rounds) refit on
            # every row before the λ slice, the booster on that HAR's residuals
            pre = before_mask(dates, info["shrinkage_start"], self.horizon)
            har_pre = fit_har(before(train, info["shrinkage_start"], self.horizon), self.features, target,
                              self.horizon, self.seed)
            r = y - har_pre.predict(train)[ok]
            r_hat = self.regressor(rounds).fit_matrix(x[pre], r[pre], columns).raw_predict(x[sh])
            shrink = choose_shrinkage(r[sh], r_hat, dates.filter(pl.Series(sh)).to_numpy(), self.horizon,
                                      float(c["shrinkage_min_t"]))
            booster = stopped.booster
        self.har = fit_har(train, self.features, target, self.horizon, self.seed)
        if split is None or self.config["refit"]:
            booster = self.regressor(rounds).fit_matrix(x, y - self.har.predict(train)[ok], columns).booster
        self.booster = booster
        self.state["rounds"] = rounds
        self.state["shrinkage"] = float(shrink["lambda"])
        self.state["shrinkage_info"] = shrink
        return self.features

    def residual(self, frame: pl.DataFrame) -> np.ndarray:
        """The booster's forecast of HAR's residual for each row of `frame` (before λ)."""
        return self.booster.predict(self._matrix(frame), num_iteration=self.state["rounds"])

    def _predict(self, frame: pl.DataFrame) -> np.ndarray:
        if self.har is None:  # saved before the residual construction: the booster forecast y itself
            return self.residual(frame)
        lam = float(self.state["shrinkage"])
        return combine(self.har.predict(frame), self.residual(frame) if lam > 0 else None, lam)

    def design_matrix(self, frame: pl.DataFrame) -> tuple[np.ndarray, list[str]]:
        """The matrix the booster reads for `frame`, and its column names (for SHAP)."""
        return self._matrix(frame), list(self.state["columns"])

    def params(self) -> dict[str, Any]:
        """The Forecaster's, with λ and its track-record gate on top (so the fold's MLflow run logs them)."""
        return {**super().params(), "shrinkage": self.state.get("shrinkage_info"),
                "track_record": self.state.get("track_record")}

    def _fitted_params(self) -> dict[str, Any]:
        gain = self.booster.feature_importance(importance_type="gain", iteration=self.state["rounds"])
        total = float(gain.sum()) or 1.0
        importance = {c: round(float(g) / total, 4) for c, g in zip(self.state["columns"], gain)}
        return {"rounds": self.state["rounds"], "validation": self.state["validation"], "gain_share": importance,
                "shrinkage": self.state.get("shrinkage"),
                "har": self.har.params()["fitted"] if self.har is not None else None}

    def _save_files(self, folder: Path) -> None:
        save_booster(self.booster, folder)
        if self.har is not None:
            save_har(self.har, folder)

    def _load_files(self, folder: Path) -> None:
        if not (Path(folder) / BOOSTER_FILE).is_file():
            raise FileNotFoundError(f"{Path(folder) / BOOSTER_FILE}: the LightGBM booster is missing")
        self._booster, self._booster_folder = None, Path(folder)  # parsed on first use (`booster`)
        self.har = load_har(folder)
