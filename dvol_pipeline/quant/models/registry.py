"""Family name -> forecaster class; the one factory the pipeline calls (arch's `arch_model`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dvol_pipeline.quant.models.base import Forecaster
from dvol_pipeline.quant.models.ensemble import Ensemble
from dvol_pipeline.quant.models.garch import GarchForecaster
from dvol_pipeline.quant.models.gbm import LightGBMForecaster
from dvol_pipeline.quant.models.har import HAR
from dvol_pipeline.quant.models.lstm import LSTMForecaster
from dvol_pipeline.quant.models.naive import MeanReversion, ZeroForecaster

_CLASSES: dict[str, type[Forecaster]] = {
    cls.name: cls
    for cls in (ZeroForecaster, MeanReversion, HAR, GarchForecaster, LightGBMForecaster, LSTMForecaster, Ensemble)
}
FAMILIES = ("zero", "mean_reversion", "har", "garch", "lightgbm", "lstm", "ensemble")
assert set(FAMILIES) == set(_CLASSES)


def family_class(family: str) -> type[Forecaster]:
    try:
        return _CLASSES[family]
    except KeyError:
        raise ValueError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}") from None


def make_forecaster(family: str, horizon: int, seed: int = 0, **config: Any) -> Forecaster:
    """A new, unfitted forecaster; `config` overrides the family's `defaults` (unknown keys raise)."""
    return family_class(family)(horizon, seed, **config)


def load_forecaster(folder: Path) -> Forecaster:
    """Whatever family `folder` holds (its `forecaster.json` names it)."""
    return Forecaster.load(folder)


def default_config(family: str) -> dict[str, Any]:
    return dict(family_class(family).defaults)
