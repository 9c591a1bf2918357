"""One lake table's spec: lane, zone, layout, key, columns, time unit, docs, and its paths.

Paths, the warehouse's views and comments, Dagster's column schemas and the write-time
contracts all read the table specs, so a table is declared once and no path is built anywhere
else. Raw tables' columns are the contracts sources must meet (`contracts/tables.py`);
derived tables declare their key and headline columns, with `strict=False` where the
quant layer adds columns (a backtest statistic, a feature) that are documented next to
the code that computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.contracts.tables import TIME_UNITS, Col, TableSpec, check_time_columns
from dvol_pipeline.lake.tables.layouts import (
    ASSET_DATE,
    DATE_KEY,
    FOLD,
    PART_FILE,
    SINGLE,
    SYMBOL,
    VENUE_SYMBOL_DATE,
    Layout,
    day_filter,
    layout,
    part_file,
)

# zones (folders under the lake root)
RAW, QUARANTINE, FEATURES, SURFACE = "raw", "quarantine", "features", "surface"
PREDICTIONS, BACKTEST, SIGNALS, PAPER = "predictions", "backtest", "signals", "paper"
UNIVERSE = "universe"

CORE = "core"
"""The lane of tables every lane may read (the raw market data); the others are named after their lane."""


@dataclass(frozen=True)
class Table:
    """One lake table: where it lives and what it holds."""

    name: str
    zone: str
    layout: str
    """The name of its `layouts.Layout` (what the UI and /health show)."""
    doc: str
    columns: tuple[Col, ...]
    key: tuple[str, ...] = ()
    sort_by: tuple[str, ...] = ()
    time_col: str = "date"
    """The column whose UTC day picks a dated layout's partition."""
    strict: bool = True
    """False: columns beyond `columns` are allowed (documented where they are computed)."""
    raw: TableSpec | None = field(default=None, repr=False)
    """The source contract of a raw table."""
    lane: str = CORE
    """The lane that owns the table (dvol, options, universe, ...); `core` for shared raw data."""
    time_unit: str = "us"
    """The unit of every timestamp column (`us`; `ns` for tick data)."""

    def __post_init__(self) -> None:
        layout(self.layout)  # an unknown layout fails at declaration, not at the first write
        if self.time_unit not in TIME_UNITS:
            raise ValueError(f"lake table {self.name}: time unit {self.time_unit!r} is not one of {TIME_UNITS}")
        check_time_columns(self.name, self.columns, self.time_unit)

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}

    def column_docs(self) -> dict[str, str]:
        return {c.name: c.doc for c in self.columns}

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)

    # -- the layout: how the table's files are keyed ------------------------------------------
    @property
    def partitioning(self) -> Layout:
        return layout(self.layout)

    @property
    def keys(self) -> tuple[str, ...]:
        """Hive keys of a partition, outermost first (`()`: one file)."""
        return self.partitioning.keys

    @property
    def coin_key(self) -> str | None:
        return self.partitioning.coin_key

    @property
    def time_key(self) -> str | None:
        return self.partitioning.time_key

    @property
    def dated(self) -> bool:
        """Partitions are UTC days of `time_col` (a date range prunes folders)."""
        return self.partitioning.dated

    @property
    def per_coin_day(self) -> bool:
        """One partition per (coin, UTC day): what the freshness report judges."""
        return self.keys == (self.coin_key, DATE_KEY)

    # -- paths: the only place the lake's folders are spelled out ---------------------------
    def base(self, root: Path) -> Path:
        return Path(root) / self.zone / self.name

    def folder(self, root: Path, **values: object) -> Path:
        """The folder of one partition, e.g. `folder(root, venue="binance", symbol="BTCUSDT", date=day)`."""
        return self.partitioning.folder(self.base(root), values)

    def path(self, root: Path, part: str = "0", **values: object) -> Path:
        """The data file of one partition (any layout): `path(root, asset="BTC", date=day)`."""
        return self.partitioning.file(self.base(root), values, part)

    def partition_dir(self, root: Path, asset: str, day: date | str) -> Path:
        self._expect(ASSET_DATE)
        return self.folder(root, asset=asset, date=day)

    def partition_file(self, root: Path, asset: str, day: date | str, part: str = "0") -> Path:
        self._expect(ASSET_DATE)
        return self.path(root, part, asset=asset, date=day)

    def fold_file(self, root: Path, fold: str) -> Path:
        self._expect(FOLD)
        return self.path(root, fold=fold)

    def file(self, root: Path) -> Path:
        self._expect(SINGLE)
        return self.path(root)

    def symbol_file(self, root: Path, symbol: str) -> Path:
        self._expect(SYMBOL)
        return self.path(root, symbol=symbol)

    # -- listings (folder names; no file opened) ------------------------------------------------
    def partitions(
        self, root: Path, start: date | None = None, end: date | None = None,
        where: dict[str, list[str] | tuple[str, ...] | set[str]] | None = None, with_file: bool = False,
    ) -> list[tuple[dict[str, str], Path]]:
        """(key texts, folder) of the partitions whose keys are in `where` (key -> allowed values) and,
        for a dated layout, whose day is in [start, end] (a folder that is not a day raises ValueError
        when a range is asked for), sorted; only the folders they need are listed. `with_file`: only
        partitions whose data file is in place."""
        keep = {k: (lambda text, allowed=set(map(str, v)): text in allowed) for k, v in (where or {}).items()}
        unknown = [k for k in keep if k not in self.keys]
        if unknown:
            raise ValueError(f"lake table {self.name} is keyed by {list(self.keys)}, not {unknown}")
        if self.dated and (start or end):
            keep[DATE_KEY] = day_filter(start, end)
        out = [(dict(zip(self.keys, v, strict=True)), d) for v, d in self.partitioning.leaves(self.base(root), keep)]
        return [(v, d) for v, d in out if (d / PART_FILE).is_file()] if with_file else out

    def partition_files(
        self, root: Path, start: date | None = None, end: date | None = None,
        where: dict[str, list[str] | tuple[str, ...] | set[str]] | None = None,
    ) -> list[Path]:
        """Every data file of the partitions `partitions` selects, in key order: what a read of that
        range scans (every day of the range is parsed; a folder outside it is never listed)."""
        if self.dated and not (start or end):
            start = date.min  # still parse every day folder: a stray folder is an error, not a guess
        files: list[Path] = []
        for _, folder in self.partitions(root, start, end, where):
            files.extend(sorted(folder.glob("*.parquet")))
        return files

    def latest_files(self, root: Path, coin: str | None = None) -> list[Path]:
        """The data files of the newest partition in time (of `coin`, where the layout has coins);
        every file where the layout has no time key (one file, or one per coin)."""
        where = {self.coin_key: [coin]} if coin is not None and self.coin_key else None
        parts = self.partitions(root, where=where, with_file=True)
        if self.time_key == DATE_KEY:  # a folder that is not a day is not data (never guessed)
            parts = [(v, d) for v, d in parts if _is_day(v[DATE_KEY])]
        if self.time_key and parts:
            newest = max(v[self.time_key] for v, _ in parts)
            parts = [(v, d) for v, d in parts if v[self.time_key] == newest]
        return [d / PART_FILE for _, d in parts]

    def symbols(self, root: Path) -> list[str]:
        """Coins of a `symbol` table that hold a file, sorted."""
        self._expect(SYMBOL)
        return [v["symbol"] for v, _ in self.partitions(root, with_file=True)]

    def partition_dirs(self, root: Path) -> list[tuple[str, str, Path]]:
        """(coin, day text, folder) of every `asset_date` partition folder, sorted; the day is
        left as text so a caller decides what to do with a folder that is not a date."""
        self._expect(ASSET_DATE)
        return [(v["asset"], v[DATE_KEY], d) for v, d in self.partitions(root)]

    def coins(self, root: Path) -> list[str]:
        """Coins that have a folder, sorted (directory listings only; `[]` where the layout has no coin)."""
        if self.coin_key is None:
            return []
        return self.partitioning.values(self.base(root), self.coin_key)

    def coin_days(self, root: Path, asset: str) -> list[str]:
        """Day texts of one coin's partition folders, sorted; one listing, no file opened (a
        folder whose file is not renamed in yet is listed: the reader finds it empty)."""
        self._expect(ASSET_DATE)
        return self.partitioning.values(self.base(root), DATE_KEY, under={"asset": asset})

    def fold_keys(self, root: Path) -> list[str]:
        """Folds of a `fold` table that hold a file, oldest first."""
        self._expect(FOLD)
        return [v["fold"] for v, _ in self.partitions(root, with_file=True)]

    def files(self, root: Path) -> list[Path]:
        """Every data file of the table, sorted (all layouts)."""
        base = self.base(root)
        return sorted(base.rglob("*.parquet")) if base.is_dir() else []

    # -- writes: how a frame falls into partitions -----------------------------------------------
    def split(self, frame: pl.DataFrame) -> dict[tuple, pl.DataFrame]:
        """Partition key values (days as `date`) -> rows, in the table's sort order."""
        return self.partitioning.split(frame, self.time_col, tuple(self.sort_by))

    def quarantine(self) -> Table:
        """Where this table's rejected rows go (same partitioning, a `reason` column)."""
        keyed = self.layout if self.layout == VENUE_SYMBOL_DATE else ASSET_DATE  # tick data keeps its venue/symbol
        return Table(self.name, QUARANTINE, keyed, f"Rows of {self.name} rejected by its contract, with a reason.",
                     (), strict=False, time_col=self.time_col, lane=self.lane, time_unit=self.time_unit)

    def _expect(self, name: str) -> None:
        if self.layout != name:
            raise ValueError(f"lake table {self.name} has layout {self.layout!r}, not {name!r}")


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def col(name: str, dtype: pl.DataType, doc: str, nullable: bool = False) -> Col:
    return Col(name, dtype, doc, nullable)


def raw_table(spec: TableSpec, lane: str = CORE, layout_name: str = ASSET_DATE) -> Table:
    """The lake table of a source contract: its columns, key, order, time column and time unit."""
    return Table(spec.name, RAW, layout_name, spec.doc, spec.columns, spec.key, tuple(spec.sort_by),
                 spec.time_col, strict=True, raw=spec, lane=lane, time_unit=spec.time_unit)


def derived_table(name: str, zone: str, layout_name: str, doc: str, columns: tuple[Col, ...],
                  key: tuple[str, ...] = (), sort_by: tuple[str, ...] | None = None, strict: bool = False,
                  *, lane: str) -> Table:
    return Table(name, zone, layout_name, doc, columns, key, tuple(key if sort_by is None else sort_by), strict=strict,
                 lane=lane)


DATE = col("date", pl.Date, "UTC day")
ASSET = col("asset", pl.Utf8, "coin, e.g. BTC")
FOLD_KEY = col("fold", pl.Utf8, "walk-forward month YYYY-MM the row belongs to")
HORIZON = col("horizon", pl.Int32, "forecast horizon in days (1, 7, 14)")
FAMILY = col("family", pl.Utf8, "model family, e.g. har, lightgbm, ensemble")
STRATEGY = col("strategy", pl.Utf8, "strategy, e.g. dvol_futures_7d or option_straddle")
SYMBOL_COL = col("symbol", pl.Utf8, "coin ticker")

__all__ = [
    "ASSET", "ASSET_DATE", "BACKTEST", "CORE", "DATE", "FAMILY", "FEATURES", "FOLD", "FOLD_KEY", "HORIZON",
    "PAPER", "PART_FILE", "PREDICTIONS", "QUARANTINE", "RAW", "SIGNALS", "SINGLE", "STRATEGY", "SURFACE", "SYMBOL",
    "SYMBOL_COL", "Table", "UNIVERSE", "col", "derived_table", "part_file", "raw_table",
]
