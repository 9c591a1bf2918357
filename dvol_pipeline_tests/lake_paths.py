"""Tests address lake files by (zone, table, coin, day) through the catalog, like the code."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from dvol_pipeline.lake.catalog import QUARANTINE, Table, table


def _table(zone: str, name: str) -> Table:
    t = table(name)
    if zone == QUARANTINE:
        t = t.quarantine()
    assert t.zone == zone, f"{name} lives in zone {t.zone}, not {zone}"
    return t


def partition_dir(root: Path, zone: str, name: str, asset: str, day: date | str) -> Path:
    return _table(zone, name).partition_dir(root, asset, day)


def partition_file(root: Path, zone: str, name: str, asset: str, day: date | str) -> Path:
    return _table(zone, name).partition_file(root, asset, day)
