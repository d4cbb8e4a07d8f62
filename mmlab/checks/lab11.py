"""Checks for lab 11: the symmetric InfoNCE (CLIP) loss and zero-shot prediction from embeddings.

Each check compares the learner's function with :mod:`mmlab.models.clip` on several inputs and names
the common mistakes: one direction only, the scale divided instead of multiplied, embeddings
normalised again or not at all, labels that are not the diagonal, argmax over the wrong axis.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from mmlab.checks.framework import (
    CheckFailed,
    call,
    expect_close,
    expect_scalar_loss_with_gradients,
    lab_check,
)
from mmlab.models.clip import clip_loss, zero_shot_predict

__all__ = ["check_clip_loss", "check_zero_shot_predict"]

ONE_DIRECTION_I2T = (
    "only the image-to-text direction (cross-entropy over the rows): CLIP's loss is the mean of both "
    "directions, also text-to-image (the columns, logits.T)"
)
ONE_DIRECTION_T2I = (
    "only the text-to-image direction (cross-entropy over the columns): average it with the "
    "image-to-text direction (the rows)"
)
SUMMED = "the sum of the two directions: CLIP takes their mean, (loss_i2t + loss_t2i) / 2"
DIVIDED = (
    "the similarities divided by logit_scale: logit_scale is 1/temperature, so multiply "
    "(logits = logit_scale * image_emb @ text_emb.T)"
)
NO_SCALE = "the similarities without logit_scale: multiply them by logit_scale before the cross-entropy"
EXP_SCALE = (
    "exp(logit_scale) used as the scale: here logit_scale is already the scale s = 1/temperature "
    "(not its logarithm), so multiply by it directly"
)
WRONG_LABELS = (
    "labels that are not the diagonal: pair i is image i with text i, so the target of row i is i "
    "(labels = torch.arange(B))"
)
SOFTMAX_FIRST = (
    "a softmax before the cross-entropy: F.cross_entropy takes the raw logits (logit_scale * similarities) "
    "and applies the log-softmax itself"
)
SIGMOID_LOSS = (
    "a sigmoid (binary) loss on each pair, as SigLIP does: CLIP's loss is a softmax cross-entropy over "
    "each row (image to texts) and each column (text to images)"
)
PAIR_SUM = "the cross-entropies summed over the pairs: take their mean over the batch"
PRED_COLUMNS = (
    "embeddings normalised along dim=0 (over the batch): normalise each vector, F.normalize(x, dim=-1)"
)
PRED_KEEPDIM = "predictions of shape (N, 1): return one class index per image, shape (N,) (no keepdim)"
PRED_NOT_NORMALISED = (
    "raw dot products instead of cosine similarities: normalise both embeddings (F.normalize(x, dim=-1)) "
    "before comparing, or a long image vector favours whichever class vector is longest"
)
PRED_WRONG_AXIS = (
    "argmax over the wrong axis: each image (row of image_emb @ class_text_emb.T) picks one class, so take "
    "argmax(dim=-1) over the classes"
)
PRED_DISTANCE = "the class with the *lowest* similarity (argmin): pick the most similar class (argmax)"


def _ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels)


def _loss_mistakes(img: torch.Tensor, txt: torch.Tensor, scale: float) -> dict[str, torch.Tensor]:
    B = img.size(0)
    labels = torch.arange(B)
    sim = img @ txt.t()
    logits = scale * sim
    wrong_labels = torch.zeros(B, dtype=torch.long)
    return {
        SOFTMAX_FIRST: (_ce(logits.softmax(-1), labels) + _ce(logits.t().softmax(-1), labels)) / 2,
        SIGMOID_LOSS: F.binary_cross_entropy_with_logits(logits, torch.eye(B)),
        f"{SIGMOID_LOSS} (summed over each row)": F.binary_cross_entropy_with_logits(
            logits, torch.eye(B), reduction="sum"
        )
        / B,
        PAIR_SUM: (
            F.cross_entropy(logits, labels, reduction="sum")
            + F.cross_entropy(logits.t(), labels, reduction="sum")
        )
        / 2,
        ONE_DIRECTION_I2T: _ce(logits, labels),
        ONE_DIRECTION_T2I: _ce(logits.t(), labels),
        SUMMED: _ce(logits, labels) + _ce(logits.t(), labels),
        DIVIDED: (_ce(sim / scale, labels) + _ce(sim.t() / scale, labels)) / 2,
        NO_SCALE: (_ce(sim, labels) + _ce(sim.t(), labels)) / 2,
        EXP_SCALE: (
            _ce(torch.exp(torch.tensor(scale)) * sim, labels)
            + _ce(torch.exp(torch.tensor(scale)) * sim.t(), labels)
        )
        / 2,
        WRONG_LABELS: (_ce(logits, wrong_labels) + _ce(logits.t(), wrong_labels)) / 2,
    }


@lab_check("check_clip_loss")
def check_clip_loss(student_clip_loss: Callable) -> None:
    """``clip_loss(image_emb (B, d), text_emb (B, d), logit_scale)`` against the mean of both cross-entropies."""
    g = torch.Generator().manual_seed(11)
    cases = []
    for B, d, scale in ((4, 8, 1 / 0.07), (6, 16, 2.5), (3, 5, 100.0)):
        img = F.normalize(torch.randn(B, d, generator=g), dim=-1)
        txt = F.normalize(img + 0.8 * torch.randn(B, d, generator=g), dim=-1)  # paired: similar, not equal
        cases.append((f"B={B}, d={d}, logit_scale={scale:.4g}", img, txt, scale))
    for case, img, txt, scale in cases:
        got = call(student_clip_loss, img, txt, scale, case=case)
        expect_close(
            got, clip_loss(img, txt, scale), what="loss", case=case, mistakes=_loss_mistakes(img, txt, scale)
        )
    # a scalar that trains: gradient reaches both embeddings
    img, txt = cases[0][1], cases[0][2]
    expect_scalar_loss_with_gradients(student_clip_loss, img, txt, 10.0, names=("image_emb", "text_emb"))


@lab_check("check_zero_shot_predict")
def check_zero_shot_predict(student_predict: Callable) -> None:
    """``zero_shot_predict(image_emb (N, d), class_text_emb (C, d)) -> (N,)`` class indices."""
    g = torch.Generator().manual_seed(12)
    classes = torch.randn(4, 6, generator=g)
    classes[0] *= 5.0  # one long class vector: raw dot products would favour it
    images = torch.randn(10, 6, generator=g) + 0.5 * F.normalize(classes, dim=-1)[torch.arange(10) % 4]
    images = images * torch.linspace(0.2, 3.0, 10)[:, None]
    expected = zero_shot_predict(images, classes)
    raw = images @ classes.t()
    mistakes = {
        PRED_NOT_NORMALISED: raw.argmax(-1),
        PRED_DISTANCE: (F.normalize(images, dim=-1) @ F.normalize(classes, dim=-1).t()).argmin(-1),
        PRED_COLUMNS: (F.normalize(images, dim=0) @ F.normalize(classes, dim=0).t()).argmax(-1),
    }
    case = "10 images of varying length, 4 classes (one with a long vector)"
    got = call(student_predict, images, classes, case=case)
    if isinstance(got, torch.Tensor) and got.shape == (4,):
        raise CheckFailed(f"on {case}: {PRED_WRONG_AXIS} (got shape (4,), expected (10,))")
    if isinstance(got, torch.Tensor) and got.shape == (10, 1):
        raise CheckFailed(f"on {case}: {PRED_KEEPDIM}")
    if isinstance(got, torch.Tensor) and got.dtype.is_floating_point and got.dim() == 2:
        raise CheckFailed(
            f"on {case}: return the predicted class index per image (N,), not the similarity matrix"
        )
    expect_close(
        got.long() if isinstance(got, torch.Tensor) else got,
        expected,
        what="predictions",
        case=case,
        mistakes=mistakes,
    )
    square = torch.randn(5, 5, generator=g)
    case = "5 images and 5 classes"
    got = call(student_predict, square, F.normalize(square + 0.1, dim=-1), case=case)
    sims = F.normalize(square, dim=-1) @ F.normalize(square + 0.1, dim=-1).t()
    expect_close(
        got.long() if isinstance(got, torch.Tensor) else got,
        zero_shot_predict(square, square + 0.1),
        what="predictions",
        case=case,
        mistakes={PRED_WRONG_AXIS: sims.argmax(0)},
    )
