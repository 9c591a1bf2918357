"""Where the lake lives. One function, so every layer (CLI, assets, tests) agrees."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_COINS = ("BTC", "ETH")
DEFAULT_SEED = 20210324  # the simulated market's default seed (SimConfig.seed)
HISTORY_START = "2021-03-24"  # first day of Deribit's DVOL history, and of the simulated market


def lake_root() -> Path:
    """`$DVOL_LAKE` if set, else `data_lake/` in the checkout."""
    env = os.environ.get("DVOL_LAKE")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "data_lake"


def dagster_home(root: Path | None = None) -> Path:
    return (root or lake_root()) / ".dagster"
