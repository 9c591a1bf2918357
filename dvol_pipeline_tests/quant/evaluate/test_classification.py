"""quant/evaluate/classification.py: the confusion matrix, class scores and ROC AUC, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dvol_pipeline.quant.evaluate import classification


def test_confusion_matrix_and_class_scores_by_hand():
    actual = ["low", "low", "mid", "high", "high", "high", "unknown"]
    pred = ["low", "mid", "mid", "high", "mid", "low", "low"]
    counts = classification.confusion_matrix(actual, pred, ("low", "mid", "high"))
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 1, 1]]  # the row of another label is ignored
    s = classification.class_scores(actual, pred, ("low", "mid", "high"))
    assert s["counts"].tolist() == counts.tolist()
    assert s["accuracy"] == pytest.approx(3 / 6)
    np.testing.assert_allclose(s["precision"], [1 / 2, 1 / 3, 1 / 1])
    np.testing.assert_allclose(s["recall"], [1 / 2, 1 / 1, 1 / 3])
    f1 = [2 * p * r / (p + r) for p, r in zip([1 / 2, 1 / 3, 1.0], [1 / 2, 1.0, 1 / 3])]
    np.testing.assert_allclose(s["f1"], f1)
    assert s["f1_macro"] == pytest.approx(np.mean(f1))
    assert s["precision_macro"] == pytest.approx((1 / 2 + 1 / 3 + 1) / 3)


def test_a_class_never_predicted_has_no_precision_nor_f1_and_drops_out_of_the_macro_mean():
    s = classification.class_scores([0, 0, 1], [0, 0, 0], [0, 1])
    assert math.isnan(s["precision"][1]) and s["recall"][1] == 0.0
    assert math.isnan(s["f1"][1])  # scikit-learn's F1 would be 0 here
    assert s["precision_macro"] == pytest.approx(2 / 3) and s["f1_macro"] == pytest.approx(0.8)


def test_no_row_with_known_labels_gives_zero_counts_and_nan_scores():
    assert classification.confusion_matrix([], [], ["a", "b"]).tolist() == [[0, 0], [0, 0]]
    s = classification.class_scores(["x", None], ["a", "b"], ["a", "b"])
    assert s["counts"].tolist() == [[0, 0], [0, 0]] and math.isnan(s["accuracy"]) and math.isnan(s["f1_macro"])


def test_roc_auc_by_hand_with_a_tie():
    # positives score 0.9, 0.4; negatives 0.4, 0.1: pairs (0.9>0.4, 0.9>0.1, 0.4=0.4 half, 0.4>0.1) -> 3.5 / 4
    assert classification.roc_auc([True, True, False, False], [0.9, 0.4, 0.4, 0.1]) == pytest.approx(3.5 / 4)
    # a row without a score is left out: here the only negative, which leaves one class (NaN)
    assert math.isnan(classification.roc_auc([True, False, True], [0.2, np.nan, 0.1]))


@pytest.mark.parametrize("positive", [[True, True], [False, False, False], []])
def test_roc_auc_of_one_class_is_nan_without_a_warning(positive):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(classification.roc_auc(positive, np.linspace(0, 1, len(positive))))


def test_roc_auc_is_the_share_of_ordered_pairs_ties_half():
    rng = np.random.default_rng(3)
    for _ in range(20):
        pos = rng.random(30) < 0.4
        score = rng.integers(0, 4, 30).astype(float)  # many ties
        diff = score[pos][:, None] - score[~pos][None, :]
        assert classification.roc_auc(pos, score) == pytest.approx(((diff > 0) + 0.5 * (diff == 0)).mean())
