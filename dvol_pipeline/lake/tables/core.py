"""Tables every lane may read: the raw market data the sources deliver (one contract each)."""

from __future__ import annotations

from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.lake.tables.spec import CORE, Table, raw_table

LANE = CORE

TABLES: tuple[Table, ...] = tuple(raw_table(s, LANE) for s in RAW_TABLES.values())
