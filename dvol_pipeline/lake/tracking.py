"""MLflow under the lake: one local SQLite store, artifacts beside it, no server needed.

Every fold x family x horizon is one MLflow run: its parameters, metrics, feature list,
training window and model files. Runs are tagged so a fold's Dagster materialization can
point at exactly its runs (never "the latest model").
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from dvol_pipeline.lake.catalog import mlflow_dir

EXPERIMENT = "dvol_walkforward"
PARAM_LIMIT = 500  # MLflow caps a parameter's value; the full values are in the artifacts


def tracking_uri(root: Path) -> str:
    return f"sqlite:///{mlflow_dir(root) / 'mlflow.db'}"


def experiment_id(root: Path, name: str = EXPERIMENT) -> str:
    import mlflow

    mlflow_dir(root).mkdir(parents=True, exist_ok=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking_uri(root))
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return mlflow.create_experiment(name, artifact_location=(mlflow_dir(root) / "artifacts").as_uri())


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
    """One MLflow run (in `experiment`, the DVOL walk-forward's by default); returns its id."""
    import mlflow

    exp = experiment_id(root, experiment)
    with mlflow.start_run(experiment_id=exp, run_name=run_name, tags=tags) as run:
        mlflow.log_params({k: v[:PARAM_LIMIT] for k, v in params.items()})
        mlflow.log_metrics({k: v for k, v in metrics.items() if v == v})  # NaN is not a metric
        with tempfile.TemporaryDirectory() as tmp:
            for name, payload in extra.items():
                Path(tmp, f"{name}.json").write_text(json.dumps(payload, indent=1, sort_keys=True, default=str))
            mlflow.log_artifacts(tmp, "info")
        if model_dir is not None:
            mlflow.log_artifacts(str(model_dir), "model")
        return run.info.run_id


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
