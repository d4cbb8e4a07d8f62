"""Classification metrics from a confusion matrix: accuracy, precision, recall, F1 (macro and micro).

The confusion matrix ``M`` has one row per *true* class and one column per *predicted* class:
``M[i, j]`` counts examples of class i predicted as j. For class c,

* precision_c = M[c, c] / sum_i M[i, c]   (of those predicted c, the fraction that are c)
* recall_c    = M[c, c] / sum_j M[c, j]   (of those that are c, the fraction found)
* F1_c        = 2 precision_c recall_c / (precision_c + recall_c)

**Macro** averaging takes the mean over classes (each class counts the same, however rare);
**micro** averaging pools the counts of all classes first, which for single-label classification
makes precision = recall = F1 = accuracy. A class never predicted has precision 0/0, taken as 0
(scikit-learn's ``zero_division=0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

__all__ = ["accuracy", "classification_report", "confusion_matrix", "precision_recall_f1"]


def confusion_matrix(
    labels: Sequence[int] | torch.Tensor,
    predictions: Sequence[int] | torch.Tensor,
    n_classes: int | None = None,
) -> torch.Tensor:
    """``(C, C)`` counts, rows = true class, columns = predicted class."""
    labels, predictions = (
        torch.as_tensor(labels).long().flatten(),
        torch.as_tensor(predictions).long().flatten(),
    )
    if labels.shape != predictions.shape:
        raise ValueError(f"{labels.numel()} labels but {predictions.numel()} predictions")
    if labels.numel() == 0:
        raise ValueError("confusion_matrix needs at least one example")
    n = int(max(labels.max(), predictions.max())) + 1 if n_classes is None else n_classes
    if labels.min() < 0 or predictions.min() < 0 or labels.max() >= n or predictions.max() >= n:
        raise ValueError(f"labels and predictions must lie in [0, {n})")
    return torch.bincount(labels * n + predictions, minlength=n * n).view(n, n)


def accuracy(confusion: torch.Tensor) -> float:
    """Fraction of examples on the diagonal."""
    return float(confusion.diagonal().sum() / confusion.sum())


def _safe_divide(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(b > 0, a / b.clamp(min=1e-12), torch.zeros_like(a))


def precision_recall_f1(
    confusion: torch.Tensor, average: Literal["macro", "micro"] = "macro"
) -> tuple[float, float, float]:
    """(precision, recall, F1) of a confusion matrix (rows true, columns predicted).

    ``average="macro"``: per-class values, then their mean (F1 is the mean of per-class F1s, as in
    scikit-learn). ``average="micro"``: pooled counts over all classes.
    """
    confusion = torch.as_tensor(confusion, dtype=torch.float64)
    if confusion.dim() != 2 or confusion.size(0) != confusion.size(1):
        raise ValueError(f"confusion must be a square (C, C) matrix, got shape {tuple(confusion.shape)}")
    tp = confusion.diagonal()  # (C,)
    predicted = confusion.sum(dim=0)  # column sums: how often each class was predicted
    actual = confusion.sum(dim=1)  # row sums: how often each class occurs
    if average == "micro":
        tp, predicted, actual = tp.sum(), predicted.sum(), actual.sum()
    elif average != "macro":
        raise ValueError(f"average must be 'macro' or 'micro', got {average!r}")
    precision = _safe_divide(tp, predicted)
    recall = _safe_divide(tp, actual)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    return float(precision.mean()), float(recall.mean()), float(f1.mean())


def classification_report(
    labels: Sequence[int] | torch.Tensor,
    predictions: Sequence[int] | torch.Tensor,
    n_classes: int | None = None,
) -> dict[str, float | torch.Tensor]:
    """Accuracy, macro precision/recall/F1, micro F1 and the confusion matrix in one dict."""
    confusion = confusion_matrix(labels, predictions, n_classes)
    precision, recall, f1 = precision_recall_f1(confusion, "macro")
    return {
        "accuracy": accuracy(confusion),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "micro_f1": precision_recall_f1(confusion, "micro")[2],
        "confusion": confusion,
    }
