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


EXECUTORS = ("in_process", "multiprocess")


def executor_name() -> str:
    """`$DVOL_EXECUTOR`: how a launched run executes its steps, in its own process (`in_process`,
    the default) or each step in a process of its own (`multiprocess`, the production profile)."""
    name = os.environ.get("DVOL_EXECUTOR", "in_process").strip() or "in_process"
    if name not in EXECUTORS:
        raise ValueError(f"DVOL_EXECUTOR={name!r}: use one of {', '.join(EXECUTORS)}")
    return name
