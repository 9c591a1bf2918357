"""The statistics the universe reports, each against a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dvol_pipeline.quant import stats


Y = np.array([0.5, 0.8, 1.0, 0.4, np.nan])
Y_HAT = np.array([0.6, 0.6, 1.2, 0.5, 0.9])


def test_mae_rmse_r2_oos_by_hand():
    # errors on the finite rows: -0.1, 0.2, -0.2, -0.1
    assert stats.mae(Y, Y_HAT) == pytest.approx((0.1 + 0.2 + 0.2 + 0.1) / 4)
    assert stats.rmse(Y, Y_HAT) == pytest.approx(math.sqrt((0.01 + 0.04 + 0.04 + 0.01) / 4))
    bench = np.full(5, 0.7)  # errors -0.2, 0.1, 0.3, -0.3 -> SSE 0.23
    assert stats.r2_oos(Y, Y_HAT, bench) == pytest.approx(1 - 0.10 / 0.23)
    assert math.isnan(stats.r2_oos([1.0, 1.0], [1.0, 2.0], [1.0, 1.0]))  # a benchmark without error


def test_qlike_by_hand_and_zero_for_a_perfect_forecast():
    # one row: vol 0.5, forecast 0.25 -> variance ratio 4: 4 - ln 4 - 1
    assert stats.qlike([0.5], [0.25]) == pytest.approx(4 - math.log(4) - 1)
    assert stats.qlike([0.5, 0.3], [0.5, 0.3]) == pytest.approx(0.0)
    under, over = stats.qlike([0.5], [0.4]), stats.qlike([0.5], [0.6])
    assert under > over  # under-predicting vol costs more than over-predicting by as much


def test_top_share_hit_rate_by_hand():
    y = np.arange(10.0)  # top 20 %: 8 and 9 (>= the 0.8 quantile 7.2)
    y_hat = np.array([0, 1, 2, 3, 4, 5, 6, 9, 8, 7], float)  # picks rows 7 and 8 (y = 7, 8)
    assert stats.top_share_hit_rate(y, y_hat, 0.2) == pytest.approx(0.5)
    assert stats.top_share_hit_rate(y, y, 0.2) == 1.0


def test_decile_calibration_by_hand():
    y_hat = np.arange(20.0)
    y = 2 * y_hat
    hat, real, n = stats.decile_calibration(y, y_hat)
    assert n.tolist() == [2] * 10
    np.testing.assert_allclose(hat, np.arange(10) * 2 + 0.5)
    np.testing.assert_allclose(real, 2 * (np.arange(10) * 2 + 0.5))
