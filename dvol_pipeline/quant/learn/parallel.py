"""A process pool for the independent fits of one fold (families x horizons), kept for the process.

Folds run in sequence (the ensemble of fold M reads the out-of-sample predictions of the
folds before M), but within a fold every family of every horizon is fitted on its own;
`run_fold(..., executor=process_pool(2))` spreads them over the pool's workers in groups
of about equal cost (`balanced_groups`). Workers are spawned (not forked: polars and torch
hold thread pools), once per process and size, and each fit inside is seeded and
single-threaded, so the pooled result is identical to the serial one.

Two workers shorten a full walk-forward only while the cores are free; on a busy machine the
gain disappears (bench_walkforward; the measured runs are in docs/benchmarks.md). Each worker
costs a start (spawn + imports) and its own memory, which a run of one or a few folds (the
monthly job, the demo's memory budget) does not win back. So `WalkForwardConfig.workers`
defaults to 1 (serial); set `workers: 2` for a long backfill on free cores.
"""

from __future__ import annotations

import atexit
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor

# seconds of fit+predict over the whole walk-forward of bench_walkforward (relative costs; unknown: 1)
FIT_COST = {"lstm": 36.0, "lightgbm": 17.0, "har": 4.7, "garch": 1.7, "mean_reversion": 0.6, "zero": 0.4}

_POOLS: dict[int, ProcessPoolExecutor] = {}


def process_pool(workers: int) -> ProcessPoolExecutor | None:
    """The process's pool of `workers` spawned workers (None for `workers` <= 1: run serially)."""
    if workers <= 1:
        return None
    if workers not in _POOLS:
        _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                              initializer=_warm_up)
    return _POOLS[workers]


def _warm_up() -> None:
    """Each worker's one-time imports (the families' libraries; torch's deterministic mode
    loads torch._dynamo on first use), paid when the worker starts, not in its first fit."""
    import lightgbm  # noqa: F401  (gbm.py imports it on first use)
    import torch

    import dvol_pipeline.quant.learn.registry  # noqa: F401

    torch.use_deterministic_algorithms(torch.are_deterministic_algorithms_enabled())


@atexit.register
def shutdown_pools() -> None:
    while _POOLS:
        _POOLS.popitem()[1].shutdown(wait=True, cancel_futures=True)


def executor_workers(executor: Executor) -> int:
    return int(getattr(executor, "_max_workers", 1) or 1)


def balanced_groups(families: Sequence[str], workers: int) -> list[list[str]]:
    """`families` in at most `workers` groups of about equal cost (longest first, to the
    lightest group); each group keeps the families' order. Empty groups are dropped."""
    groups: list[list[str]] = [[] for _ in range(max(1, workers))]
    load = [0.0] * len(groups)
    for family in sorted(families, key=lambda f: -FIT_COST.get(f, 1.0)):
        i = load.index(min(load))
        groups[i].append(family)
        load[i] += FIT_COST.get(family, 1.0)
    order = {f: k for k, f in enumerate(families)}
    return [sorted(g, key=order.__getitem__) for g in groups if g]
