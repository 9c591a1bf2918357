"""universe_forecasts as one step per horizon: the run's steps, and the lake the same bytes as one pass.

The expected tables come from `build_forecasts`, the one-process path (every horizon in turn, the
path `quant/universe/test_walkforward_horizons.py` checks against the one-pass loop before the split).
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from dvol_pipeline.lake.catalog import table, universe_walkforward_dir
from dvol_pipeline.pipeline.universe import run as lane
from dvol_pipeline.quant.universe.walkforward import UniverseWalkForwardConfig

pytestmark = pytest.mark.slow

TABLES = ("universe_predictions", "universe_forecast_metrics", "universe_class_metrics", "universe_calibration",
          "universe_importance", "universe_symbols")
MODEL = {"n_trials": 1, "refit_months": 2, "lstm": False, "track": False}
STEPS = {"universe_forecasts.universe_horizons", "universe_forecasts.universe_horizon[h7]",
         "universe_forecasts.universe_horizon[h14]", "universe_forecasts.universe_forecasts_collected"}


def universe_job() -> dg.JobDefinition:
    """The project's universe_job with the executor DVOL_EXECUTOR names now, in the process that calls it
    (a step's subprocess too): `definitions.defs` keeps the executor of whenever it was first imported."""
    from dvol_pipeline.definitions import defs, executor_def

    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
                          resources=defs.resources, executor=executor_def()).resolve_job_def("universe_job")


@pytest.fixture(scope="module")
def features_lake(tmp_path_factory) -> Path:
    """8 simulated coins over 19 months (4 folds), to universe_features."""
    root = tmp_path_factory.mktemp("universe") / "lake"
    lane.ingest_universe(root, "simulated", date(2021, 3, 24), date(2022, 10, 31), n_coins=8)
    _, leak = lane.build_features(root, check_days=0)
    assert leak.passed
    return root


def _copy(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


def _cfg(model: dict) -> UniverseWalkForwardConfig:
    return UniverseWalkForwardConfig(**{k: v for k, v in model.items() if k != "track"})


def _bytes(root: Path) -> dict[str, bytes | None]:
    return {name: table(name).file(root).read_bytes() if table(name).file(root).exists() else None for name in TABLES}


def _one_pass(features_lake: Path, tmp: Path, model: dict) -> dict[str, bytes]:
    root = _copy(features_lake, tmp / "one_pass")
    lane.build_forecasts(root, _cfg(model), track=False)
    return _bytes(root)


def _run_config(model: dict, root: Path) -> dict:
    """The model config as the CLI passes it (cli.run_universe); the lake named (the definitions module
    may have been imported, with its lake resource, under another test's DVOL_LAKE)."""
    return {"ops": {"universe_forecasts": {"config": model}}, "resources": {"lake": {"config": {"root": str(root)}}}}


def _steps(result) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}


def test_multiprocess_runs_one_step_per_horizon_and_writes_the_one_pass_bytes(features_lake, lake, tmp_path, monkeypatch):
    """Each horizon is a process of its own (the multiprocess executor), reading the lake; the collect
    step's tables are the bytes `build_forecasts` writes, and the run's work folder is gone."""
    from dvol_pipeline.cli import prepare_home

    expected = _one_pass(features_lake, tmp_path, MODEL)
    _copy(features_lake, lake)
    prepare_home(lake)
    monkeypatch.setenv("DVOL_EXECUTOR", "multiprocess")
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(dg.reconstructable(universe_job), instance, run_config=_run_config(MODEL, lake),
                                asset_selection=[dg.AssetKey(k) for k in TABLES[:3]])
        assert result.success
        steps = _steps(result)
        started = {r.event_log_entry.step_key for r in instance.get_records_for_run(
            result.run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED).records}
    assert steps == STEPS and started == STEPS  # a worker process per step
    assert _bytes(lake) == expected and None not in expected.values()
    assert not universe_walkforward_dir(lake, result.run_id).parent.parent.exists()  # work/ removed, being empty
    mats = {e.event_specific_data.materialization.asset_key.path[-1]: e.event_specific_data.materialization.metadata
            for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert set(mats) == set(TABLES[:3])
    assert set(mats["universe_predictions"]) == {"dagster/row_count", "folds", "held_out_symbols", "skipped",
                                                 "mlflow_runs", "seconds"}
    assert set(mats["universe_forecast_metrics"]) == {"dagster/row_count", "headline"}


def test_in_process_with_the_lstm_and_mlflow_writes_the_one_pass_bytes(features_lake, lake, tmp_path):
    """The default executor, the LSTM on, MLflow on (one run per tuned year and horizon): the same tables."""
    from dvol_pipeline.definitions import defs

    model = {**MODEL, "lstm": True, "lstm_refit_months": 2, "track": True}
    expected = _one_pass(features_lake, tmp_path, model)
    _copy(features_lake, lake)
    result = defs.resolve_job_def("universe_job").execute_in_process(
        run_config=_run_config(model, lake), asset_selection=[dg.AssetKey(k) for k in TABLES[:3]])
    assert _steps(result) == STEPS
    assert _bytes(lake) == expected
    mats = {e.event_specific_data.materialization.asset_key.path[-1]: e.event_specific_data.materialization.metadata
            for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    runs = mats["universe_predictions"]["mlflow_runs"].value
    assert len(runs) == 2  # one tuned year (2022) x two horizons


def test_the_k8s_profile_sizes_the_horizon_steps_by_their_op_name():
    """K8S_STEPS is keyed by op name: the per-horizon op, not the asset whose steps it runs."""
    from dvol_pipeline.definitions import defs
    from dvol_pipeline.executors import K8S_STEPS

    ops = {n.name for n in defs.resolve_job_def("universe_job").graph.node_defs}
    assert "universe_forecasts" in ops  # the graph; its ops are below it
    inner = {n.name for n in defs.resolve_job_def("universe_job").graph.node_dict["universe_forecasts"].definition.node_defs}
    assert inner == {"universe_horizons", "universe_horizon", "universe_forecasts_collected"}
    assert "universe_horizon" in K8S_STEPS and "universe_forecasts" not in K8S_STEPS


def test_a_collect_in_another_run_reads_the_horizons_files_and_removes_their_folder(features_lake, tmp_path):
    """A re-execution from failure reuses the parent run's horizon steps: their parts name the parent's
    folder, and the new run's collect reads and removes it (steps called here in reverse order)."""
    model = {**MODEL, "tune": False, "explain": False}
    expected = _one_pass(features_lake, tmp_path, model)
    root = _copy(features_lake, tmp_path / "apart")
    parts = [lane.forecast_horizon(root, _cfg(model), h, "parent") for h in (14, 7)]
    assert all(p.file and (root / p.file).is_file() for p in parts) and parts[0].tuning == []
    lane.collect_forecasts(root, _cfg(model), parts, "child", track=False)
    assert _bytes(root) == expected and expected["universe_importance"] is None  # explain off: not written
    assert not universe_walkforward_dir(root, "parent").exists() and not (root / "work").exists()


def test_a_successful_collect_sweeps_other_runs_horizon_files_left_for_over_a_week(tmp_path):
    """A run that failed after its horizon steps leaves their files for a re-execution from failure;
    a week without a change (the mtimes set here by hand), the next successful collect removes them."""
    import os
    import time

    runs = universe_walkforward_dir(tmp_path, "any").parent
    now = time.time()
    for run, age_days in (("failed_long_ago", 8.0), ("failed_yesterday", 1.0), ("touched_today", 9.0)):
        (runs / run / "h7").mkdir(parents=True)
        (runs / run / "h7" / "forecasts.parquet").write_bytes(b"x")
        for p in (runs / run, runs / run / "h7", runs / run / "h7" / "forecasts.parquet"):
            os.utime(p, (now - age_days * 86400, now - age_days * 86400))
    os.utime(runs / "touched_today" / "h7" / "forecasts.parquet", (now, now))  # one file written today
    removed = lane.sweep_stale_work(runs, now=now)
    assert [p.name for p in removed] == ["failed_long_ago"]
    assert sorted(p.name for p in runs.iterdir()) == ["failed_yesterday", "touched_today"]
