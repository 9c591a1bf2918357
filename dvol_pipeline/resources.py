"""Resources: where the lake is and where market data comes from. Configured, not hard-coded."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from dvol_pipeline.settings import DEFAULT_COINS, DEFAULT_SEED, lake_root
from dvol_pipeline.sources import Source, open_source


class LakeResource(dg.ConfigurableResource):
    """The lake root; `DVOL_LAKE` moves it (and Dagster's and MLflow's storage with it)."""

    root: str = Field(default_factory=lambda: str(lake_root()))

    @property
    def path(self) -> Path:
        return Path(self.root)


class MarketResource(dg.ConfigurableResource):
    """Which raw-data source feeds the lake, and for which coins."""

    source: str = Field(default="simulated", description="simulated (default, offline), cdd or deribit")
    coins: list[str] = Field(default=list(DEFAULT_COINS), description="coins the lake tracks")
    seed: int = Field(default=DEFAULT_SEED, description="seed of the simulated market")
    landing: str | None = Field(default=None, description="folder of CDD files (default <lake>/landing)")
    funding_units: str = Field(default="auto", description="CDD funding rates: auto, fraction or percent")
    rebuild: bool = Field(default=False, description="raw tables: replace the run's partitions instead of merging "
                                                     "new rows into what the lake holds")

    def open(self) -> Source:
        return open_source(self.source, seed=self.seed, landing=self.landing, funding_units=self.funding_units)
