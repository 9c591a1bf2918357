"""Shared fixtures: a throwaway lake per test, and the toy source."""

from __future__ import annotations

from pathlib import Path

import httpx
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


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches the network: httpx's real transport refuses to send."""

    def refuse(self, request):  # pragma: no cover - only runs if a test forgets a mock transport
        raise AssertionError(f"a test tried to reach the network: {request.url}")

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", refuse)
