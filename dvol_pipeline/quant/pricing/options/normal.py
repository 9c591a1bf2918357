"""The standard normal CDF and density behind every Black-76 price and greek.

Why one module: prices, greeks and the simulator's smile integrals must share one kernel,
so a change of kernel (or of its operation order) moves them all together and no two
code paths disagree in the last bits. The implied-vol solver keeps its own specialised
forms (erfcx in log space, complements) on purpose; see implied_vol.py.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

INV_SQRT_2PI = 0.3989422804014326779399460599343818684758586311649
"""1 / sqrt(2 pi), to more digits than a double holds (rounds to the nearest double)."""


def norm_cdf(d: np.ndarray) -> np.ndarray:
    """N(d), accurate in both tails (scipy's ndtr: erfc below -1/sqrt(2), no 1 - N loss)."""
    return ndtr(d)


def norm_pdf(d: np.ndarray) -> np.ndarray:
    """n(d) = exp(-d^2 / 2) / sqrt(2 pi), as a fresh array (callers scale it in place)."""
    density = np.exp(-0.5 * d * d)
    density *= INV_SQRT_2PI
    return density
