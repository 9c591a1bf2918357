"""Shared fixtures: a throwaway lake per test, and the toy source."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from dvol_pipeline.settings import EVENT_BATCH_SIZE
from dvol_pipeline_tests.toy_market import ToySource, install


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty lake that `DVOL_LAKE` points at, so nothing touches data_lake/."""
    root = tmp_path / "lake"
    root.mkdir()
    monkeypatch.setenv("DVOL_LAKE", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / ".dagster"))
    # what the CLI sets by default, set here so that it is undone after the test and never leaks
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
    return root


@pytest.fixture
def toy() -> ToySource:
    return install(ToySource())


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches the network: httpx's real transport refuses to send, except to a
    server the test itself runs on 127.0.0.1 (the alert webhook tests)."""
    send = httpx.HTTPTransport.handle_request

    def refuse(self, request):
        if request.url.host == "127.0.0.1":
            return send(self, request)
        raise AssertionError(f"a test tried to reach the network: {request.url}")  # pragma: no cover

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", refuse)
