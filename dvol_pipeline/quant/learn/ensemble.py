"""Ensemble: a weighted mean of member models, weights learned from PAST folds only.

    ens = Ensemble.from_history(oos, horizon=7, as_of=date(2024, 3, 1))
    ens.combine({"har": har_pred, "lightgbm": gbm_pred, ...})   # from member predictions
    ens.attach({"har": har, "lightgbm": gbm, ...})              # or hold the fitted members:
    ens.predict(frame); ens.save(folder)                          # then it predicts and saves
    Ensemble(members={"har": har, ...}, weights={"har": 0.6, ...})  # the same in one call
    make_forecaster("ensemble", 7).fit(train, features, "y_7")    # members built and fitted

* The ensemble is composed of its members explicitly: it holds member Forecasters in
  `models` (attached, or built by the registry's `make_forecaster`); it never creates a
  family itself, so this module imports only base.py. `fit` fits the attached members.
* `save(folder)` writes the manifest (weights, method, as_of in the weight source) and
  each member with a positive weight under `folder/members/<family>/`;
  `registry.load_forecaster(folder)` restores it, members included, so `predict(frame)`
  needs nothing else.

* `oos` holds out-of-sample predictions of earlier folds: columns `family`, `y_hat`, `y`
  (and `date`, `asset` for `method="cls"` or `as_of`). Only that frame informs the weights;
  `as_of` additionally keeps rows whose label was known before it: date + horizon < as_of.
* `method="inverse_mse"` (default): w_i ∝ 1 / MSE_i, on the rows where every member has a
  prediction when `date`/`asset` are given (so the MSEs compare like with like), else on
  each member's own rows. `method="cls"`: least squares of y on the members' predictions
  with w ≥ 0, Σw = 1, solved exactly. Weights are always ≥ 0 and sum to 1.
* No usable history (no rows, or every member under `min_rows` valid rows): equal weights.
  A member with too little history while others have enough gets weight 0.
* `combine`: where a member's prediction is NaN (e.g. the LSTM's first days) the row uses
  the other members, weights renormalised; NaN only if every weighted member is NaN.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dvol_pipeline.quant.learn.base import Forecaster
from dvol_pipeline.quant.learn.names import ENSEMBLE_MEMBERS

DEFAULT_MEMBERS = ENSEMBLE_MEMBERS
MEMBERS_DIR = "members"


def simplex_least_squares(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """argmin_w mean((p @ w - y)^2) subject to w >= 0, sum(w) = 1, exactly.

    Enumerates the support sets (2^k - 1 for k members; k is small) and solves each
    equality-constrained problem from its KKT system; the best feasible one wins.
    """
    n, k = p.shape
    gram, cross = p.T @ p / n, p.T @ y / n
    best, best_obj = np.full(k, 1.0 / k), np.inf
    for mask in range(1, 2**k):
        idx = [i for i in range(k) if mask >> i & 1]
        m = len(idx)
        kkt = np.zeros((m + 1, m + 1))
        kkt[:m, :m], kkt[:m, m], kkt[m, :m] = gram[np.ix_(idx, idx)], 1.0, 1.0
        sol = np.linalg.lstsq(kkt, np.r_[cross[idx], 1.0], rcond=None)[0][:m]
        if (sol < -1e-12).any():
            continue
        w = np.zeros(k)
        w[idx] = np.clip(sol, 0.0, None) / np.clip(sol, 0.0, None).sum()
        obj = w @ gram @ w - 2 * cross @ w
        if obj < best_obj - 1e-15:
            best, best_obj = w, obj
    return best


def history_weights(
    oos: pl.DataFrame, members: list[str], method: str, min_rows: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """Non-negative weights summing to 1 from out-of-sample history, and what they came from."""
    missing = [c for c in ("family", "y_hat", "y") if c not in oos.columns]
    if missing:
        raise ValueError(f"ensemble history: missing column(s) {missing}; need family, y_hat, y")
    valid = (
        oos.filter(pl.col("family").is_in(members))
        .with_columns(pl.col(c).cast(pl.Float64).fill_nan(None) for c in ("y_hat", "y"))
        .drop_nulls(["y_hat", "y"])
    )
    counts = dict(sorted(valid.group_by("family").len().iter_rows()))  # sorted: group_by's order varies run to run
    usable = [m for m in members if counts.get(m, 0) >= min_rows]
    info: dict[str, Any] = {"method": method, "history_rows": valid.height, "rows_per_member": counts}
    if "date" in valid.columns and valid.height:
        info["history_start"], info["history_end"] = str(valid["date"].min()), str(valid["date"].max())
    if not usable:
        info["method"] = "equal (no usable history)"
        return {m: 1.0 / len(members) for m in members}, info
    keyed = all(k in valid.columns for k in ("date", "asset"))
    if keyed:  # compare members on the same rows: those where every usable member predicted
        wide = valid.filter(pl.col("family").is_in(usable)).pivot("family", index=["date", "asset", "y"], values="y_hat")
        wide = wide.select("y", *usable).drop_nulls()
        keyed = wide.height >= min_rows
    if method == "cls" and not keyed:
        raise ValueError("ensemble method 'cls' needs `date` and `asset` columns and rows shared by the members")
    if keyed:
        p, y = wide.select(usable).to_numpy(), wide["y"].to_numpy()
        info["common_rows"] = int(len(y))
        mse = dict(zip(usable, np.mean((p - y[:, None]) ** 2, axis=0).tolist()))
    else:
        mse = dict(valid.group_by("family").agg(((pl.col("y_hat") - pl.col("y")) ** 2).mean()).iter_rows())
    info["mse"] = {m: mse[m] for m in usable}
    if method == "inverse_mse":
        raw = {m: 1.0 / max(mse[m], 1e-12) if m in usable else 0.0 for m in members}
    elif method == "cls":
        w = simplex_least_squares(p, y)
        raw = {m: float(w[usable.index(m)]) if m in usable else 0.0 for m in members}
    else:
        raise ValueError(f"ensemble: method must be 'inverse_mse' or 'cls', got {method!r}")
    total = sum(raw.values())
    return {m: raw[m] / total for m in members}, info


class Ensemble(Forecaster):
    name = "ensemble"
    defaults: dict[str, Any] = {
        "members": DEFAULT_MEMBERS, "method": "inverse_mse", "min_rows": 20, "member_config": {},
    }

    def __init__(
        self, horizon: int | None = None, seed: int = 0, *, weights: Mapping[str, float] | None = None, **config: Any
    ) -> None:
        """`members` is a list of family names, or {family: model} to hold those models
        (then `horizon` defaults to theirs); `weights` fixes the weights (else equal until
        `set_weights` reads a history)."""
        given = config.get("members")
        models = dict(given) if isinstance(given, Mapping) else {}
        if models:
            config["members"] = list(models)
            if horizon is None:
                horizon = next(iter(models.values())).horizon
        if horizon is None:
            raise ValueError("ensemble: give a horizon, or members as {family: model}")
        super().__init__(horizon, seed, **config)
        self.config["members"] = list(self.config["members"])
        members = self.config["members"]
        self.weights: dict[str, float] = {m: 1.0 / len(members) for m in members}
        self.weight_info: dict[str, Any] = {"method": "equal (no history given)"}
        self.models: dict[str, Forecaster] = {}
        if weights is not None:
            self.set_given_weights(weights)
        if models:
            self.attach(models)

    @classmethod
    def from_history(
        cls, oos: pl.DataFrame, horizon: int, as_of: date | None = None, seed: int = 0, **config: Any
    ) -> Ensemble:
        return cls(horizon, seed, **config).set_weights(oos, as_of)

    # -- weights -------------------------------------------------------------------------
    def set_weights(self, oos: pl.DataFrame, as_of: date | None = None) -> Ensemble:
        """Weights from `oos` only; with `as_of`, only rows whose label was known by then."""
        if as_of is not None:
            if "date" not in oos.columns:
                raise ValueError("ensemble: `as_of` needs a `date` column in the history")
            oos = oos.filter(pl.col("date") < as_of - timedelta(days=self.horizon))
        members, method, min_rows = self.config["members"], self.config["method"], int(self.config["min_rows"])
        self.weights, self.weight_info = history_weights(oos, members, method, min_rows)
        self.weight_info["as_of"] = str(as_of) if as_of else None
        self._refresh(window=False)
        return self

    def set_given_weights(self, weights: Mapping[str, float]) -> Ensemble:
        """Fixed weights (>= 0, not all 0), scaled to sum to 1; members not named get 0."""
        members = self.config["members"]
        unknown = sorted(set(weights) - set(members))
        if unknown:
            raise ValueError(f"ensemble: weights for {unknown}, which are not members {members}")
        raw = {m: float(weights.get(m, 0.0)) for m in members}
        total = sum(raw.values())
        if min(raw.values()) < 0 or not total > 0:
            raise ValueError(f"ensemble: weights must be >= 0 and not all 0, got {dict(weights)}")
        self.weights = {m: w / total for m, w in raw.items()}
        self.weight_info = {"method": "given", "as_of": None}
        self._refresh(window=False)
        return self

    def weighted(self) -> list[str]:
        """Members with a positive weight: the ones `predict` and `save` use."""
        return [m for m, w in self.weights.items() if w > 0]

    # -- members -------------------------------------------------------------------------
    def attach(self, models: Mapping[str, Forecaster]) -> Ensemble:
        """Hold `models` (fitted or not) as members; a fitted set of the weighted members
        makes the ensemble fitted: its window, target and features come from them."""
        members = self.config["members"]
        for m, model in models.items():
            if m not in members:
                raise ValueError(f"ensemble: {m!r} is not a member ({members})")
            if not isinstance(model, Forecaster) or model.name != m:
                raise ValueError(f"ensemble: member {m!r} must be a `{m}` Forecaster, got {model!r}")
            if model.horizon != self.horizon:
                raise ValueError(f"ensemble: member {m!r} forecasts {model.horizon} days, the ensemble {self.horizon}")
        self.models.update(models)
        self._refresh(window=True)
        return self

    def ready(self) -> bool:
        """Every weighted member is attached and fitted: `predict` and `save` work."""
        return all(m in self.models and self.models[m].window is not None for m in self.weighted())

    def _refresh(self, window: bool) -> None:
        """Features (and with `window`, the window and target) from the fitted weighted members."""
        if not self.ready():
            return
        used = [self.models[m] for m in self.weighted()]
        self.features = list(dict.fromkeys(f for model in used for f in model.features))
        if window or self.window is None:
            windows = [model.window for model in used]
            self.window = {
                "start": min(w["start"] for w in windows), "end": max(w["end"] for w in windows),
                "rows": max(w["rows"] for w in windows),
                "assets": sorted({a for w in windows for a in w["assets"]}),
                "members": self.weighted(),
            }
            targets = {model.target for model in used}
            self.target = targets.pop() if len(targets) == 1 else None

    def combine(self, predictions: Mapping[str, np.ndarray]) -> np.ndarray:
        used = self.weighted()
        absent = [m for m in used if m not in predictions]
        if absent:
            raise ValueError(f"ensemble: predictions missing for weighted member(s) {absent}")
        p = np.column_stack([np.asarray(predictions[m], dtype=np.float64) for m in used])
        w = np.array([self.weights[m] for m in used])
        have = np.isfinite(p)
        wsum = have @ w
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(wsum > 0, np.where(have, p, 0.0) @ w / wsum, np.nan)

    # -- Forecaster hooks ----------------------------------------------------------------
    def _fit(self, train, labelled, features, target) -> list[str]:
        missing = [m for m in self.config["members"] if m not in self.models]
        if missing:
            raise RuntimeError(
                f"ensemble: member(s) {missing} not attached; attach them (Ensemble(members={{...}}), "
                "ensemble.attach(...)) or build the ensemble with make_forecaster('ensemble', ...)"
            )
        for m in self.config["members"]:
            self.models[m].fit(train, features, target)
        read = [f for m in self.weighted() for f in self.models[m].features]
        return list(dict.fromkeys([f for f in features if f in read] + read))

    def _predict(self, frame: pl.DataFrame) -> np.ndarray:
        missing = [m for m in self.weighted() if m not in self.models or self.models[m].window is None]
        if missing:
            raise RuntimeError(f"ensemble: member(s) {missing} carry weight but are not attached and fitted")
        return self.combine({m: self.models[m].predict(frame) for m in self.weighted()})

    def _fitted_params(self) -> dict[str, Any]:
        return {"weights": self.weights, "weight_source": self.weight_info}

    def _save_files(self, folder: Path) -> None:
        if not self.ready():
            missing = [m for m in self.weighted() if m not in self.models or self.models[m].window is None]
            raise RuntimeError(f"ensemble: cannot save, weighted member(s) {missing} are not attached and fitted")
        self.state["weights"], self.state["weight_info"] = self.weights, self.weight_info
        members = folder / MEMBERS_DIR
        if members.exists():  # a member weighted in an earlier save must not linger
            shutil.rmtree(members)
        for m in self.weighted():
            self.models[m].save(members / m)

    def _load_files(self, folder: Path) -> None:
        self.weights, self.weight_info = self.state["weights"], self.state["weight_info"]

    @classmethod
    def load(cls, folder: Path, load_member: Callable[[Path], Forecaster] | None = None) -> Ensemble:
        """The saved ensemble with its weighted members; `load_member` restores a member of
        any family (`registry.load_forecaster` passes itself: use that to load)."""
        if load_member is None:
            raise TypeError("Ensemble.load needs load_member to restore its members: use "
                            "dvol_pipeline.quant.learn.registry.load_forecaster(folder)")
        model = super().load(folder)
        folder = Path(folder)
        for m in model.weighted():
            member = load_member(folder / MEMBERS_DIR / m)
            if member.name != m or member.horizon != model.horizon:
                raise ValueError(f"{folder / MEMBERS_DIR / m} holds {member!r}, not the ensemble's `{m}` member")
            model.models[m] = member
        return model
