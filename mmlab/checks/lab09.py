"""Checks for lab 09 (image encoders): a convolution's output size, cutting an image into patches,
the [CLS] token with positions, and [CLS] pooling.

Each check compares the learner's function with PyTorch (``F.conv2d``'s output shape, ``F.unfold``)
or with the course's ViT (:mod:`mmlab.models.vision`) and names the common mistakes: a forgotten
``+ 1`` or padding counted once, patches flattened channel-last or read column by column, the
[CLS] token appended instead of prepended, positions shifted by one, the mean instead of [CLS].
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from mmlab.checks.framework import CheckFailed, call, expect_close, expect_true, lab_check

__all__ = ["check_add_cls_and_positions", "check_cls_pool", "check_conv_output_size", "check_patchify"]

# (size, kernel_size, stride, padding): chosen so every mistake below gives its own list of answers
CONV_CASES = [(8, 3, 1, 1), (24, 3, 2, 1), (24, 4, 4, 0), (7, 3, 2, 0), (10, 5, 3, 2), (9, 2, 2, 0)]

CONV_MISTAKES: dict[str, Callable[[int, int, int, int], float]] = {
    "the + 1 is missing: n = floor((size + 2 * padding - kernel_size) / stride) + 1": lambda n, k, s, p: (
        (n + 2 * p - k) // s
    ),
    "the padding was counted once: it is added on both sides, 2 * padding": lambda n, k, s, p: (
        (n + p - k) // s + 1
    ),
    "the padding was ignored": lambda n, k, s, p: (n - k) // s + 1,
    "the stride was ignored: divide by the stride before adding 1": lambda n, k, s, p: n + 2 * p - k + 1,
    "rounded up instead of down: a window that does not fit is dropped (floor, //)": lambda n, k, s, p: (
        math.ceil((n + 2 * p - k) / s) + 1
    ),
    "stride applied after the + 1: floor((size + 2 * padding - kernel_size + 1) / stride)": lambda n, k, s, p: (
        (n + 2 * p - k + 1) // s
    ),
}


def conv_output_size_reference(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """What ``F.conv2d`` gives: the side of the output grid."""
    x = torch.zeros(1, 1, size, size)
    return F.conv2d(x, torch.zeros(1, 1, kernel_size, kernel_size), stride=stride, padding=padding).shape[-1]


@lab_check("conv_output_size")
def check_conv_output_size(student_fn: Callable) -> None:
    """``conv_output_size(size, kernel_size, stride, padding) -> int``, compared with ``F.conv2d``."""
    got = []
    for n, k, s, p in CONV_CASES:
        answer = call(student_fn, n, k, s, p, case=f"size={n}, kernel_size={k}, stride={s}, padding={p}")
        if isinstance(answer, torch.Tensor) and answer.numel() == 1:
            answer = answer.item()
        got.append(answer)
    expected = [conv_output_size_reference(*case) for case in CONV_CASES]
    for description, mistake in CONV_MISTAKES.items():
        if got != expected and got == [mistake(*case) for case in CONV_CASES]:
            raise CheckFailed(f"your sizes {got} look like: {description} (expected {expected})")
    cases = [f"size={n}, kernel_size={k}, stride={s}, padding={p}" for n, k, s, p in CONV_CASES]
    for case, g, e in zip(cases, got, expected):
        if isinstance(g, float) and math.isfinite(g) and g != int(g):
            raise CheckFailed(
                f"for {case} you returned {g}, a fraction: a grid has a whole number of positions "
                f"(use floor division //); expected {e}"
            )
    for case, g, e in zip(cases, got, expected):
        if g != e:
            raise CheckFailed(f"for {case} the output size is {e}, you returned {g!r}")
        expect_true(
            isinstance(g, int) and not isinstance(g, bool),
            f"for {case} return a Python int, got {type(g).__name__} {g!r}",
        )


def _patches_channel_last(x: torch.Tensor, p: int) -> torch.Tensor:
    b, c = x.shape[:2]
    grid = x.unfold(2, p, p).unfold(3, p, p)  # (B, C, h, w, p, p)
    return grid.permute(0, 2, 3, 4, 5, 1).reshape(b, -1, p * p * c)


def _patches_column_by_column(x: torch.Tensor, p: int) -> torch.Tensor:
    b, c = x.shape[:2]
    grid = x.unfold(2, p, p).unfold(3, p, p)  # (B, C, h, w, p, p)
    return grid.permute(0, 3, 2, 1, 4, 5).reshape(b, -1, c * p * p)


@lab_check("patchify")
def check_patchify(student_fn: Callable) -> None:
    """``patchify(images (B, C, H, W), patch_size p) -> (B, N, C * p * p)``: the patches row by row,
    each flattened channel first, exactly as ``F.unfold(images, p, stride=p).transpose(1, 2)``."""
    g = torch.Generator().manual_seed(0)
    cases = [
        ("a batch of 2 RGB 8 x 12 images, 4 x 4 patches", torch.rand(2, 3, 8, 12, generator=g), 4),
        ("one grey 6 x 6 image, 2 x 2 patches", torch.rand(1, 1, 6, 6, generator=g), 2),
    ]
    for case, x, p in cases:
        expected = F.unfold(x, kernel_size=p, stride=p).transpose(1, 2)
        b, c = x.shape[:2]
        mistakes = {
            "the patches are along the last axis: transpose unfold's (B, C*p*p, N) to (B, N, C*p*p)": F.unfold(
                x, kernel_size=p, stride=p
            ),
            "each patch flattened channel last (row, column, channel): flatten it channel first, as the "
            "convolution's weight is laid out (C, p, p)": _patches_channel_last(x, p) if c > 1 else None,
            "the patches were read column by column: read them row by row, left to right": _patches_column_by_column(
                x, p
            )
            if x.shape[-1] != x.shape[-2] or x.shape[-1] > p
            else None,
            "a plain reshape without moving axes: that cuts rows of pixels, not p x p patches": x.reshape(
                b, -1, c * p * p
            ),
            "overlapping windows (stride 1): patches do not overlap, use stride = patch_size": F.unfold(
                x, kernel_size=p
            ).transpose(1, 2),
        }
        got = call(student_fn, x.clone(), p, case=case)
        expect_close(got, expected, what="patches", case=case, mistakes=mistakes)


@lab_check("add_cls_and_positions")
def check_add_cls_and_positions(student_fn: Callable) -> None:
    """``add_cls_and_positions(tokens (B, N, d), cls (d,), positions (N + 1, d)) -> (B, N + 1, d)``:
    the [CLS] vector first, then the patch tokens, and position i added to token i."""
    g = torch.Generator().manual_seed(1)
    for case, (b, n, d) in (
        ("2 images of 4 patches, d = 3", (2, 4, 3)),
        ("3 images of 6 patches, d = 5", (3, 6, 5)),
    ):
        tokens, cls = torch.randn(b, n, d, generator=g), torch.randn(d, generator=g)
        positions = torch.randn(n + 1, d, generator=g)
        cls_b = cls.expand(b, 1, d)
        expected = torch.cat([cls_b, tokens], dim=1) + positions
        mistakes = {
            "the [CLS] token was appended at the end: it goes first (position 0)": torch.cat(
                [tokens, cls_b], 1
            )
            + positions,
            "the positions were not added": torch.cat([cls_b, tokens], dim=1),
            "the positions were added to the patches before prepending [CLS], shifted by one: [CLS] is "
            "token 0 and takes positions[0], patch i takes positions[i + 1]": torch.cat(
                [cls_b, tokens + positions[:n]], dim=1
            ),
            "[CLS] got no position: add the whole table after prepending it": torch.cat(
                [cls_b, tokens + positions[1:]], dim=1
            ),
            "the [CLS] vector was added to every patch instead of prepended as a token of its own": tokens
            + cls
            + positions[1:],
        }
        got = call(student_fn, tokens.clone(), cls.clone(), positions.clone(), case=case)
        expect_close(got, expected, what="tokens", case=case, mistakes=mistakes)


@lab_check("cls_pool")
def check_cls_pool(student_fn: Callable) -> None:
    """``cls_pool(encoded (B, 1 + N, d)) -> (B, d)``: the output at the [CLS] position is the image vector."""
    g = torch.Generator().manual_seed(2)
    encoded = torch.randn(3, 5, 4, generator=g)
    mistakes = {
        "the mean over the tokens: that is the pooling of a ViT without [CLS]; with it, take token 0": encoded.mean(
            1
        ),
        "the last token: [CLS] is the first one, index 0 on the token axis": encoded[:, -1],
        "the first image of the batch (index 0 on axis 0): take token 0 of every image, [:, 0]": encoded[0],
        "the mean of the patch outputs (without [CLS]): with a [CLS] token, take its output": encoded[
            :, 1:
        ].mean(1),
    }
    got = call(student_fn, encoded.clone(), case="3 images of 1 + 4 tokens, d = 4")
    expect_close(got, encoded[:, 0], what="image vectors", case="3 images of 1 + 4 tokens", mistakes=mistakes)
