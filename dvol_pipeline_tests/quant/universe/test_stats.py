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


def test_confusion_matrix_and_class_scores_by_hand():
    actual = ["low", "low", "mid", "high", "high", "high", "unknown"]
    pred = ["low", "mid", "mid", "high", "mid", "low", "low"]
    counts = stats.confusion_matrix(actual, pred, ("low", "mid", "high"))
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 1, 1]]  # the row of another label is ignored
    s = stats.class_scores(actual, pred, ("low", "mid", "high"))
    assert s["counts"].tolist() == counts.tolist()
    assert s["accuracy"] == pytest.approx(3 / 6)
    np.testing.assert_allclose(s["precision"], [1 / 2, 1 / 3, 1 / 1])
    np.testing.assert_allclose(s["recall"], [1 / 2, 1 / 1, 1 / 3])
    f1 = [2 * p * r / (p + r) for p, r in zip([1 / 2, 1 / 3, 1.0], [1 / 2, 1.0, 1 / 3])]
    np.testing.assert_allclose(s["f1"], f1)
    assert s["f1_macro"] == pytest.approx(np.mean(f1))
    assert s["precision_macro"] == pytest.approx((1 / 2 + 1 / 3 + 1) / 3)


def test_a_class_never_predicted_has_no_precision_nor_f1_and_drops_out_of_the_macro_mean():
    s = stats.class_scores([0, 0, 1], [0, 0, 0], [0, 1])
    assert math.isnan(s["precision"][1]) and s["recall"][1] == 0.0
    assert math.isnan(s["f1"][1])  # scikit-learn's F1 would be 0 here
    assert s["precision_macro"] == pytest.approx(2 / 3) and s["f1_macro"] == pytest.approx(0.8)


def test_no_row_with_known_labels_gives_zero_counts_and_nan_scores():
    assert stats.confusion_matrix([], [], ["a", "b"]).tolist() == [[0, 0], [0, 0]]
    s = stats.class_scores(["x", None], ["a", "b"], ["a", "b"])
    assert s["counts"].tolist() == [[0, 0], [0, 0]] and math.isnan(s["accuracy"]) and math.isnan(s["f1_macro"])


def test_roc_auc_by_hand_with_a_tie():
    # positives score 0.9, 0.4; negatives 0.4, 0.1: pairs (0.9>0.4, 0.9>0.1, 0.4=0.4 half, 0.4>0.1) -> 3.5 / 4
    assert stats.roc_auc([True, True, False, False], [0.9, 0.4, 0.4, 0.1]) == pytest.approx(3.5 / 4)
    # a row without a score is left out: here the only negative, which leaves one class (NaN)
    assert math.isnan(stats.roc_auc([True, False, True], [0.2, np.nan, 0.1]))


@pytest.mark.parametrize("positive", [[True, True], [False, False, False], []])
def test_roc_auc_of_one_class_is_nan_without_a_warning(positive):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(stats.roc_auc(positive, np.linspace(0, 1, len(positive))))


def test_roc_auc_is_the_share_of_ordered_pairs_ties_half():
    rng = np.random.default_rng(3)
    for _ in range(20):
        pos = rng.random(30) < 0.4
        score = rng.integers(0, 4, 30).astype(float)  # many ties
        diff = score[pos][:, None] - score[~pos][None, :]
        assert stats.roc_auc(pos, score) == pytest.approx(((diff > 0) + 0.5 * (diff == 0)).mean())


def test_decile_calibration_by_hand():
    y_hat = np.arange(20.0)
    y = 2 * y_hat
    hat, real, n = stats.decile_calibration(y, y_hat)
    assert n.tolist() == [2] * 10
    np.testing.assert_allclose(hat, np.arange(10) * 2 + 0.5)
    np.testing.assert_allclose(real, 2 * (np.arange(10) * 2 + 0.5))
