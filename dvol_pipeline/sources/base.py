"""The seam between where raw data comes from and the lake.

A source returns, for one raw table, a date range and a set of coins, a polars frame in
the table's contract shape plus provenance (files read and their SHA-256). It does no
validation and no writing: the contracts and the lake do that the same way for every
source, so simulated, CryptoDataDownload and Deribit data meet the same rules.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import polars as pl


@dataclass(frozen=True)
class SourceBatch:
    frame: pl.DataFrame
    source: str
    files: dict[str, str] = field(default_factory=dict)
    """Path of every source file read -> its SHA-256, for lineage in the asset metadata."""
    notes: dict[str, Any] = field(default_factory=dict)
    """What the source decided on the user's behalf (duplicates resolved, partial rows ...)."""
    rejected: pl.DataFrame | None = None
    """Rows the source could not turn into table rows, as text, with a `reason` column;
    they are quarantined beside the contract's rejects and fail the contract check."""


class TableNotProvided(LookupError):
    """The source has no such data (e.g. on-chain data from Deribit); not an error of the run.

    The asset records zero rows with this message instead of failing, so a user with only
    some tables still gets a lake of what exists.
    """


class Source(Protocol):
    name: str

    def fetch(self, table: str, start: date, end: date, coins: Sequence[str]) -> SourceBatch: ...


SourceFactory = Callable[..., Source]
_REGISTRY: dict[str, SourceFactory] = {}
_BUILTIN = {
    "simulated": "dvol_pipeline.sources.simulated_source",
    "cdd": "dvol_pipeline.sources.cdd.source",
    "deribit": "dvol_pipeline.sources.deribit.source",
    "deribit_dumps": "dvol_pipeline.sources.deribit.dump_source",
}
"""Built-in sources register themselves when first asked for, so importing the seam is cheap."""


def register_source(name: str, factory: SourceFactory) -> None:
    """Make a source selectable by name (configuration, CLI `--source`, tests)."""
    _REGISTRY[name] = factory


def open_source(name: str, **options: Any) -> Source:
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _REGISTRY:
        known = ", ".join(sorted({*_REGISTRY, *_BUILTIN}))
        raise ValueError(f"unknown source {name!r}; available sources: {known}")
    return _REGISTRY[name](**options)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
