"""The analysts' DuckDB file, with the feature registry's column docs added to the catalog's."""

from __future__ import annotations

from pathlib import Path

from dvol_pipeline.lake.warehouse import WarehouseView, build_warehouse
from dvol_pipeline.quant.dvol.features import FEATURES, LABELS


def feature_column_docs() -> dict[str, dict[str, str]]:
    """Column comments of features_daily and surface_features, from the feature registry."""
    cols = {f.name: f"[{f.group}] {f.definition} (from {f.source_table}, lag {f.lag_days} d)" for f in FEATURES}
    cols.update({name: f"label: DVOL close at date + {h} d minus DVOL close at date" for h, name in LABELS.items()})
    surface = {f.name: f.definition for f in FEATURES if f.group == "surface"}
    return {"features_daily": cols, "surface_features": surface}


def refresh_warehouse(root: Path, full: bool = False) -> list[WarehouseView]:
    """The runs' writes since the last refresh applied (`full`: the whole lake walked); lake/warehouse.py."""
    return build_warehouse(root, feature_column_docs(), full=full)
