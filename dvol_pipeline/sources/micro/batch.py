"""What every micro source returns: the raw tick frames of a read, with what it decided and refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.micro import MICRO_RAW_TABLES


@dataclass
class TickBatch:
    source: str
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    """Raw tick table name -> rows (the contract's columns, plus `__file`/`__line` for file sources)."""
    files: list[Path] = field(default_factory=list)
    """Landing files read."""
    refused: list[tuple[Path, str]] = field(default_factory=list)
    """Files not read, each with the reason (a folder and content that disagree, an unknown kind)."""
    notes: list[str] = field(default_factory=list)
    """What the importer decided, one line each (units, clocks, venues, sessions with no snapshot)."""
    bars: pl.DataFrame | None = None
    """`micro_bars` rows a source builds itself where it has no ticks (Binance archive 1-minute klines)."""
    missing_features: dict[str, str] = field(default_factory=dict)
    """Feature group -> why this source's data cannot support it (e.g. `ofi`: no L2 data)."""

    def table(self, name: str) -> pl.DataFrame:
        """The rows of raw table `name` (an empty frame of its schema where the source has none)."""
        if name not in MICRO_RAW_TABLES:
            raise KeyError(f"unknown raw tick table {name!r}; known: {', '.join(MICRO_RAW_TABLES)}")
        return self.tables.get(name, MICRO_RAW_TABLES[name].empty())

    def merge(self, other: TickBatch) -> TickBatch:
        """Both batches' rows (this one's first, per table), files, refusals and notes."""
        names = [*self.tables, *(n for n in other.tables if n not in self.tables)]
        tables = {n: pl.concat([f for f in (self.tables.get(n), other.tables.get(n)) if f is not None],
                               how="diagonal_relaxed") for n in names}
        bars = [b for b in (self.bars, other.bars) if b is not None]
        return TickBatch(self.source, tables, [*self.files, *other.files], [*self.refused, *other.refused],
                         [*self.notes, *other.notes], pl.concat(bars, how="diagonal_relaxed") if bars else None,
                         {**self.missing_features, **other.missing_features})
