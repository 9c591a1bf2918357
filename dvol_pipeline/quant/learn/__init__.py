"""Models behind one interface (fit / predict / predict_proba / save / load / params) and the forecasting families.

    from dvol_pipeline.quant.learn import make_forecaster, load_forecaster, FAMILIES
    from dvol_pipeline.quant.learn import Model, LightGBMRegressor, LightGBMClassifier

Modules: base (the interface), the families (naive, har, garch, gbm, lstm, ensemble) and
the registry on top; gbm.py is the one LightGBM wrapper every lane configures, lstm.py the
sequence net, residual.py how the DVOL LightGBM and LSTM families stand on HAR (HAR + λ·residual);
tuning.py (Optuna inside a training window), explain.py (TreeSHAP, group
ablations), preprocess.py, folds.py and parallel.py serve them.

No Dagster and no MLflow here: the assets layer fits folds and logs `params()` and the
saved folder. See base.py for the conventions every family follows and the layering
(base <- families <- registry).

The names below are re-exported lazily: importing a leaf such as
`dvol_pipeline.quant.learn.names` (the family names) does not load torch, LightGBM or
arch; the first use of a re-exported name imports its module.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Model": "base", "Forecaster": "base", "flatten_params": "base", "Ensemble": "ensemble",
    "Preprocessor": "preprocess", "split_validation": "preprocess",
    "FAMILIES": "names", "MEMBER_FAMILIES": "names", "ENSEMBLE_MEMBERS": "names",
    "default_config": "registry", "family_class": "registry", "load_forecaster": "registry",
    "make_forecaster": "registry", "LightGBMRegressor": "gbm", "LightGBMClassifier": "gbm",
}  # fmt: skip

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
