"""The jobs bench_overhead runs through Dagster, as module-level functions.

Why a module of their own: the multiprocess and celery executors rebuild the job in another process (a
step's subprocess, a Celery worker) from a pointer to the function that made it
(`dg.reconstructable`); a function of the benchmark's `__main__` would be found by file path and
re-run the benchmark's imports there. Each function builds the job from the environment of the
process that calls it, as `definitions.py` does: `DVOL_EXECUTOR` picks the executor, `DVOL_LAKE` the
lake.
"""

from __future__ import annotations

import dagster as dg


def daily_job() -> dg.JobDefinition:
    """The project's `daily_job`: raw tables, surfaces, greeks, features and regimes of a range, one run."""
    from dvol_pipeline.definitions import defs

    return defs.resolve_job_def("daily_job")


def micro_backfill_job() -> dg.JobDefinition:
    """The micro lane's backfill: ticks in, then one book step per (venue, symbol, day) and one features
    step per day (dynamic mapping), each fan-out followed by the step that collects it. The research,
    end-of-day and warehouse assets of `micro_job` are left out: they are one step each over the
    range, not the per-unit fan-out whose bookkeeping this measures."""
    from dvol_pipeline.assets.micro.assets import micro_books, micro_features, raw_ticks
    from dvol_pipeline.definitions import defs
    from dvol_pipeline.executors import executor_def, step_retry_policy

    job = dg.define_asset_job("micro_backfill_job", op_retry_policy=step_retry_policy(),
                              selection=dg.AssetSelection.assets(raw_ticks, micro_books, micro_features))
    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=[job],
                          resources=defs.resources, executor=executor_def()).resolve_job_def("micro_backfill_job")

