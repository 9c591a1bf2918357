"""The simulated market: a seeded model producing every raw table (see market.py)."""

from dvol_pipeline.sources.simulated.market import SimConfig, SimulatedMarket

__all__ = ["SimConfig", "SimulatedMarket"]
