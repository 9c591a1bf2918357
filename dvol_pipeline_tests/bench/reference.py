"""The reference loop a benchmark prints on its first line.

`sum(i * i for i in range(3 * 10**7))`, timed as the best wall time of a few runs: a benchmark
also gives its own times as multiples of it, so figures from different machines, or from a busy
shared machine, can be compared.
"""

from __future__ import annotations

import time
from collections.abc import Callable

LOOP = "sum(i*i for i in range(3*10**7))"


def best_seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    """Best wall seconds of `repeats` calls of `fn`."""
    wall = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
    return min(wall)


def reference_seconds(repeats: int = 3) -> float:
    """Best wall seconds of the reference loop."""
    return best_seconds(lambda: sum(i * i for i in range(3 * 10**7)), repeats)


def reference_line(seconds: float, repeats: int = 3) -> str:
    """The first line of a benchmark's output."""
    return f"reference loop {LOOP}: {seconds:.3f} s (best of {repeats})"
