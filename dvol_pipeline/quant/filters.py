"""The first-order linear recursion y[t] = gain * x[t] + phi * y[t-1], started from y[-1] = z0 / phi:
exactly what `scipy.signal.lfilter([gain], [1.0, -phi], x, zi=[z0])[0]` returns, bit for bit.

Why not lfilter itself: importing `scipy.signal` takes ~1.2 s (it loads scipy.stats), which the
end-of-day run paid for a few dozen first-order recursions (the simulated market's paths and
flows, the GARCH variance filter) that take ~0.1 s as a Python loop over floats; that import was
a quarter of the run's 5 s target (docs/benchmarks.md). The micro lane's simulators, which filter
millions of ticks a day, keep lfilter.

Why it is exact: lfilter's direct form II transposed, with b = [gain, 0] and a = [1, -phi] (b is
padded to a's length, and a[0] = 1 leaves both unscaled), computes each step as
y = z + gain * x, then z = x * 0 - y * (-phi). Here y = z + gain * x, then z = phi * y: x * 0 is a
zero and y * (-phi) = -(y * phi) in IEEE arithmetic, so every value agrees in every bit (for
finite inputs). test_filters.py checks it against lfilter on random series.
"""

from __future__ import annotations

import numpy as np


def ar1_filter(x: np.ndarray, phi: float, gain: float = 1.0, z0: float = 0.0) -> np.ndarray:
    """y[t] = gain * x[t] + phi * y[t-1] with y[0] = z0 + gain * x[0], over a 1-d float64 series."""
    x = np.asarray(x)
    if x.ndim != 1 or x.dtype != np.float64:
        raise ValueError(f"ar1_filter takes a 1-d float64 series, got {x.ndim}-d {x.dtype}")
    phi, gain, z = float(phi), float(gain), float(z0)
    out = []
    keep = out.append
    for xt in x.tolist():
        y = z + gain * xt
        keep(y)
        z = phi * y
    return np.array(out, dtype=np.float64)
