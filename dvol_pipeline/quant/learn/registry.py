"""Family name -> forecaster class: the factory on top of the families (arch's `arch_model`).

The layering has no cycles: base.py imports no family; each family imports base.py (and
the shared preprocessing); this module imports every family, makes them
(`make_forecaster`) and loads them (`load_forecaster`). The family names live in
names.py, re-exported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dvol_pipeline.quant.learn.base import Forecaster, read_manifest
from dvol_pipeline.quant.learn.ensemble import Ensemble
from dvol_pipeline.quant.learn.garch import GarchForecaster
from dvol_pipeline.quant.learn.gbm import LightGBMForecaster
from dvol_pipeline.quant.learn.har import HAR
from dvol_pipeline.quant.learn.lstm import LSTMForecaster
from dvol_pipeline.quant.learn.names import BENCHMARK, ENSEMBLE, ENSEMBLE_MEMBERS, FAMILIES, MEMBER_FAMILIES, ZERO
from dvol_pipeline.quant.learn.naive import MeanReversion, ZeroForecaster

__all__ = [
    "BENCHMARK", "ENSEMBLE", "ENSEMBLE_MEMBERS", "FAMILIES", "MEMBER_FAMILIES", "ZERO", "default_config",
    "family_class", "load_forecaster", "make_forecaster",
]

_CLASSES: dict[str, type[Forecaster]] = {
    cls.name: cls
    for cls in (ZeroForecaster, MeanReversion, HAR, GarchForecaster, LightGBMForecaster, LSTMForecaster, Ensemble)
}
assert set(FAMILIES) == set(_CLASSES), "names.FAMILIES and the registry's classes disagree"


def family_class(family: str) -> type[Forecaster]:
    try:
        return _CLASSES[family]
    except KeyError:
        raise ValueError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}") from None


def make_forecaster(family: str, horizon: int, seed: int = 0, **config: Any) -> Forecaster:
    """A new, unfitted forecaster; `config` overrides the family's `defaults` (unknown keys raise).

    The ensemble comes with its members: each member family not passed in as a model is
    made here (same horizon and seed, its `member_config` entry as config)."""
    cls = family_class(family)
    model = cls(horizon, seed, **config)
    if isinstance(model, Ensemble):
        member_config = model.config["member_config"]
        model.attach({
            m: make_forecaster(m, horizon, seed, **member_config.get(m, {}))
            for m in model.config["members"]
            if m not in model.models
        })
    return model


def load_forecaster(folder: Path) -> Forecaster:
    """Whatever family `folder` holds (its `forecaster.json` names it), nested models included."""
    family = read_manifest(folder)["family"]
    return family_class(family).load(folder, load_member=load_forecaster)


def default_config(family: str) -> dict[str, Any]:
    return dict(family_class(family).defaults)
