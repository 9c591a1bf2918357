"""The walk-forward's folds as steps a worker can take: one step per monthly fold fits its
members (in a process of its own under the multiprocess executor, as on a celery worker),
then one step adds the ensembles oldest fold first and writes each fold whole.

The oracle is the same folds run one after another in one process (`run_month`, the path
the asset took before the folds became steps, whose forecasts the other walk-forward tests
check): spreading the folds over processes must change no byte of the lake, although fold
M's ensemble weighs the members of fold M-1, fitted at the same time in another process.
"""

from __future__ import annotations

import shutil
from datetime import date

import dagster as dg
import pytest

from dvol_pipeline.cli import prepare_home
from dvol_pipeline_tests.fold_lake import run_in_turn, simulated_features, walk_forward_digest, write_features

pytestmark = pytest.mark.slow

KEYS = ["2022-05", "2022-06", "2022-07"]


def monthly_job() -> dg.JobDefinition:
    """The project's monthly job with the executor DVOL_EXECUTOR names (rebuilt in each step's process)."""
    from dvol_pipeline.definitions import defs, executor_def
    from dvol_pipeline.resources import LakeResource, MarketResource

    return dg.Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
        resources={"lake": LakeResource(), "market": MarketResource(source="simulated")},
        executor=executor_def(),
    ).resolve_job_def("monthly_job")


def test_each_fold_is_a_step_of_its_own_and_the_lake_equals_the_folds_run_in_turn(lake, tmp_path, monkeypatch):
    write_features(lake, simulated_features(date(2022, 7, 31)))
    in_turn = tmp_path / "in_turn"
    shutil.copytree(lake, in_turn)

    monkeypatch.setenv("DVOL_EXECUTOR", "multiprocess")
    prepare_home(lake)
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(dg.reconstructable(monthly_job), instance,
                                asset_selection=[dg.AssetKey("oos_predictions")],
                                tags={"dagster/asset_partition_range_start": KEYS[0],
                                      "dagster/asset_partition_range_end": KEYS[-1]})
        assert result.success
        started = {r.event_log_entry.step_key for r in instance.get_records_for_run(
            result.run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED, limit=100).records}
        assert instance.get_materialized_partitions(dg.AssetKey("oos_predictions")) == set(KEYS)
    # one step per fold, each in a process of its own; the ensembles in one step after them
    assert started == {"oos_predictions.fold_units", "oos_predictions.folds_collected",
                       *(f"oos_predictions.fold_members[m{k.replace('-', '_')}]" for k in KEYS)}

    run_in_turn(in_turn, KEYS)
    spread, serial = walk_forward_digest(lake), walk_forward_digest(in_turn)
    assert sum(p.startswith("predictions/oos_predictions") for p in serial) == len(KEYS)
    assert sum("/ensemble/" in p for p in serial) >= 3 * len(KEYS)  # every fold's ensemble at every horizon
    assert spread == serial
