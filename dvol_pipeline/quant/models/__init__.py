"""Forecasting model families behind one interface: fit / predict / save / load / params.

    from dvol_pipeline.quant.models import make_forecaster, load_forecaster, FAMILIES

No Dagster and no MLflow here: the assets layer fits folds and logs `params()` and the
saved folder. See base.py for the conventions every family follows.
"""

from dvol_pipeline.quant.models.base import Forecaster, flatten_params
from dvol_pipeline.quant.models.ensemble import Ensemble
from dvol_pipeline.quant.models.preprocess import Preprocessor, split_validation
from dvol_pipeline.quant.models.registry import FAMILIES, default_config, family_class, load_forecaster, make_forecaster

__all__ = [
    "FAMILIES", "Ensemble", "Forecaster", "Preprocessor", "default_config", "family_class",
    "flatten_params", "load_forecaster", "make_forecaster", "split_validation",
]
