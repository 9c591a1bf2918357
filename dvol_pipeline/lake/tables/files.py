"""Lake paths that are not tables: model artifacts, reports, MLflow, the warehouse file."""

from __future__ import annotations

from pathlib import Path

MODELS, REPORTS, MLFLOW = "models", "reports", "mlflow"
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


def mlflow_dir(root: Path) -> Path:
    return Path(root) / MLFLOW


def warehouse_file(root: Path) -> Path:
    return Path(root) / WAREHOUSE_FILE
