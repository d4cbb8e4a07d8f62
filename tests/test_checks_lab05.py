"""Lab 05 checks: right answers pass, each common mistake gets its own message."""

import re

import pytest
import torch
from torch import nn

from mmlab.checks import lab05
from mmlab.checks.framework import CheckFailed
from mmlab.metrics import precision_recall_f1


def prf_variant(kind):
    def fn(confusion, average="macro"):
        if kind == "todo":
            raise NotImplementedError
        m = confusion.double()
        if kind == "transposed":
            m = m.T
        if kind == "swapped":
            average = "micro" if average == "macro" else "macro"
        tp, predicted, actual = m.diagonal(), m.sum(0), m.sum(1)
        if average == "micro":
            tp, predicted, actual = tp.sum(), predicted.sum(), actual.sum()
        p = tp / predicted if kind == "nan" else torch.nan_to_num(tp / predicted)
        r = torch.nan_to_num(tp / actual)
        if kind == "f1_of_means":
            pm, rm = p.mean(), r.mean()
            return float(pm), float(rm), float(2 * pm * rm / (pm + rm))
        f1 = torch.nan_to_num(2 * p * r / (p + r)) if kind != "arithmetic_f1" else (p + r) / 2
        if kind == "weighted" and average == "macro":
            w = actual / actual.sum()
            return float((p * w).sum()), float((r * w).sum()), float((f1 * w).sum())
        scale = 100.0 if kind == "percent" else 1.0
        return float(p.mean()) * scale, float(r.mean()) * scale, float(f1.mean()) * scale

    return fn


class Head(nn.Module):
    def __init__(self, d_model, n_classes, pool="cls", tanh=True):
        super().__init__()
        self.pooler = nn.Linear(d_model, d_model)
        self.classifier = nn.Linear(d_model, n_classes)
        self.pool, self.tanh = pool, tanh

    def forward(self, hidden):
        x = {"cls": hidden[:, 0], "mean": hidden.mean(1), "last": hidden[:, -1], "max": hidden.amax(1)}[
            self.pool
        ]
        x = self.pooler(x)
        x = {True: torch.tanh, False: lambda y: y, "relu": torch.relu}[self.tanh](x)
        return self.classifier(x)


def test_right_answers_pass(capsys):
    assert lab05.check_precision_recall_f1(precision_recall_f1)
    assert lab05.check_precision_recall_f1(prf_variant("right"))
    assert lab05.check_cls_head(Head)
    assert "check_cls_head: all" in capsys.readouterr().out


def test_not_implemented_prints_one_line(capsys):
    assert not lab05.check_precision_recall_f1(prf_variant("todo"))

    class Todo(nn.Module):
        def __init__(self, d_model, n_classes):
            raise NotImplementedError

    assert not lab05.check_cls_head(Todo)
    assert capsys.readouterr().out.count("not implemented yet") == 2


@pytest.mark.parametrize(
    "kind, message",
    [
        ("swapped", "macro and micro averaging mixed up"),
        ("transposed", "precision and recall swapped"),
        ("f1_of_means", "macro F1 computed from the averaged precision and recall"),
        ("nan", "NaN for a class that is never predicted"),
    ],
)
def test_metric_mistakes_are_named(kind, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        lab05.check_precision_recall_f1(prf_variant(kind))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pool": "mean"}, "the mean over all positions"),
        ({"pool": "last"}, "the last position"),
        ({"tanh": False}, "the pooler without its tanh"),
    ],
)
def test_head_mistakes_are_named(kwargs, message):
    def make(d_model, n_classes):
        return Head(d_model, n_classes, **kwargs)

    with pytest.raises(CheckFailed, match=re.escape(message)):
        lab05.check_cls_head(make)


def test_head_without_the_named_layers_is_explained():
    class Bare(nn.Module):
        def __init__(self, d_model, n_classes):
            super().__init__()
            self.linear = nn.Linear(d_model, n_classes)

    with pytest.raises(CheckFailed, match=re.escape("self.pooler = nn.Linear")):
        lab05.check_cls_head(Bare)


# ----------------------------------------------------------------------------- more typical mistakes
@pytest.mark.parametrize(
    "kind, message",
    [
        ("weighted", "weighted by each class's support"),
        ("arithmetic_f1", "arithmetic mean"),
        ("percent", "percentages"),
    ],
)
def test_more_metric_mistakes_are_named(kind, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        lab05.check_precision_recall_f1(prf_variant(kind))


@pytest.mark.parametrize(
    "kwargs, message",
    [({"tanh": "relu"}, "ReLU instead of tanh"), ({"pool": "max"}, "the maximum over positions")],
)
def test_more_head_mistakes_are_named(kwargs, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        lab05.check_cls_head(lambda d, n: Head(d, n, **kwargs))


def test_probabilities_from_the_head_are_named():
    class Probs(Head):
        def forward(self, hidden):
            return super().forward(hidden).softmax(-1)

    with pytest.raises(CheckFailed, match=re.escape("probabilities (softmax) instead of logits")):
        lab05.check_cls_head(Probs)
