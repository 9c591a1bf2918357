"""Classification metrics, one definition each, on scikit-learn: the confusion matrix, per-class
precision / recall / F1 with their macro means, and ROC AUC.

Used by every lane that scores a classifier: the universe's regime classes and the IV-rank gate.
scikit-learn computes; this module only fixes what it leaves open (rows with an unknown label,
no rows at all, one class present) the same way everywhere.
"""

from __future__ import annotations

import numpy as np


def _labelled(actual, predicted, labels) -> tuple[list, list]:
    """The rows whose actual and predicted class are both among `labels` (the others are ignored)."""
    known = set(labels)
    rows = [(a, p) for a, p in zip(actual, predicted, strict=True) if a in known and p in known]
    return [a for a, _ in rows], [p for _, p in rows]


def confusion_matrix(actual, predicted, labels) -> np.ndarray:
    """counts[i, j]: rows of actual class labels[i] predicted as labels[j] (scikit-learn's
    `confusion_matrix`); rows with another label on either side are ignored, and none left gives
    zeros (where scikit-learn raises)."""
    from sklearn import metrics

    a, p = _labelled(actual, predicted, labels)
    if not a:
        return np.zeros((len(labels), len(labels)), dtype=np.int64)
    return metrics.confusion_matrix(a, p, labels=list(labels)).astype(np.int64)


def class_scores(actual, predicted, labels) -> dict[str, np.ndarray | float]:
    """The confusion matrix (`counts`, as `confusion_matrix`), accuracy, per-class precision, recall
    and F1 (scikit-learn's, in the order of `labels`), and their macro means over the classes where
    defined. Undefined is NaN: a class never predicted has no precision, one never seen no recall,
    and F1 is NaN where either is (scikit-learn would give 0 there, which would pull the macro mean
    down for a class the model never had a chance on)."""
    from sklearn import metrics

    counts = confusion_matrix(actual, predicted, labels)
    a, p = _labelled(actual, predicted, labels)
    if a:
        precision, recall, f1, _ = metrics.precision_recall_fscore_support(
            a, p, labels=list(labels), average=None, zero_division=np.nan)
    else:
        precision = recall = f1 = np.full(len(labels), np.nan)
    f1 = np.where(np.isfinite(precision) & np.isfinite(recall), f1, np.nan)
    total = counts.sum()

    def macro(values: np.ndarray) -> float:
        return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")

    return {"counts": counts, "accuracy": float(np.trace(counts) / total) if total else float("nan"),
            "precision": precision, "recall": recall, "f1": f1, "precision_macro": macro(precision),
            "recall_macro": macro(recall), "f1_macro": macro(f1)}


def roc_auc(positive, score) -> float:
    """Area under the ROC curve (scikit-learn's `roc_auc_score`): the probability that a random
    positive row scores above a random negative one, ties counting half. Rows whose score is not
    finite are left out. NaN unless both classes are present (scikit-learn warns and returns NaN
    there; this returns NaN without the warning, as it always did)."""
    from sklearn import metrics

    pos = np.asarray(positive, bool)
    s = np.asarray(score, float)
    keep = np.isfinite(s)
    pos, s = pos[keep], s[keep]
    if pos.all() or not pos.any():  # one class, or no rows: no pair to compare
        return float("nan")
    return float(metrics.roc_auc_score(pos, s))
