"""The options lane's Definitions: surfaces and greeks of the chains, IV-rank strategies and their gate."""

import dagster as dg

from dvol_pipeline.assets.options.ivrank import ivrank
from dvol_pipeline.assets.options.surface import chain_greeks, option_surface

defs = dg.Definitions(assets=[option_surface, chain_greeks, ivrank])
