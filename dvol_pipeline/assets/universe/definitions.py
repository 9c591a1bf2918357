"""The universe lane's Definitions: realised-vol forecasts and regimes for the coin universe."""

import dagster as dg

from dvol_pipeline.assets.universe.assets import universe_assets

defs = dg.Definitions(assets=universe_assets)
