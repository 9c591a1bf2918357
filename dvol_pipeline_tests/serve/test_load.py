"""2,000 requests from 20 concurrent clients while the day is rewritten: zero errors, no torn answer.

The latencies of the same load are measured by `make bench` (bench/bench_serve.py), not here:
a shared 2-core CI machine makes any time bound either loose or flaky.
"""

from __future__ import annotations

import pytest

from dvol_pipeline_tests.serve import desk_lake
from dvol_pipeline_tests.serve.load import CLIENTS, PER_CLIENT, run_load, serve_process


@pytest.fixture
def server(tmp_path):
    root = desk_lake.build(tmp_path / "lake")
    with serve_process(root) as url:
        yield root, url


@pytest.mark.slow
def test_2000_requests_from_20_clients_during_an_end_of_day_rewrite(server):
    root, url = server
    load = run_load(root, url)
    assert len(load.answers) == CLIENTS * PER_CLIENT
    assert [a for a in load.answers if a.status != 200] == []
    assert all(a.whole for a in load.answers), "a /signal answer mixed two versions of the day"
    assert {a.path for a in load.answers} == {"/signal/BTC", "/signal/ETH", "/signals", "/surface/BTC", "/exposures/ETH"}
    assert load.rewrites >= 2  # the day really was rewritten while the clients ran
