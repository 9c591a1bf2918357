"""Read lake partitions the way a live service must: one file version per read, and fast.

The pipeline replaces a partition by renaming a new file over the old one. A reader that
opens the path twice (once for the footer, once for the row groups) could see the old
footer and the new rows; so each file is opened ONCE, `fstat`-ed and read whole from that
descriptor: the bytes are one version, the old or the new, whatever the rename does
meanwhile. The frame is cached under (inode, mtime, size) of that version, so a repeated
request costs an open and an fstat, and a renamed-in file is never served from the cache.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from datetime import date
from pathlib import Path

import polars as pl

from dvol_pipeline.lake.catalog import Table, table

CACHE_FILES = 20_000
"""Frames kept (LRU): a dashboard's history chart reads one small file per day and coin."""


class SnapshotReader:
    """Read-only access to one lake's Parquet files through the catalog."""

    def __init__(self, root: Path, cache_files: int = CACHE_FILES) -> None:
        self.root = Path(root)
        self._cache: OrderedDict[tuple[str, tuple[str, ...] | None], tuple[tuple[int, int, int], pl.DataFrame]]
        self._cache = OrderedDict()
        self._size = cache_files
        self._lock = threading.Lock()

    # -- one file -----------------------------------------------------------------------------
    def read_file(self, path: Path, columns: list[str] | None = None) -> pl.DataFrame | None:
        """The file's rows as of one version of it; None when it does not exist."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            return None
        key = (str(path), tuple(columns) if columns else None)
        try:
            st = os.fstat(fd)
            version = (st.st_ino, st.st_mtime_ns, st.st_size)
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None and hit[0] == version:
                    self._cache.move_to_end(key)
                    return hit[1]
            chunks = []
            while chunk := os.read(fd, max(st.st_size, 1 << 16)):
                chunks.append(chunk)
        finally:
            os.close(fd)
        frame = pl.read_parquet(io.BytesIO(b"".join(chunks)), columns=columns)
        with self._lock:
            self._cache[key] = (version, frame)
            self._cache.move_to_end(key)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return frame

    # -- tables through the catalog -------------------------------------------------------------
    def coins(self, name: str) -> list[str]:
        return table(name).coins(self.root)

    def days(self, name: str, asset: str) -> list[date]:
        """Days of one coin's partitions (folder names; unparsable folders are ignored)."""
        out = []
        for text in table(name).coin_days(self.root, asset):
            try:
                out.append(date.fromisoformat(text))
            except ValueError:
                continue
        return out

    def partition(self, name: str, asset: str, day: date, columns: list[str] | None = None) -> pl.DataFrame | None:
        return self.read_file(table(name).partition_file(self.root, asset, day), columns)

    def newest(self, name: str, asset: str, columns: list[str] | None = None) -> tuple[date, pl.DataFrame] | None:
        """The newest partition that holds a file (a folder whose rename has not happened is skipped)."""
        for day in reversed(self.days(name, asset)):
            frame = self.partition(name, asset, day, columns)
            if frame is not None:
                return day, frame
        return None

    def held_days(self, name: str, asset: str) -> list[date]:
        """Days whose partition file is in place (a stat each: for error messages, not the hot path)."""
        t = table(name)
        return [d for d in self.days(name, asset) if t.partition_file(self.root, asset, d).is_file()]

    def newest_day(self, name: str, asset: str) -> date | None:
        t = table(name)
        for day in reversed(self.days(name, asset)):
            if t.partition_file(self.root, asset, day).is_file():
                return day
        return None

    def range(self, name: str, asset: str, start: date | None = None, end: date | None = None,
              columns: list[str] | None = None) -> pl.DataFrame | None:
        """One coin's partitions for days in [start, end], each file read as one version."""
        frames = []
        for day in self.days(name, asset):
            if (start and day < start) or (end and day > end):
                continue
            frame = self.partition(name, asset, day, columns)
            if frame is not None and frame.height:
                frames.append(frame)
        return pl.concat(frames, how="diagonal_relaxed") if frames else None

    def latest(self, name: str, coin: str | None = None, columns: list[str] | None = None) -> pl.DataFrame | None:
        """The newest partition in time (of `coin`, where the table has coins; the whole table where it
        has no time key), each file read as one version; None when nothing is there."""
        frames = [f for f in (self.read_file(p, columns) for p in table(name).latest_files(self.root, coin))
                  if f is not None]
        return pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else (frames[0] if frames else None)

    def single(self, name: str, columns: list[str] | None = None) -> pl.DataFrame | None:
        t: Table = table(name)
        return self.read_file(t.file(self.root), columns)
