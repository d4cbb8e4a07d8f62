"""Checks for lab 05: precision / recall / F1 from a confusion matrix, and the [CLS] classification head.

Each check compares the learner's code with :mod:`mmlab.metrics` and with BERT's head (the pooler
``tanh(W h_[CLS] + b)`` then a linear classifier) and names the common mistakes: macro and micro
mixed up, rows and columns swapped, F1 of the averages instead of the average of F1s, 0/0 left as
NaN; mean pooling or the last token instead of [CLS], the tanh forgotten.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from mmlab.checks.framework import CheckFailed, call, expect_close, expect_true, lab_check
from mmlab.metrics import precision_recall_f1 as reference_prf

__all__ = ["check_cls_head", "check_precision_recall_f1"]

MACRO_MICRO_SWAPPED = (
    "macro and micro averaging mixed up: macro = per-class values, then their mean (each class counts the "
    "same); micro = pool the counts of all classes first (then precision = recall = F1 = accuracy)"
)
ROWS_COLUMNS = (
    "precision and recall swapped (rows and columns mixed up): rows are the TRUE class, columns the "
    "PREDICTED class, so precision divides by column sums and recall by row sums"
)
F1_OF_AVERAGES = "macro F1 computed from the averaged precision and recall: compute F1 for each class, then average the F1s"
NAN_ZERO_DIVISION = "NaN for a class that is never predicted (0/0): count its precision as 0, as scikit-learn's zero_division=0"
SUPPORT_WEIGHTED = (
    "the per-class values weighted by each class's support (scikit-learn's average='weighted'): macro "
    "averaging gives every class the same weight, a plain mean"
)
ARITHMETIC_F1 = "F1 as the arithmetic mean (p + r) / 2: F1 is the harmonic mean, 2 p r / (p + r)"
PERCENT = "percentages (x 100): return fractions between 0 and 1"
MAX_POOLING = "the maximum over positions: BERT's head reads only the [CLS] vector, hidden[:, 0]"
RELU_NOT_TANH = "ReLU instead of tanh in the pooler: BERT's pooler is tanh(pooler(hidden[:, 0]))"
PROBABILITIES = (
    "probabilities (softmax) instead of logits: return the classifier's raw output; the cross-entropy "
    "applies the softmax itself"
)
MEAN_POOLING = "the mean over all positions: BERT's head reads only the [CLS] vector, hidden[:, 0]"
LAST_TOKEN = "the last position: [CLS] is the FIRST token, hidden[:, 0]"
NO_TANH = "the pooler without its tanh: pooled = tanh(pooler(hidden[:, 0]))"


def _prf_mistakes(confusion: torch.Tensor, average: str) -> dict[str, torch.Tensor]:
    m = confusion.double()
    other = "micro" if average == "macro" else "macro"
    wrong = {
        MACRO_MICRO_SWAPPED: torch.tensor(reference_prf(m, other)),
        ROWS_COLUMNS: torch.tensor(reference_prf(m.T, average)),
    }
    tp, predicted, actual = m.diagonal(), m.sum(0), m.sum(1)
    per_p, per_r = torch.nan_to_num(tp / predicted), torch.nan_to_num(tp / actual)
    per_f1 = torch.nan_to_num(2 * per_p * per_r / (per_p + per_r))
    expected = torch.tensor(reference_prf(m, average))
    if average == "macro":
        p, r, _ = reference_prf(m, "macro")
        wrong[F1_OF_AVERAGES] = torch.tensor([p, r, 2 * p * r / (p + r) if p + r else 0.0])
        w = actual / actual.sum()
        wrong[SUPPORT_WEIGHTED] = torch.stack([(per_p * w).sum(), (per_r * w).sum(), (per_f1 * w).sum()])
        wrong[ARITHMETIC_F1] = torch.tensor([p, r, float(((per_p + per_r) / 2).mean())])
    wrong[PERCENT] = 100 * expected
    return wrong


def _as_tensor(got, case: str) -> torch.Tensor:
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise CheckFailed(f"on {case}: return a tuple (precision, recall, f1), got {got!r:.80}")
    try:
        return torch.tensor([float(v) for v in got], dtype=torch.float64)
    except (TypeError, ValueError) as err:
        raise CheckFailed(f"on {case}: precision, recall and f1 should be numbers ({err})") from None


@lab_check("check_precision_recall_f1")
def check_precision_recall_f1(precision_recall_f1: Callable) -> None:
    """``precision_recall_f1(confusion[C, C], average="macro")`` -> (precision, recall, f1)."""
    cases = [
        ("a 2-class matrix", torch.tensor([[50, 10], [5, 35]])),
        ("an imbalanced 2-class matrix", torch.tensor([[90, 0], [8, 2]])),
        ("a 3-class matrix", torch.tensor([[2, 1, 0], [0, 2, 1], [1, 0, 3]])),
        ("a 4-class matrix", torch.tensor([[10, 2, 0, 1], [3, 7, 1, 0], [0, 4, 9, 2], [1, 0, 2, 12]])),
    ]
    for case, confusion in cases:
        for average in ("macro", "micro"):
            label = f"{case}, average={average!r}"
            got = _as_tensor(call(precision_recall_f1, confusion, average=average, case=label), label)
            expected = torch.tensor(reference_prf(confusion, average), dtype=torch.float64)
            expect_close(got, expected, what="(precision, recall, f1)", case=label,
                         mistakes=_prf_mistakes(confusion, average))  # fmt: skip
    # the default is macro
    confusion = cases[2][1]
    got = _as_tensor(call(precision_recall_f1, confusion, case="the default average"), "the default average")
    expect_close(got, torch.tensor(reference_prf(confusion, "macro"), dtype=torch.float64),
                 what="result with the default average", mistakes={MACRO_MICRO_SWAPPED: torch.tensor(
                     reference_prf(confusion, "micro"))})  # fmt: skip
    # a class never predicted: 0/0 precision counts as 0
    never = torch.tensor([[5, 0], [5, 0]])
    got = _as_tensor(call(precision_recall_f1, never, average="macro", case="a class never predicted"),
                     "a class never predicted")  # fmt: skip
    if torch.isnan(got).any():
        raise CheckFailed(NAN_ZERO_DIVISION)
    expect_close(got, torch.tensor(reference_prf(never, "macro"), dtype=torch.float64),
                 what="(precision, recall, f1)", case="a class never predicted")  # fmt: skip


class _ReferenceHead(nn.Module):
    def __init__(self, d_model: int, n_classes: int) -> None:
        super().__init__()
        self.pooler = nn.Linear(d_model, d_model)
        self.classifier = nn.Linear(d_model, n_classes)

    def forward(self, hidden: torch.Tensor, pool: str = "cls", tanh: bool = True) -> torch.Tensor:
        x = {"cls": hidden[:, 0], "mean": hidden.mean(1), "last": hidden[:, -1], "max": hidden.amax(1)}[pool]
        x = self.pooler(x)
        return self.classifier(torch.tanh(x) if tanh else x)


@lab_check("check_cls_head")
def check_cls_head(head_class: Callable) -> None:
    """``head_class(d_model, n_classes)``: a module with ``pooler`` (C -> C) and ``classifier``
    (C -> n_classes) linear layers whose forward maps hidden states ``(B, T, C)`` to logits ``(B, n)``."""
    d_model, n_classes = 16, 3
    torch.manual_seed(0)
    head = call(head_class, d_model, n_classes, case="d_model=16, n_classes=3")
    if not isinstance(head, nn.Module):
        raise CheckFailed(f"{getattr(head_class, '__name__', head_class)}(16, 3) should build an nn.Module")
    for name, shape in (("pooler", (d_model, d_model)), ("classifier", (n_classes, d_model))):
        layer = getattr(head, name, None)
        if not isinstance(layer, nn.Linear) or tuple(layer.weight.shape) != shape:
            raise CheckFailed(
                f"the head needs self.{name} = nn.Linear(...) with weight of shape {shape}; got {layer!r}"
            )
    reference = _ReferenceHead(d_model, n_classes)
    reference.load_state_dict(
        {k: v for k, v in head.state_dict().items() if k.split(".")[0] in ("pooler", "classifier")}
    )
    hidden = torch.randn(4, 7, d_model, generator=torch.Generator().manual_seed(1)) * 2
    head.eval()
    got = call(head, hidden, case="hidden states (4, 7, 16)")
    with torch.no_grad():
        expected = reference(hidden)
        mistakes = {
            MEAN_POOLING: reference(hidden, pool="mean"),
            LAST_TOKEN: reference(hidden, pool="last"),
            NO_TANH: reference(hidden, tanh=False),
            MAX_POOLING: reference(hidden, pool="max"),
            RELU_NOT_TANH: reference.classifier(torch.relu(reference.pooler(hidden[:, 0]))),
            PROBABILITIES: expected.softmax(-1),
        }
    expect_close(got, expected, what="logits", case="hidden states (4, 7, 16)", mistakes=mistakes)
    expect_true(got.requires_grad, "the logits do not carry gradients: the head must stay trainable")
