"""Why a tree model forecasts what it does: SHAP values, and refits without a feature group.

* `tree_shap(booster, x)`: exact TreeSHAP values of a LightGBM booster, (rows, features),
  from LightGBM's own `pred_contrib` with its bias column dropped. They are the numbers the
  shap package's TreeExplainer returns for a LightGBM booster (it calls the same
  `pred_contrib`), without its import or the explainer's set-up per model.
* `mean_abs_shap`: their mean absolute value per feature over the rows (a global importance).
* `ablate_groups`: the mechanics of a group ablation. For each feature group present, a
  lane's `refit_score(group, kept_features)` refits its model without that group's features
  and scores it; the row keeps the score and its change against the full model's
  (`baseline`). For a loss (RMSE), a positive change means the group helped. The lane
  decides what a refit is (the DVOL fold's purged window with the full model's rounds, the
  universe's newest training rows) and what a group is.

Used by quant/dvol/explain.py and the universe walk-forward (quant/universe/walkforward.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np


def tree_shap(booster, x: np.ndarray, num_iteration: int | None = None) -> np.ndarray:
    """SHAP values (rows, features) of a single-output LightGBM booster on the matrix `x`."""
    contrib = booster.predict(x, num_iteration=num_iteration, pred_contrib=True)
    return np.asarray(contrib)[:, :-1]


def mean_abs_shap(booster, x: np.ndarray, num_iteration: int | None = None) -> np.ndarray:
    """Mean |SHAP| per feature over the rows of `x`."""
    return np.abs(tree_shap(booster, x, num_iteration)).mean(axis=0)


def ablate_groups(
    features: Sequence[str],
    group_of: Callable[[str], str],
    refit_score: Callable[[str, list[str]], float],
    baseline: float,
    skip: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """[{group, score, delta}] for each group of `features` (sorted by name, `skip` left out):
    `score` = refit_score(group, the features outside it), `delta` = score − baseline."""
    rows = []
    for group in sorted({group_of(f) for f in features} - set(skip)):
        kept = [f for f in features if group_of(f) != group]
        score = refit_score(group, kept)
        rows.append({"group": group, "score": score, "delta": score - baseline})
    return rows
