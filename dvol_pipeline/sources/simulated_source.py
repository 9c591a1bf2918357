"""The simulated market behind the `Source` seam (the default, works offline)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from dvol_pipeline.settings import DEFAULT_SEED
from dvol_pipeline.sources.base import SourceBatch, register_source
from dvol_pipeline.sources.simulated import SimConfig, SimulatedMarket


@dataclass
class SimulatedSource:
    seed: int = DEFAULT_SEED
    name: str = "simulated"
    _markets: dict[tuple, SimulatedMarket] = field(default_factory=dict, repr=False)

    def market(self, end: date, coins: Sequence[str]) -> SimulatedMarket:
        """One market per (coins, end), reused by all six raw tables of a run.

        A day's values do not depend on `end`, so building to the run's end is exact.
        """
        # always simulate the full default universe: BTC and ETH share shocks, so a coin's
        # path must not depend on which other coins a run asked for
        universe = tuple(sorted(set(SimConfig.coins) | set(coins)))
        key = (universe, end)
        if key not in self._markets:
            self._markets.clear()
            cfg = SimConfig(seed=self.seed, coins=universe)
            self._markets[key] = SimulatedMarket(cfg, end=end)
        return self._markets[key]

    def fetch(self, table: str, start: date, end: date, coins: Sequence[str]) -> SourceBatch:
        frame = self.market(end, coins).table(table, start, end, coins=list(coins))
        return SourceBatch(frame=frame, source=self.name, notes={"seed": self.seed})


def simulated_source(seed: int = DEFAULT_SEED, **_: object) -> SimulatedSource:
    """A new source; it simulates the market once for all the tables it is asked for."""
    return SimulatedSource(seed=seed)


register_source("simulated", simulated_source)
