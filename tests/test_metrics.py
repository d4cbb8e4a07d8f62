"""Metrics against scikit-learn's definitions (computed by hand here, sklearn is not a dependency)."""

import pytest
import torch

from mmlab.metrics import accuracy, classification_report, confusion_matrix, precision_recall_f1

LABELS = [0, 0, 0, 1, 1, 2, 2, 2, 2, 1]
PREDS = [0, 1, 0, 1, 2, 2, 2, 0, 2, 1]


def test_confusion_matrix_rows_are_true_columns_predicted():
    m = confusion_matrix(LABELS, PREDS)
    expected = torch.tensor([[2, 1, 0], [0, 2, 1], [1, 0, 3]])
    assert torch.equal(m, expected)
    assert confusion_matrix([0, 1], [0, 0], n_classes=4).shape == (4, 4)


def test_macro_and_micro_match_the_definitions():
    m = confusion_matrix(LABELS, PREDS)
    precision = [2 / 3, 2 / 3, 3 / 4]  # column-wise
    recall = [2 / 3, 2 / 3, 3 / 4]  # row-wise
    f1 = [2 * p * r / (p + r) for p, r in zip(precision, recall)]
    got = precision_recall_f1(m, "macro")
    assert got == pytest.approx((sum(precision) / 3, sum(recall) / 3, sum(f1) / 3))
    # micro: pooled counts, equal to accuracy for single-label classification
    assert precision_recall_f1(m, "micro") == pytest.approx((0.7, 0.7, 0.7))
    assert accuracy(m) == pytest.approx(0.7)


def test_macro_differs_from_micro_on_imbalanced_classes():
    m = torch.tensor([[90, 0], [8, 2]])  # a rare class mostly missed
    p, r, f1 = precision_recall_f1(m, "macro")
    assert r == pytest.approx((1.0 + 0.2) / 2)
    assert f1 < precision_recall_f1(m, "micro")[2] == pytest.approx(0.92)


def test_a_class_never_predicted_counts_as_zero_precision():
    m = torch.tensor([[5, 0], [5, 0]])
    p, r, f1 = precision_recall_f1(m, "macro")
    assert (
        p == pytest.approx(0.25) and r == pytest.approx(0.5) and f1 == pytest.approx((2 * 0.5 * 1 / 1.5) / 2)
    )


def test_report_and_errors():
    report = classification_report(LABELS, PREDS)
    assert report["accuracy"] == pytest.approx(0.7) and report["micro_f1"] == pytest.approx(0.7)
    with pytest.raises(ValueError, match="square"):
        precision_recall_f1(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="'macro' or 'micro'"):
        precision_recall_f1(torch.eye(2), "weighted")
    with pytest.raises(ValueError, match="3 labels but 2 predictions"):
        confusion_matrix([0, 1, 1], [0, 1])
