"""How a lake table's files lie on disk: hive folders named by keys, one file per leaf folder.

The only module that spells a lake folder (`asset=`, `date=`, `part-0.parquet`): a table spec
(`spec.Table`) names its layout and asks it for paths, listings and the split of a frame into
partitions, so no other module builds a path or branches on a layout's name.

Layouts (`<zone>/<table>/` then):

* `asset_date`:        `asset=<A>/date=<D>/part-0.parquet`              one coin, one UTC day
* `fold`:              `fold=<YYYY-MM>/part-0.parquet`                  one walk-forward month
* `single`:            `part-0.parquet`                                 replaced whole each run
* `symbol`:            `symbol=<S>/part-0.parquet`                      one coin's whole history
* `venue_symbol_date`: `venue=<V>/symbol=<S>/date=<D>/part-0.parquet`   one (venue, symbol, UTC day)
  of tick data: the unit of work of the micro lane, written and replaced whole

The universe's raw table uses `symbol`: 60 coins x 1,400 days as `asset_date` would be
84,000 files of one row each (slow to write, list and scan); one file per coin is 60
files of ~1,400 rows, read in one multi-threaded scan, and a source's new file for a coin
replaces that coin's history whole, atomically, as the contract requires.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

PART_FILE = "part-0.parquet"
DATE_KEY = "date"
"""The key whose value is the UTC day of a row's time column (not a column of the frame)."""


def part_file(part: str = "0") -> str:
    """A data file's name in a partition folder (`part-0.parquet`; quarantine names others)."""
    return f"part-{part}.parquet"


def partition_date_expr(time_col: str) -> pl.Expr:
    """The UTC calendar day a row belongs to (its partition)."""
    col = pl.col(time_col)
    return col if time_col == "date" else col.dt.date()


@dataclass(frozen=True)
class Layout:
    """Hive keys, outermost folder first; the values of a partition name its folder."""

    name: str
    keys: tuple[str, ...]
    coin_key: str | None = None
    """The key naming a coin (`asset` or `symbol`): what a reader's `coins=` filters on."""
    time_key: str | None = None
    """The key that orders partitions in time (`date`, `fold`); None: a file holds a whole history."""
    split_from_columns: bool = False
    """A frame's rows say which partition they belong to (every key a column, `date` from the time
    column), so a writer splits a frame itself; else the caller names the partition (a fold, the file)."""

    @property
    def dated(self) -> bool:
        return DATE_KEY in self.keys

    def folder(self, base: Path, values: Mapping[str, object]) -> Path:
        missing = [k for k in self.keys if k not in values]
        extra = [k for k in values if k not in self.keys]
        if missing or extra:
            raise ValueError(f"layout {self.name!r} is keyed by {list(self.keys)}; got {sorted(values)}")
        return Path(base).joinpath(*(f"{k}={values[k]}" for k in self.keys))

    def file(self, base: Path, values: Mapping[str, object], part: str = "0") -> Path:
        return self.folder(base, values) / part_file(part)

    def values(self, base: Path, key: str, under: Mapping[str, object] | None = None) -> list[str]:
        """Every value of `key` that has a folder, sorted, unique; `under`: values of the keys above it
        (a prefix of `keys`), so one coin's days are one listing of that coin's folder."""
        depth = self.keys.index(key)
        prefix, found = f"{key}=", set()
        for _, folder in self.leaves(base, depth=depth, under=under):  # the folders above: few
            try:
                found.update(n[len(prefix):] for n in os.listdir(folder) if n.startswith(prefix))
            except (FileNotFoundError, NotADirectoryError):
                continue
        return sorted(found)

    def leaves(
        self, base: Path, where: Mapping[str, Callable[[str], bool]] | None = None, depth: int | None = None,
        under: Mapping[str, object] | None = None,
    ) -> list[tuple[tuple[str, ...], Path]]:
        """(key texts, folder) of every partition folder, sorted, pruned level by level: a folder whose
        text fails `where[key]` is not listed further down, so a range of days lists only those days'
        folders and never opens a file (a folder whose file is not renamed in yet is listed). `under`:
        start below the folder of these leading keys' values; `depth`: stop after that many keys."""
        where, under = where or {}, dict(under or {})
        lead = self.keys[: len(under)]
        if set(under) != set(lead):
            raise ValueError(f"layout {self.name!r}: {sorted(under)} are not its leading keys {list(lead)}")
        top = tuple(str(under[k]) for k in lead)
        level: list[tuple[tuple[str, ...], Path]] = [(top, Path(base).joinpath(*(f"{k}={under[k]}" for k in lead)))]
        for key in self.keys[len(lead):depth]:
            prefix, keep, below = f"{key}=", where.get(key), []
            for values, folder in level:
                try:
                    names = sorted(os.listdir(folder))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                for name in names:
                    if name.startswith(prefix) and (keep is None or keep(name[len(prefix):])):
                        below.append(((*values, name[len(prefix):]), folder / name))
            level = below
        return level

    def split(
        self, frame: pl.DataFrame, time_col: str, sort_by: tuple[str, ...] = ()
    ) -> dict[tuple, pl.DataFrame]:
        """Key values (a day as a `date`) -> that partition's rows, sorted by `sort_by` (stable; else
        the frame's order). One sort of the whole frame and zero-copy slices, not a partition_by + sort
        per partition: per-partition frame operations were most of a range backfill's time in polars."""
        if not self.split_from_columns:
            raise ValueError(f"layout {self.name!r}: the caller names the partition, a frame cannot be split")
        if frame.is_empty():
            return {}
        cols = [("__day" if k == DATE_KEY else k) for k in self.keys]
        ordered = frame.with_columns(partition_date_expr(time_col).alias("__day")) if self.dated else frame
        ordered = ordered.sort([*cols, *sort_by], maintain_order=True)
        keys = ordered.select(cols)
        changed = pl.col("__i") == 0
        for c in cols:
            changed = changed | (pl.col(c) != pl.col(c).shift())
        starts = keys.with_row_index("__i").filter(changed)
        rows = ordered.drop("__day") if self.dated else ordered
        offsets = [*starts["__i"].to_list(), rows.height]
        values = zip(*(starts[c] for c in cols), strict=True)
        return {v: rows.slice(lo, hi - lo) for v, lo, hi in zip(values, offsets[:-1], offsets[1:], strict=True)}


ASSET_DATE, FOLD, SINGLE, SYMBOL = "asset_date", "fold", "single", "symbol"
VENUE_SYMBOL_DATE = "venue_symbol_date"

LAYOUTS: dict[str, Layout] = {
    ASSET_DATE: Layout(ASSET_DATE, ("asset", DATE_KEY), coin_key="asset", time_key=DATE_KEY, split_from_columns=True),
    FOLD: Layout(FOLD, ("fold",), time_key="fold"),
    SINGLE: Layout(SINGLE, ()),
    SYMBOL: Layout(SYMBOL, ("symbol",), coin_key="symbol", split_from_columns=True),
    VENUE_SYMBOL_DATE: Layout(VENUE_SYMBOL_DATE, ("venue", "symbol", DATE_KEY), coin_key="symbol", time_key=DATE_KEY,
                              split_from_columns=True),
}


def layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise KeyError(f"unknown lake layout {name!r}; known: {', '.join(LAYOUTS)}") from None


def day_filter(start: date | None, end: date | None) -> Callable[[str], bool]:
    """A folder's day text within [start, end]; a folder that is not a day raises ValueError (a read
    never guesses what a stray folder holds)."""

    def keep(text: str) -> bool:
        day = date.fromisoformat(text)
        return not ((start and day < start) or (end and day > end))

    return keep
