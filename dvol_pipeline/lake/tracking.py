"""MLflow under the lake: one local SQLite store, artifacts beside it, no server needed.

Every fold x family x horizon is one MLflow run: its parameters, metrics, feature list,
training window and model files. Runs are tagged so a fold's Dagster materialization can
point at exactly its runs (never "the latest model").
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from dvol_pipeline.lake.catalog import mlflow_dir

EXPERIMENT = "dvol_walkforward"
PARAM_LIMIT = 500  # MLflow caps a parameter's value; the full values are in the artifacts


def tracking_uri(root: Path) -> str:
    return f"sqlite:///{mlflow_dir(root) / 'mlflow.db'}"


_EXPERIMENTS: dict[tuple[str, str], str] = {}
BATCH_PARAMS = 100  # MLflow's log_batch takes at most 100 params per call


def experiment_id(root: Path, name: str = EXPERIMENT) -> str:
    """The experiment's id, created on first use; looked up once per process and lake."""
    import mlflow

    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    if (uri, name) in _EXPERIMENTS and mlflow_dir(root).is_dir():
        return _EXPERIMENTS[(uri, name)]
    mlflow_dir(root).mkdir(parents=True, exist_ok=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        exp = found.experiment_id
    else:
        exp = mlflow.create_experiment(name, artifact_location=(mlflow_dir(root) / "artifacts").as_uri())
    _EXPERIMENTS[(uri, name)] = exp
    return exp


def log_model_run(
    root: Path,
    run_name: str,
    tags: dict[str, str],
    params: dict[str, str],
    metrics: dict[str, float],
    model_dir: Path | None,
    extra: dict[str, Any],
    experiment: str = EXPERIMENT,
) -> str:
    """One MLflow run (in `experiment`, the DVOL walk-forward's by default); returns its id.

    Through `MlflowClient`: create, one `log_batch` of params and metrics, artifacts, terminate.
    The fluent API's start_run / log_params / log_metrics / end_run commit to the SQLite store
    once each (plus an experiment lookup), which adds up over the hundreds of runs of a demo."""
    import mlflow
    from mlflow.entities import Metric, Param

    exp = experiment_id(root, experiment)
    client = mlflow.MlflowClient(tracking_uri(root))
    run_id = client.create_run(exp, run_name=run_name, tags=tags).info.run_id
    now = int(time.time() * 1000)
    plist = [Param(k, v[:PARAM_LIMIT]) for k, v in params.items()]
    mlist = [Metric(k, v, now, 0) for k, v in metrics.items() if v == v]  # NaN is not a metric
    for i in range(0, max(len(plist), 1), BATCH_PARAMS):
        client.log_batch(run_id, metrics=mlist if i == 0 else [], params=plist[i : i + BATCH_PARAMS])
    with tempfile.TemporaryDirectory() as tmp:
        for name, payload in extra.items():
            Path(tmp, f"{name}.json").write_text(json.dumps(payload, indent=1, sort_keys=True, default=str))
        client.log_artifacts(run_id, tmp, "info")
    if model_dir is not None:
        client.log_artifacts(run_id, str(model_dir), "model")
    client.set_terminated(run_id)
    return run_id


REPORTS_EXPERIMENT = "dvol_backtests"


UNIVERSE_EXPERIMENT = "universe_walkforward"


def log_report_run(
    root: Path, run_name: str, tags: dict[str, str], metrics: dict[str, float], files: list[Path],
    experiment: str = REPORTS_EXPERIMENT,
) -> tuple[str, str]:
    """One MLflow run holding report files (tear sheets) as artifacts; returns (run id, artifact URI)."""
    import mlflow

    exp = experiment_id(root, experiment)
    with mlflow.start_run(experiment_id=exp, run_name=run_name, tags=tags) as run:
        mlflow.log_metrics({k: v for k, v in metrics.items() if v == v})
        for path in files:
            mlflow.log_artifact(str(path), "tearsheets")
        return run.info.run_id, run.info.artifact_uri
