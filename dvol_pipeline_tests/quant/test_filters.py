"""quant/filters.ar1_filter against scipy.signal.lfilter, the filter it replaces, bit for bit."""

import numpy as np
import pytest
from scipy.signal import lfilter

from dvol_pipeline.quant.filters import ar1_filter


@pytest.mark.parametrize("seed", range(20))
def test_ar1_filter_equals_lfilter_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    x = rng.standard_normal(n) * 10 ** rng.uniform(-8, 3)
    phi = rng.uniform(-0.999, 0.9999)
    for gain in (1.0, np.sqrt(1.0 - phi * phi), rng.uniform(0.0, 3.0)):
        z0 = rng.standard_normal() * 3
        assert ar1_filter(x, phi, gain, z0).tobytes() == lfilter([gain], [1.0, -phi], x, zi=[z0])[0].tobytes()
        assert ar1_filter(x, phi, gain).tobytes() == lfilter([gain], [1.0, -phi], x).tobytes()


def test_ar1_filter_small_case_by_hand():
    # y0 = z0 + x0 = 1 + 2; y1 = 0.5 * y0 + x1 = 1.5 + 1; y2 = 0.5 * 2.5 - 4
    np.testing.assert_array_equal(ar1_filter(np.array([2.0, 1.0, -4.0]), 0.5, z0=1.0), [3.0, 2.5, -2.75])
    assert ar1_filter(np.array([], dtype=np.float64), 0.5).shape == (0,)


def test_ar1_filter_rejects_other_dtypes():
    # lfilter would compute a float32 series in float32: refuse instead of silently differing
    with pytest.raises(ValueError):
        ar1_filter(np.ones(3, dtype=np.float32), 0.5)
    with pytest.raises(ValueError):
        ar1_filter(np.ones((2, 2)), 0.5)
