"""2,000 requests from 20 concurrent clients while the day is rewritten: zero errors, p99 reported.

The server runs as `python -m dvol_pipeline serve` in its own process (as a desk runs it),
so the clients' threads do not share its interpreter lock and the latencies are the
service's, not the test's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from dvol_pipeline.lake.parquet import write_partitions
from dvol_pipeline_tests.serve import desk_lake
from dvol_pipeline_tests.serve.desk_lake import END
from dvol_pipeline_tests.serve.live_server import free_port

CLIENTS, PER_CLIENT = 20, 100
REPO = Path(__file__).resolve().parents[2]


def _paths(i: int) -> str:
    if i % 10 == 7:
        return "/signals"
    if i % 10 == 8:
        return "/surface/BTC"
    if i % 10 == 9:
        return "/exposures/ETH"
    return "/signal/BTC" if i % 2 else "/signal/ETH"


@pytest.fixture
def server(tmp_path):
    root = desk_lake.build(tmp_path / "lake")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "dvol_pipeline", "serve", "--lake", str(root), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/meta", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the server did not start: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.1)
    try:
        yield root, url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_2000_requests_from_20_clients_during_an_end_of_day_rewrite(server, record_property):
    root, url = server
    stop, rewrites = threading.Event(), [0]

    def rewrite():
        v = 0
        while not stop.is_set():
            v = 1 - v
            write_partitions(root, "signals", desk_lake.signal_rows([END], version=v))
            for name, frame in desk_lake.surface_rows([END], version=v).items():
                write_partitions(root, name, frame)
            rewrites[0] += 1
            time.sleep(0.01)

    def client(c: int) -> list[tuple[str, int, float, bool]]:
        out = []
        with httpx.Client(base_url=url, timeout=10) as http:
            for i in range(PER_CLIENT):
                path = _paths(c + i)
                t0 = time.perf_counter()
                r = http.get(path)
                ms = (time.perf_counter() - t0) * 1000
                whole = True
                if r.status_code == 200 and path.startswith("/signal/"):
                    body = r.json()
                    whole = body["yhat_1d"] == body["yhat_7d"] == body["yhat_14d"] and \
                        int(body["yhat_1d"]) == int(body["model_version"][1])
                out.append((path, r.status_code, ms, whole))
        return out

    writer = threading.Thread(target=rewrite)
    writer.start()
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = [row for rows in pool.map(client, range(CLIENTS)) for row in rows]
    finally:
        stop.set()
        writer.join()
    wall = time.perf_counter() - started
    assert len(results) == CLIENTS * PER_CLIENT
    assert [r for r in results if r[1] != 200] == []
    assert all(r[3] for r in results), "a /signal answer mixed two versions of the day"
    signal_ms = np.array([r[2] for r in results if r[0].startswith("/signal/")])
    all_ms = np.array([r[2] for r in results])
    report = {"requests": len(results), "clients": CLIENTS, "rewrites_of_the_day": rewrites[0], "wall_s": round(wall, 2),
              "signal_p50_ms": round(float(np.percentile(signal_ms, 50)), 1),
              "signal_p99_ms": round(float(np.percentile(signal_ms, 99)), 1),
              "all_p99_ms": round(float(np.percentile(all_ms, 99)), 1)}
    for k, v in report.items():
        record_property(k, v)
    print(f"\nload: {report}")
    assert rewrites[0] >= 2  # the day really was rewritten while the clients ran
    # the target is 50 ms on a quiet machine; a loaded 2-core CI box gets a generous bound
    assert report["signal_p99_ms"] < 1000
