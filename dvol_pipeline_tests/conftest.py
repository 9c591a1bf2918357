"""Shared fixtures: a throwaway lake per test, the toy source, a throwaway PostgreSQL per module."""

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


@pytest.fixture(scope="module")
def pg_server():
    """A throwaway PostgreSQL server for a test module (pg_server.py); a missing server binary fails the
    test with the line that says how to install it, not with a traceback."""
    from dvol_pipeline_tests.pg_server import throwaway_postgres

    try:
        with throwaway_postgres() as server:
            yield server
    except RuntimeError as err:
        if "not found" in str(err):
            pytest.fail(str(err), pytrace=False)
        raise
