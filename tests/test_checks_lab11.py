"""Lab 11 checks: the right answers pass, each common mistake gets its own message."""

import pytest
import torch
import torch.nn.functional as F

from mmlab.checks import lab11
from mmlab.checks.framework import CheckFailed


def clip_loss(img, txt, scale, kind="right"):
    sim = img @ txt.T
    logits = sim / scale if kind == "divided" else sim if kind == "no_scale" else scale * sim
    if kind == "exp":
        logits = torch.exp(torch.tensor(scale)) * sim
    B = len(img)
    labels = torch.zeros(B, dtype=torch.long) if kind == "labels" else torch.arange(B)
    i2t, t2i = F.cross_entropy(logits, labels), F.cross_entropy(logits.T, labels)
    return {"i2t": i2t, "t2i": t2i, "sum": i2t + t2i}.get(kind, (i2t + t2i) / 2)


def predict(img, cls, kind="right"):
    if kind == "raw":
        return (img @ cls.T).argmax(-1)
    sim = F.normalize(img, dim=-1) @ F.normalize(cls, dim=-1).T
    return {"axis": lambda: sim.argmax(0), "argmin": lambda: sim.argmin(-1), "matrix": lambda: sim}.get(
        kind, lambda: sim.argmax(-1)
    )()


def test_right_answers_pass(capsys):
    assert lab11.check_clip_loss(clip_loss)
    assert lab11.check_zero_shot_predict(predict)
    assert "all" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kind, message",
    [
        ("i2t", "only the image-to-text direction"),
        ("t2i", "only the text-to-image direction"),
        ("sum", "the sum of the two directions"),
        ("divided", "divided by logit_scale"),
        ("no_scale", "without logit_scale"),
        ("exp", "exp\\(logit_scale\\)"),
        ("labels", "labels that are not the diagonal"),
    ],
)
def test_clip_loss_mistakes_are_named(kind, message):
    with pytest.raises(CheckFailed, match=message):
        lab11.check_clip_loss(lambda i, t, s: clip_loss(i, t, s, kind))


def test_clip_loss_must_keep_gradients():
    with pytest.raises(CheckFailed, match="gradients"):
        lab11.check_clip_loss(lambda i, t, s: clip_loss(i, t, s).detach())


@pytest.mark.parametrize(
    "kind, message",
    [
        ("raw", "raw dot products"),
        ("axis", "wrong axis"),
        ("argmin", "argmin"),
        ("matrix", "not the similarity matrix"),
    ],
)
def test_zero_shot_mistakes_are_named(kind, message):
    with pytest.raises(CheckFailed, match=message):
        lab11.check_zero_shot_predict(lambda i, c: predict(i, c, kind))


def test_not_implemented_prints_one_line(capsys):
    def todo(*args):
        raise NotImplementedError

    assert not lab11.check_clip_loss(todo) and not lab11.check_zero_shot_predict(todo)
    assert capsys.readouterr().out.count("not implemented yet") == 2


# ----------------------------------------------------------------------------- more typical mistakes
def _clip_softmax_first(img, txt, scale):
    logits = scale * img @ txt.T
    labels = torch.arange(len(img))
    return (F.cross_entropy(logits.softmax(-1), labels) + F.cross_entropy(logits.T.softmax(-1), labels)) / 2


def _clip_sigmoid(img, txt, scale):
    logits = scale * img @ txt.T
    return F.binary_cross_entropy_with_logits(logits, torch.eye(len(img)))


def _clip_sum(img, txt, scale):
    logits = scale * img @ txt.T
    labels = torch.arange(len(img))
    return (
        F.cross_entropy(logits, labels, reduction="sum") + F.cross_entropy(logits.T, labels, reduction="sum")
    ) / 2


MORE_MISTAKES = [
    (lab11.check_clip_loss, _clip_softmax_first, "softmax before the cross-entropy"),
    (lab11.check_clip_loss, _clip_sigmoid, "sigmoid"),
    (lab11.check_clip_loss, _clip_sum, "summed over the pairs"),
    (
        lab11.check_zero_shot_predict,
        lambda i, c: (F.normalize(i, dim=0) @ F.normalize(c, dim=0).T).argmax(-1),
        "dim=0",
    ),
    (lab11.check_zero_shot_predict, lambda i, c: predict(i, c)[:, None], "shape (N,)"),
    (
        lab11.check_zero_shot_predict,
        lambda i, c: (F.normalize(i, dim=-1) @ c.T).argmax(-1),
        "raw dot products",
    ),
]


@pytest.mark.parametrize(("check", "wrong", "message"), MORE_MISTAKES)
def test_more_mistakes_are_named(check, wrong, message):
    with pytest.raises(CheckFailed) as err:
        check(wrong)
    assert message in str(err.value), str(err.value)
