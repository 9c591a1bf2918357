"""The seam between where raw data comes from and the lake.

A source returns, for one raw table, a date range and a set of coins, polars frames in
the table's contract shape plus provenance (files read and their SHA-256). It does no
validation and no writing: the contracts and the lake do that the same way for every
source, so simulated, CryptoDataDownload and Deribit data meet the same rules.

Two ways to deliver a range: `fetch` returns it as one eager batch (what the daily tables'
sources do: their contracts look across days, e.g. an outlier against its neighbours), and
`fetch_batches` yields it one partition at a time (a tick source: one (venue, symbol, day)
per batch), so a range never has to fit in memory. `fetch_batches(source, ...)` below asks a
source for batches whichever it implements; `PartitionedSource` gives a batching source its
eager `fetch` for the callers that want one frame.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
    partition: Mapping[str, Any] | None = None
    """The one partition this batch holds whole, by the table's keys, e.g. {"venue": "binance",
    "symbol": "BTCUSDT", "date": date(2024, 3, 1)}; None: rows of any partition of the range."""


class TableNotProvided(LookupError):
    """The source has no such data (e.g. on-chain data from Deribit); not an error of the run.

    The asset records zero rows with this message instead of failing, so a user with only
    some tables still gets a lake of what exists.
    """


class Source(Protocol):
    name: str

    def fetch(self, table: str, start: date, end: date, coins: Sequence[str]) -> SourceBatch: ...


class BatchSource(Protocol):
    """A source that can deliver a range one partition at a time (it may also have `fetch`)."""

    name: str

    def fetch_batches(self, table: str, start: date, end: date, coins: Sequence[str]) -> Iterator[SourceBatch]: ...


def fetch_batches(
    source: Source | BatchSource, table: str, start: date, end: date, coins: Sequence[str]
) -> Iterator[SourceBatch]:
    """The range as batches: the source's own `fetch_batches` (one partition each) where it has one,
    else its eager `fetch` as a single batch. Lazy: nothing is fetched before the first batch is asked
    for, and `TableNotProvided` comes out of that first step."""
    own = getattr(source, "fetch_batches", None)
    if own is not None:
        yield from own(table, start, end, coins)
    else:
        yield source.fetch(table, start, end, coins)


def collect(batches: Iterable[SourceBatch], source: str, empty: pl.DataFrame | None = None) -> SourceBatch:
    """Batches as one eager batch: rows, rejects and files of every batch, each note as the last batch
    gave it (the eager `fetch` of a batching source, for callers that need the whole range at once).
    No batch (nothing in the range): `empty`, the table's empty frame where the caller knows it."""
    batches = list(batches)
    if len(batches) == 1:
        return batches[0]
    if not batches:
        return SourceBatch(frame=pl.DataFrame() if empty is None else empty, source=source)
    rejected = [b.rejected for b in batches if b.rejected is not None]
    return SourceBatch(
        frame=pl.concat([b.frame for b in batches], how="vertical"),
        source=source,
        files={k: v for b in batches for k, v in b.files.items()},
        notes={k: v for b in batches for k, v in b.notes.items()},
        rejected=pl.concat(rejected, how="diagonal_relaxed") if rejected else None,
    )


class PartitionedSource:
    """Base of a source that yields one partition per batch: implement `fetch_batches`, inherit `fetch`."""

    name: str

    def fetch_batches(self, table: str, start: date, end: date, coins: Sequence[str]) -> Iterator[SourceBatch]:
        raise NotImplementedError

    def fetch(self, table: str, start: date, end: date, coins: Sequence[str]) -> SourceBatch:
        return collect(self.fetch_batches(table, start, end, coins), self.name)


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
