"""Lake paths that are not tables: model artifacts, reports, MLflow, the warehouse file."""

from __future__ import annotations

from pathlib import Path

MODELS, REPORTS, MLFLOW, WORK = "models", "reports", "mlflow", "work"
WAREHOUSE_FILE = "warehouse.duckdb"


def model_dir(root: Path, family: str, fold: str, horizon: int) -> Path:
    """A fitted model: `models/<family>/<fold>/h<h>/`."""
    return Path(root) / MODELS / family / fold / f"h{horizon}"


def family_models_dir(root: Path, family: str) -> Path:
    return Path(root) / MODELS / family


def report_file(root: Path, run_id: str, asset: str) -> Path:
    """A tear sheet: `reports/<run id>/tearsheet_<COIN>.html` (`latest` is the newest run's copy)."""
    return Path(root) / REPORTS / run_id / f"tearsheet_{asset}.html"


def universe_report_file(root: Path, run_id: str) -> Path:
    """The universe report: `reports/<run id>/universe.html` (`latest` is the newest run's copy)."""
    return Path(root) / REPORTS / run_id / "universe.html"


def micro_report_file(root: Path, run_id: str) -> Path:
    """The micro lane's tear sheet: `reports/<run id>/micro.html` (`latest` is the newest run's copy)."""
    return Path(root) / REPORTS / run_id / "micro.html"


def universe_walkforward_dir(root: Path, run_id: str) -> Path:
    """One run's per-horizon universe forecasts, `work/universe_walkforward/<run id>/`: each horizon's
    step writes its file there, the collect step reads them into the tables and removes the folder."""
    return Path(root) / WORK / "universe_walkforward" / run_id


def universe_horizon_file(root: Path, run_id: str, horizon: int) -> Path:
    return universe_walkforward_dir(root, run_id) / f"h{horizon}.parquet"


def mlflow_dir(root: Path) -> Path:
    return Path(root) / MLFLOW


def warehouse_file(root: Path) -> Path:
    return Path(root) / WAREHOUSE_FILE
