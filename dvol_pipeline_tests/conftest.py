"""Shared fixtures: a throwaway lake per test, and the toy source."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvol_pipeline_tests.toy_market import ToySource, install


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty lake that `DVOL_LAKE` points at, so nothing touches data_lake/."""
    root = tmp_path / "lake"
    root.mkdir()
    monkeypatch.setenv("DVOL_LAKE", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / ".dagster"))
    return root


@pytest.fixture
def toy() -> ToySource:
    return install(ToySource())
