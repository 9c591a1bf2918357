"""Ensemble: a weighted mean of member families, weights learned from PAST folds only.

    ens = Ensemble.from_history(oos, horizon=7, as_of=date(2024, 3, 1))
    ens.combine({"har": har_pred, "lightgbm": gbm_pred, ...})   # from member predictions
    ens.fit(train, features, "y_7").predict(frame)                # or fit the members itself

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

from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dvol_pipeline.quant.models.base import Forecaster

DEFAULT_MEMBERS = ("mean_reversion", "har", "garch", "lightgbm", "lstm")


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
    counts = dict(valid.group_by("family").len().iter_rows())
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

    def __init__(self, horizon: int, seed: int = 0, **config: Any) -> None:
        super().__init__(horizon, seed, **config)
        self.config["members"] = list(self.config["members"])
        members = self.config["members"]
        self.weights: dict[str, float] = {m: 1.0 / len(members) for m in members}
        self.weight_info: dict[str, Any] = {"method": "equal (no history given)"}
        self.models: dict[str, Forecaster] = {}

    @classmethod
    def from_history(
        cls, oos: pl.DataFrame, horizon: int, as_of: date | None = None, seed: int = 0, **config: Any
    ) -> Ensemble:
        return cls(horizon, seed, **config).set_weights(oos, as_of)

    def set_weights(self, oos: pl.DataFrame, as_of: date | None = None) -> Ensemble:
        """Weights from `oos` only; with `as_of`, only rows whose label was known by then."""
        if as_of is not None:
            if "date" not in oos.columns:
                raise ValueError("ensemble: `as_of` needs a `date` column in the history")
            oos = oos.filter(pl.col("date") < as_of - timedelta(days=self.horizon))
        members, method, min_rows = self.config["members"], self.config["method"], int(self.config["min_rows"])
        self.weights, self.weight_info = history_weights(oos, members, method, min_rows)
        self.weight_info["as_of"] = str(as_of) if as_of else None
        return self

    def combine(self, predictions: Mapping[str, np.ndarray]) -> np.ndarray:
        used = [m for m, w in self.weights.items() if w > 0]
        absent = [m for m in used if m not in predictions]
        if absent:
            raise ValueError(f"ensemble: predictions missing for weighted member(s) {absent}")
        p = np.column_stack([np.asarray(predictions[m], dtype=np.float64) for m in used])
        w = np.array([self.weights[m] for m in used])
        have = np.isfinite(p)
        wsum = have @ w
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(wsum > 0, np.where(have, p, 0.0) @ w / wsum, np.nan)

    def _fit(self, train, labelled, features, target) -> list[str]:
        from dvol_pipeline.quant.models.registry import make_forecaster

        self.models = {}
        for m in self.config["members"]:
            config = self.config["member_config"].get(m, {})
            self.models[m] = make_forecaster(m, self.horizon, self.seed, **config).fit(train, features, target)
        read = [f for model in self.models.values() for f in model.features]
        return list(dict.fromkeys([f for f in features if f in read] + read))

    def _predict(self, frame: pl.DataFrame) -> np.ndarray:
        weighted = [m for m, w in self.weights.items() if w > 0]
        missing = [m for m in weighted if m not in self.models]
        if missing:
            raise RuntimeError(f"ensemble: member(s) {missing} carry weight but were not fitted")
        return self.combine({m: self.models[m].predict(frame) for m in weighted})

    def _fitted_params(self) -> dict[str, Any]:
        return {"weights": self.weights, "weight_source": self.weight_info}

    def _save_files(self, folder: Path) -> None:
        self.state["weights"], self.state["weight_info"] = self.weights, self.weight_info
        for m, model in self.models.items():
            model.save(folder / m)

    def _load_files(self, folder: Path) -> None:
        self.weights, self.weight_info = self.state["weights"], self.state["weight_info"]
        self.models = {m: Forecaster.load(folder / m) for m in self.config["members"] if (folder / m).exists()}
