"""`make bench`, API part: the signal API's latency under the end-of-day load.

The load test_load.py checks for errors (dvol_pipeline_tests/serve/load.py): concurrent clients
against `python -m dvol_pipeline serve` in its own process, over a small desk lake, while another
thread rewrites the last day's signals and surfaces. Prints the reference loop first, then the
throughput and, per endpoint, the median and 99th percentile latency (the p99 also as a multiple
of the reference loop). The target is a /signal p99 under 50 ms on a quiet machine. Prints,
asserts nothing; exits 1 when a request failed (the numbers would not describe a working service).

    python -m dvol_pipeline_tests.bench.bench_serve [--clients 20] [--per-client 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from dvol_pipeline_tests.bench.reference import reference_line, reference_seconds
from dvol_pipeline_tests.serve import desk_lake
from dvol_pipeline_tests.serve.load import CLIENTS, PER_CLIENT, run_load, serve_process

ENDPOINTS = ("/signal/", "/signals", "/surface/", "/exposures/")
TARGET_SIGNAL_P99_MS = 50.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=CLIENTS)
    p.add_argument("--per-client", type=int, default=PER_CLIENT)
    args = p.parse_args(argv)
    ref = reference_seconds()
    print(reference_line(ref))
    with tempfile.TemporaryDirectory(prefix="dvol-bench-serve-") as tmp:
        root = desk_lake.build(Path(tmp) / "lake")
        with serve_process(root) as url:
            load = run_load(root, url, args.clients, args.per_client)
    failed = [a for a in load.answers if a.status != 200]
    torn = [a for a in load.answers if not a.whole]
    n = len(load.answers)
    print(f"signal API under load: {n} requests from {args.clients} clients in {load.wall_s:.2f} s "
          f"({n / load.wall_s:.0f} requests/s), the day rewritten {load.rewrites} times; "
          f"{len(failed)} failed, {len(torn)} torn")
    rows = [(e, np.array([a.ms for a in load.answers if a.path.startswith(e)])) for e in ENDPOINTS]
    for name, ms in [*rows, ("all", np.array([a.ms for a in load.answers]))]:
        if ms.size == 0:
            continue
        p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
        target = f"  (target <= {TARGET_SIGNAL_P99_MS:.0f} ms on a quiet machine)" if name == "/signal/" else ""
        print(f"    {name:<12} {ms.size:5d} requests  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms "
              f"= {p99 / 1000 / ref:.4f} x reference{target}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
