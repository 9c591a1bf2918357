"""The options lane's run configs in the launchpad: the smile-fit liquidity rules and IV-rank."""

from dvol_pipeline.assets.config import config_class, to_quant
from dvol_pipeline.quant.options.ivrank import IVRankConfig
from dvol_pipeline.quant.pricing.surface import LiquidityRules

SurfaceRunConfig = config_class(LiquidityRules)
IVRankRunConfig = config_class(IVRankConfig)

__all__ = ["IVRankRunConfig", "SurfaceRunConfig", "to_quant"]
