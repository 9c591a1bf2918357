"""The end-of-day load on the signal API: many concurrent clients while the day is rewritten.

Shared by `test_load.py` (every answer comes back, whole) and `bench/bench_serve.py` (how fast).
The server runs as `python -m dvol_pipeline serve` in its own process (as a desk runs it), so
the clients' threads do not share its interpreter lock and the latencies are the service's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from dvol_pipeline.lake.parquet import write_partitions
from dvol_pipeline_tests.serve import desk_lake
from dvol_pipeline_tests.serve.desk_lake import END
from dvol_pipeline_tests.serve.live_server import free_port

CLIENTS, PER_CLIENT = 20, 100
REPO = Path(__file__).resolve().parents[2]


def request_path(i: int) -> str:
    """The i-th request of a client: mostly one coin's signal, sometimes the day's table, a surface
    or the exposures."""
    if i % 10 == 7:
        return "/signals"
    if i % 10 == 8:
        return "/surface/BTC"
    if i % 10 == 9:
        return "/exposures/ETH"
    return "/signal/BTC" if i % 2 else "/signal/ETH"


@contextmanager
def serve_process(root: Path) -> Iterator[str]:
    """`python -m dvol_pipeline serve --lake root` on a free port until the block ends; yields its URL."""
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
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass(frozen=True)
class Answer:
    path: str
    status: int
    ms: float
    whole: bool  # a /signal answer from one version of the day (always True for other paths)


@dataclass(frozen=True)
class Load:
    answers: list[Answer]
    rewrites: int  # how often the day was rewritten while the clients ran
    wall_s: float


def run_load(root: Path, url: str, clients: int = CLIENTS, per_client: int = PER_CLIENT) -> Load:
    """`clients` threads of `per_client` requests each, while another thread rewrites the last day's
    signals and surfaces back and forth between two versions."""
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

    def client(c: int) -> list[Answer]:
        out = []
        with httpx.Client(base_url=url, timeout=10) as http:
            for i in range(per_client):
                path = request_path(c + i)
                t0 = time.perf_counter()
                r = http.get(path)
                ms = (time.perf_counter() - t0) * 1000
                whole = True
                if r.status_code == 200 and path.startswith("/signal/"):
                    body = r.json()
                    whole = body["yhat_1d"] == body["yhat_7d"] == body["yhat_14d"] and \
                        int(body["yhat_1d"]) == int(body["model_version"][1])
                out.append(Answer(path, r.status_code, ms, whole))
        return out

    writer = threading.Thread(target=rewrite)
    writer.start()
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(clients) as pool:
            answers = [a for rows in pool.map(client, range(clients)) for a in rows]
    finally:
        stop.set()
        writer.join()
    return Load(answers, rewrites[0], time.perf_counter() - started)
