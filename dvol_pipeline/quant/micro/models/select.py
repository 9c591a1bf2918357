"""Feature selection inside one training window: variance, correlation, then SHAP-ranked pruning.

Every step sees the training rows only (the caller passes the fold's training window), so a
test-period value cannot change what is kept. Steps, in order:

1. variance: drop a column with fewer than `min_rows` finite values or a variance <= `min_var`
   (constant columns, the all-null ones a missing input leaves).
2. correlation: rank the survivors by |IC| with the label (Spearman, training rows) and walk down the
   list, dropping a feature whose |Spearman rho| with an already kept one exceeds `max_corr` (0.95): of a
   correlated pair, the one with the higher |IC| stays.
3. SHAP: if more than `max_features` remain, fit a small LightGBM regressor (the shared wrapper) and keep
   the `max_features` with the largest mean |SHAP| (TreeSHAP: `quant.learn.explain`, the values the shap
   package's TreeExplainer gives for a LightGBM booster).

Boruta is left out: the `boruta` package's last release is 2024 and it wraps scikit-learn forests, not
LightGBM. Correlations are computed on at most `max_rows` training rows (an even, deterministic thinning).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from dvol_pipeline.quant.learn.explain import mean_abs_shap
from dvol_pipeline.quant.learn.gbm import LightGBMRegressor, feature_matrix

LOG_SCHEMA = {"step": pl.Utf8, "feature": pl.Utf8, "reason": pl.Utf8, "value": pl.Float64}
SHAP_PARAMS = {"objective": "regression", "learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 50,
               "feature_fraction": 1.0, "verbosity": -1}


@dataclass(frozen=True)
class SelectConfig:
    max_features: int = 40
    min_var: float = 1e-12
    min_rows: int = 30
    max_corr: float = 0.95
    max_rows: int = 50_000
    shap_rounds: int = 60
    shap_rows: int = 2_000
    """Rows (evenly thinned) the mean |SHAP| is taken over."""
    seed: int = 0


@dataclass(frozen=True)
class Selection:
    kept: list[str]
    log: pl.DataFrame = field(repr=False)
    """One row per decision: step (variance | correlation | shap | kept), feature, reason, value."""
    ic: dict[str, float] = field(repr=False, default_factory=dict)
    shap: dict[str, float] = field(repr=False, default_factory=dict)

    def dropped(self, step: str) -> list[str]:
        return self.log.filter(pl.col("step") == step)["feature"].to_list()


def _thin(frame: pl.DataFrame, max_rows: int) -> pl.DataFrame:
    if frame.height <= max_rows:
        return frame
    return frame.gather_every(int(np.ceil(frame.height / max_rows)))


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks per column, NaN kept as NaN."""
    out = np.full(x.shape, np.nan)
    for j in range(x.shape[1]):
        ok = np.isfinite(x[:, j])
        out[ok, j] = pl.Series(x[ok, j]).rank("average").to_numpy()
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok], b[ok]
    a, b = a - a.mean(), b - b.mean()
    d = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / d) if d > 0 else float("nan")


def select_features(train: pl.DataFrame, features: Sequence[str], label: str,
                    config: SelectConfig = SelectConfig()) -> Selection:
    """The kept features (in the order of their |IC|, then SHAP) and the log of what was dropped and why."""
    rows = _thin(train.filter(pl.col(label).cast(pl.Float64).fill_nan(None).is_not_null()), config.max_rows)
    log: list[tuple[str, str, str, float]] = []
    x = feature_matrix(rows, features) if features else np.empty((rows.height, 0))
    y = rows[label].cast(pl.Float64).to_numpy()
    # 1. variance
    survivors = []
    for j, f in enumerate(features):
        col = x[:, j][np.isfinite(x[:, j])]
        if col.size < config.min_rows:
            log.append(("variance", f, f"{col.size} finite rows < {config.min_rows}", float(col.size)))
        elif (v := float(col.var())) <= config.min_var:
            log.append(("variance", f, f"variance {v:.3g} <= {config.min_var:.3g}", v))
        else:
            survivors.append(j)
    # 2. correlation, higher |IC| first
    ranks = _ranks(x[:, survivors]) if survivors else np.empty((rows.height, 0))
    ry = _ranks(y[:, None])[:, 0]
    ic = {features[j]: _corr(ranks[:, i], ry) for i, j in enumerate(survivors)}
    order = sorted(range(len(survivors)), key=lambda i: (-abs(np.nan_to_num(ic[features[survivors[i]]])), i))
    kept_i: list[int] = []
    for i in order:
        f = features[survivors[i]]
        hit = next(((k, r) for k in kept_i if abs(r := _corr(ranks[:, i], ranks[:, k])) > config.max_corr), None)
        if hit is None:
            kept_i.append(i)
        else:
            other = features[survivors[hit[0]]]
            why = (f"|rho| with {other} = {abs(hit[1]):.3f} > {config.max_corr}; "
                   f"|IC| {abs(ic[f]):.4f} <= {abs(ic[other]):.4f}")
            log.append(("correlation", f, why, abs(hit[1])))
    kept = [features[survivors[i]] for i in kept_i]
    # 3. SHAP pruning
    shap: dict[str, float] = {}
    if len(kept) > config.max_features:
        model = LightGBMRegressor(config.seed, params=SHAP_PARAMS, rounds=config.shap_rounds, seed_all=True)
        xm = feature_matrix(rows, kept)
        model.fit_matrix(xm, y, kept)
        imp = mean_abs_shap(model.booster, xm[::int(np.ceil(xm.shape[0] / config.shap_rows))])
        shap = {f: float(v) for f, v in zip(kept, imp, strict=True)}
        ranked = sorted(range(len(kept)), key=lambda i: (-imp[i], i))
        cut = imp[ranked[config.max_features - 1]]
        for i in ranked[config.max_features:]:
            log.append(("shap", kept[i], f"mean |SHAP| {imp[i]:.4g} below the {config.max_features}th ({cut:.4g})",
                        float(imp[i])))
        kept = [kept[i] for i in ranked[:config.max_features]]
    for f in kept:
        log.append(("kept", f, "kept", shap.get(f, abs(np.nan_to_num(ic[f])))))
    frame = pl.DataFrame(log, schema=LOG_SCHEMA, orient="row")
    return Selection(kept, frame, {f: ic[f] for f in ic}, shap)
