"""Checks for lab 10 (multimodal fusion): weighted-sum fusion, concatenation fusion, one cross-attention step.

Each check compares the learner's function with the reference in :mod:`mmlab.models.fusion` on a
few inputs, and names the common mistakes: weights not normalised, concatenation on the batch axis,
queries and keys swapped, a missing 1/sqrt(d), an ignored mask.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from mmlab.checks.framework import CheckFailed, call, expect_close, lab_check
from mmlab.models.fusion import concat_fusion, cross_attend, weighted_sum_fusion

__all__ = ["check_concat_fusion", "check_cross_attend", "check_weighted_sum_fusion"]


def _features(sizes: list[int], batch: int = 4, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, d, generator=g) for d in sizes]


@lab_check("weighted_sum_fusion")
def check_weighted_sum_fusion(student_fn: Callable) -> None:
    """``weighted_sum_fusion(features: list of (B, d), weight_logits (M,)) -> (B, d)``."""
    cases = [
        ("2 modalities", _features([5, 5]), torch.tensor([1.0, 3.0])),
        ("3 modalities, uneven logits", _features([6, 6, 6], seed=1), torch.tensor([2.0, -1.0, 0.5])),
    ]
    for case, features, logits in cases:
        expected = weighted_sum_fusion(features, logits)
        stacked = torch.stack(features)  # (M, B, d)
        mistakes = {
            "the weights were not normalised: use w = softmax(weight_logits) so they are positive and sum to 1": (
                stacked * logits[:, None, None]
            ).sum(0),
            "a plain average that ignores the learned weights": stacked.mean(0),
            "weights from a sigmoid: each lies in (0, 1) but they need not sum to 1; use a softmax over the "
            "modalities": (stacked * logits.sigmoid()[:, None, None]).sum(0),
            "the mean of the weighted features (divided by the number of modalities again): the softmax "
            "weights already sum to 1, so sum the weighted features": (
                stacked * logits.softmax(0)[:, None, None]
            ).mean(0),
            "weights divided by their sum instead of a softmax (not guaranteed positive)": (
                stacked * (logits / logits.sum())[:, None, None]
            ).sum(0)
            if logits.sum().abs() > 1e-6
            else None,
        }
        got = call(student_fn, [f.clone() for f in features], logits.clone(), case=case)
        expect_close(got, expected, what="fused features", case=case, mistakes=mistakes)


@lab_check("concat_fusion")
def check_concat_fusion(student_fn: Callable) -> None:
    """``concat_fusion(features: list of (B, d_i)) -> (B, sum_i d_i)``."""
    cases = [("two (4, 3) features", _features([3, 3])), ("widths 2, 5 and 3", _features([2, 5, 3], seed=2))]
    for case, features in cases:
        expected = concat_fusion(features)
        mistakes = {
            "concatenation on the batch axis (dim=0): join along the feature axis, dim=-1": torch.cat(
                features, 0
            )
            if len({f.shape[1] for f in features}) == 1
            else None,
            "the features were stacked (a new axis) instead of concatenated": torch.stack(features, 1)
            if len({f.shape[1] for f in features}) == 1
            else None,
            "the features joined in reverse order: keep the order of the list, torch.cat(features, dim=-1)": (
                torch.cat(features[::-1], -1)
            ),
            "the features were summed instead of concatenated": sum(features)
            if len({f.shape[1] for f in features}) == 1
            else None,
        }
        got = call(student_fn, [f.clone() for f in features], case=case)
        if isinstance(got, torch.Tensor) and got.dim() == 1 and got.numel() == expected.numel():
            raise CheckFailed(
                f"your result for {case} is one long vector: you flattened the batch. Keep one row per "
                "example and join the features along the last axis, torch.cat(features, dim=-1)"
            )
        expect_close(got, expected, what="fused features", case=case, mistakes=mistakes)


@lab_check("cross_attend")
def check_cross_attend(student_fn: Callable) -> None:
    """``cross_attend(text (B, T, d), image (B, P, d), image_mask=None) -> (B, T, d)``: text queries,
    image keys and values, scaled by 1/sqrt(d), masked patches ignored."""
    g = torch.Generator().manual_seed(0)
    text, image = torch.randn(2, 3, 8, generator=g), torch.randn(2, 5, 8, generator=g)
    mask = torch.tensor([[True, True, True, False, False], [True, True, True, True, True]])
    for case, image_mask in (
        ("no mask", None),
        ("a mask hiding the last 2 patches of the first image", mask),
    ):
        expected = cross_attend(text, image, image_mask)
        scores = text @ image.transpose(-2, -1)  # (B, T, P)
        if image_mask is not None:
            scores = scores.masked_fill(~image_mask[:, None, :], float("-inf"))
        mistakes = {
            "queries and keys swapped: the text must give the queries, the image the keys and values": cross_attend(
                image, text
            ),
            "no scaling: divide the scores by sqrt(d) before the softmax": scores.softmax(-1) @ image,
            "scores divided by d instead of sqrt(d)": (scores / 8).softmax(-1) @ image,
            "masked patches set to 0 instead of -inf: a score of 0 still gets weight after the softmax": (
                (text @ image.transpose(-2, -1) / math.sqrt(8)).masked_fill(~image_mask[:, None, :], 0.0)
            ).softmax(-1)
            @ image
            if image_mask is not None
            else None,
            "softmax over the queries (dim=-2) instead of over the image patches (dim=-1)": (
                scores / math.sqrt(8)
            ).softmax(-2)
            @ image,
            "the image mask was ignored: masked patches must get zero weight": cross_attend(text, image)
            if image_mask is not None
            else None,
            "the mask was applied the wrong way round (True means a real patch that may be attended to)": (
                (text @ image.transpose(-2, -1) / math.sqrt(8)).masked_fill(
                    image_mask[:, None, :], float("-inf")
                )
            ).softmax(-1)
            @ image
            if image_mask is not None
            else None,
        }
        args = (
            (text.clone(), image.clone()) if image_mask is None else (text.clone(), image.clone(), image_mask)
        )
        got = call(student_fn, *args, case=case)
        if isinstance(got, torch.Tensor) and got.shape == scores.shape != expected.shape:
            raise CheckFailed(
                f"your result for {case} has the shape of the attention weights {tuple(scores.shape)}: "
                "multiply the weights by the image values, weights @ image"
            )
        expect_close(got, expected, what="attended text", case=case, mistakes=mistakes)
