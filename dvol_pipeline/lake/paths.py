"""The lake's folder layout (DESIGN.md "Lake"), in one place."""

from __future__ import annotations

from datetime import date
from pathlib import Path

PART_FILE = "part-0.parquet"


def partition_dir(root: Path, zone: str, table: str, asset: str, day: date | str) -> Path:
    """`<root>/<zone>/<table>/asset=<A>/date=<D>`; zone is raw, features or quarantine."""
    return root / zone / table / f"asset={asset}" / f"date={day}"


def partition_file(root: Path, zone: str, table: str, asset: str, day: date | str) -> Path:
    return partition_dir(root, zone, table, asset, day) / PART_FILE

