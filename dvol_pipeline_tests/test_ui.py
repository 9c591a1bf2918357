"""`make ui` for real: the Dagster webserver loads workspace.yaml and shows the raw assets,
their daily partitions and their checks (asked through its GraphQL API)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dvol_pipeline.cli import prepare_home
from dvol_pipeline.contracts.tables import RAW_TABLES
from dvol_pipeline.settings import REPO_ROOT

QUERY = """{ assetNodes { assetKey { path } isPartitioned partitionKeys
  assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, body: bytes | None = None) -> bytes:
    req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


@pytest.fixture
def webserver(lake: Path):
    home = prepare_home(lake)
    port = _free_port()
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT,
        env={**os.environ, "DAGSTER_HOME": str(home), "DVOL_LAKE": str(lake)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so teardown stops every child
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _get(url + "/server_info")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("dagster dev did not start")
                time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_ui_shows_raw_assets_partitions_and_blocking_checks(webserver):
    deadline = time.monotonic() + 60
    while True:  # the code location loads in the background after the server answers
        data = json.loads(_get(webserver + "/graphql", json.dumps({"query": QUERY}).encode()))
        nodes = {n["assetKey"]["path"][-1]: n for n in (data.get("data") or {}).get("assetNodes", [])}
        if nodes or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert set(RAW_TABLES) | {"warehouse"} <= set(nodes)
    for table in RAW_TABLES:
        node = nodes[table]
        assert node["isPartitioned"] and node["partitionKeys"][0] == "2021-03-24"
        checks = {c["name"]: c["blocking"] for c in node["assetChecksOrError"]["checks"]}
        assert checks == {"contract": True, "gaps": False, "fresh": False}
