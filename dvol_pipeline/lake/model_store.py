"""Fitted models and their MLflow runs, behind one interface.

A fold's model lives in `models/<family>/<fold>/h<h>/` (catalog.model_dir) and is also an
MLflow run tagged with fold, family and horizon, so a fold's evaluation or an evening's
signal reads *that* fold's model, never "the latest by mtime". The store knows folders and
runs, not model classes: a model is anything with `save(folder)`, and loading goes through
the `loader` the caller hands in (the models registry's `load_forecaster`), which keeps
the lake free of quant imports.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dvol_pipeline.lake.catalog import family_models_dir, model_dir
from dvol_pipeline.lake.tracking import log_model_run


class Saveable(Protocol):
    def save(self, folder: Path) -> Any: ...


@dataclass(frozen=True)
class ModelStore:
    root: Path
    loader: Callable[[Path], Any] | None = None

    def folder(self, family: str, fold: str, horizon: int) -> Path:
        return model_dir(self.root, family, fold, horizon)

    def save(self, model: Saveable, family: str, fold: str, horizon: int) -> Path:
        """Replace the fold's model folder whole (a re-run never mixes two fits). The model is
        written beside it first: a model loaded from this folder reads its weights on first use,
        which its own save may be (the walk-forward re-saves a fold's residual families)."""
        folder = self.folder(family, fold, horizon)
        fresh, old = folder.with_name(folder.name + ".saving"), folder.with_name(folder.name + ".replaced")
        for leftover in (fresh, old):
            if leftover.exists():
                shutil.rmtree(leftover)
        model.save(fresh)
        if folder.exists():
            folder.rename(old)
        fresh.rename(folder)
        if old.exists():
            shutil.rmtree(old)
        return folder

    def load(self, family: str, fold: str, horizon: int) -> Any:
        if self.loader is None:
            raise RuntimeError("ModelStore.load needs a loader (the models registry's load_forecaster)")
        folder = self.folder(family, fold, horizon)
        if not folder.is_dir():
            raise FileNotFoundError(f"no {family} model for fold {fold}, horizon {horizon} d at {folder}; "
                                    "materialize oos_predictions for that fold")
        return self.loader(folder)

    def folds(self, family: str, horizon: int) -> list[str]:
        """Folds holding a saved `family` model for `horizon`, oldest first."""
        base = family_models_dir(self.root, family)
        return sorted(p.name for p in base.glob("*") if (p / f"h{horizon}").is_dir()) if base.is_dir() else []

    def newest_fold(self, family: str, horizon: int, month: str) -> str | None:
        """`month`'s fold if its model exists, else the newest earlier one."""
        found = [f for f in self.folds(family, horizon) if f <= month]
        return found[-1] if found else None

    def log_run(self, run_name: str, tags: dict[str, str], params: dict[str, str], metrics: dict[str, float],
                folder: Path | None, extra: dict[str, Any]) -> str:
        """One MLflow run for a fitted model (its files as artifacts); returns the run id."""
        return log_model_run(self.root, run_name, tags, params, metrics, folder, extra)
