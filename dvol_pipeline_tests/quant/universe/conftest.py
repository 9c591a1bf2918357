"""A small simulated universe shared by the universe quant tests (built once per module)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from dvol_pipeline.contracts.universe import validate_universe
from dvol_pipeline.quant.universe.features import build_universe_features
from dvol_pipeline.quant.universe.symbols import symbol_table
from dvol_pipeline.sources.simulated.universe import UniverseConfig, known_events, simulate_universe

SMALL = UniverseConfig(n_coins=10, start=date(2021, 3, 24), end=date(2022, 10, 31), n_stable=1, n_delisted=1)


@pytest.fixture(scope="package")
def small_raw() -> pl.DataFrame:
    return validate_universe(simulate_universe(SMALL), known_events(SMALL)).valid


@pytest.fixture(scope="package")
def small_symbols(small_raw) -> pl.DataFrame:
    return symbol_table(small_raw)


@pytest.fixture(scope="package")
def small_features(small_raw, small_symbols) -> tuple[pl.DataFrame, pl.DataFrame]:
    return build_universe_features(small_raw, small_symbols)
