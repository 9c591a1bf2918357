"""The micro lane's Definitions: tick data, rebuilt books, intraday bars and features."""

import dagster as dg

from dvol_pipeline.assets.micro.assets import micro_assets

defs = dg.Definitions(assets=micro_assets)
