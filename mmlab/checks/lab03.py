"""Checks for lab 03: scaled dot-product attention, the causal mask and sinusoidal positions.

Each check compares the learner's function with the reference in :mod:`mmlab.models` on several
inputs, and names the common mistakes (missing scale, wrong softmax axis, mask after the softmax,
inverted mask, 0 instead of -inf, sin/cos swapped, ...) when the answer matches one of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from mmlab.checks.framework import CheckFailed, call, expect_close, expect_true, lab_check
from mmlab.models.attention import causal_mask as reference_causal_mask
from mmlab.models.attention import scaled_dot_product_attention
from mmlab.models.transformer import sinusoidal_table

__all__ = ["check_attention", "check_causal_mask", "check_sinusoidal_positions"]

MISSING_SCALE = "attention without the 1/sqrt(d_k) scale: divide the scores Q K^T by sqrt(d_k)"
SCALE_BY_D = "scores divided by d_k instead of sqrt(d_k): the scale is 1 / sqrt(d_k) (math.sqrt or ** 0.5)"
SCALE_MULTIPLIED = "scores multiplied by sqrt(d_k): divide by sqrt(d_k) (multiply by 1 / sqrt(d_k))"
WRONG_AXIS = (
    "softmax over the wrong axis (over the queries, dim=-2): each query's weights over the keys must sum "
    "to 1, so take the softmax over the last axis (dim=-1)"
)
MASK_AFTER_SOFTMAX = (
    "the mask applied after the softmax: the allowed weights no longer sum to 1. Fill the masked scores "
    "with -inf *before* the softmax"
)
MASK_WRONG_SIGN = (
    "the mask with the wrong sign: you hid the positions where the mask is True. True means attending is "
    "allowed, so fill with -inf where the mask is False (~mask)"
)
MASK_ZERO = (
    "masked scores set to 0 instead of -inf: a score of 0 still gets weight exp(0) after the softmax. "
    "Use float('-inf')"
)
MASK_ADDED = (
    "the boolean mask added to the scores (+1 where allowed): that shifts scores, it does not remove keys. "
    "Fill the masked scores with -inf"
)
MASK_IGNORED = (
    "the mask ignored: where the mask is False the score must become -inf before the softmax "
    "(scores.masked_fill(~mask, float('-inf')))"
)
SIN_COS_SWAPPED = "sin and cos swapped: sin goes on the even dimensions (0, 2, ...) and cos on the odd ones"
CONCATENATED = (
    "sin in the first half and cos in the second half: interleave them, sin on dimension 2i and cos on 2i+1"
)
OWN_INDEX_EXPONENT = (
    "the exponent uses each dimension's own index j (10000^(j/d)); dimensions 2i and 2i+1 must share one "
    "frequency, 1 / 10000^(2i/d)"
)
PAIR_INDEX_EXPONENT = (
    "the frequencies use the pair index i (10000^(i/d)) instead of 2i: the angle of dimensions 2i and 2i+1 is "
    "t / 10000^(2i/d)"
)
INVERTED_FREQUENCY = (
    "t multiplied by 10000^(2i/d) instead of divided: the angle is t / 10000^(2i/d), so frequencies fall "
    "from 1 to 1/10000 along the dimensions"
)
SCALE_BY_DV = (
    "scores divided by sqrt(d_v), the values' width: the scale is 1 / sqrt(d_k), the width of q and k"
)
SCALE_AFTER_SOFTMAX = (
    "the scale applied after the softmax (to the weights): divide the scores by sqrt(d_k) *before* the "
    "softmax, so the weights still sum to 1"
)
SIN_ONLY = "sin on every dimension (cos missing): dimension 2i + 1 holds cos(t / 10000^(2i/d))"
WRONG_BASE = "a base other than 10000 for the frequencies: the angle is t / 10000^(2i/d)"
FROM_ONE = "positions counted from 1: the first position is t = 0 (its encoding is sin 0 = 0, cos 0 = 1)"


def _attention_mistakes(q, k, v, mask) -> dict[str, torch.Tensor]:
    """What each common wrong implementation returns on (q, k, v, mask)."""
    scale = 1.0 / math.sqrt(q.size(-1))
    scores = q @ k.transpose(-2, -1)
    allowed = mask if mask is not None else torch.ones(scores.shape[-2:], dtype=torch.bool)
    wrong = {
        MISSING_SCALE: scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v,
        SCALE_BY_D: (scores / q.size(-1)).masked_fill(~allowed, float("-inf")).softmax(-1) @ v,
        SCALE_MULTIPLIED: (scores / scale).masked_fill(~allowed, float("-inf")).softmax(-1) @ v,
        WRONG_AXIS: (scores * scale).masked_fill(~allowed, float("-inf")).softmax(-2) @ v,
        SCALE_AFTER_SOFTMAX: scores.masked_fill(~allowed, float("-inf")).softmax(-1) * scale @ v,
    }
    if v.size(-1) != q.size(-1):
        dv = scores / math.sqrt(v.size(-1))
        wrong[SCALE_BY_DV] = dv.masked_fill(~allowed, float("-inf")).softmax(-1) @ v
    if mask is not None:
        wrong[MASK_AFTER_SOFTMAX] = ((scores * scale).softmax(-1) * mask) @ v
        wrong[MASK_WRONG_SIGN] = (scores * scale).masked_fill(mask, float("-inf")).softmax(-1) @ v
        wrong[MASK_ZERO] = (scores * scale).masked_fill(~mask, 0.0).softmax(-1) @ v
        wrong[MASK_ADDED] = (scores * scale + mask.float()).softmax(-1) @ v
        wrong[MASK_IGNORED] = (scores * scale).softmax(-1) @ v
    return wrong


@lab_check("check_attention")
def check_attention(attention: Callable) -> None:
    """``attention(q, k, v, mask=None)`` against softmax(Q K^T / sqrt(d_k) + mask) V."""
    generator = torch.Generator().manual_seed(3)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    T = 6
    padding = torch.tensor([1, 1, 1, 1, 0, 0], dtype=torch.bool).expand(T, T)  # keys 4, 5 are padding
    cases = [
        ("q, k, v of shape (5, 8), no mask", (randn(5, 8), randn(5, 8), randn(5, 8)), None),
        (
            "a batch (2, 3, 6, 16) with a causal mask",
            (randn(2, 3, T, 16), randn(2, 3, T, 16), randn(2, 3, T, 16)),
            reference_causal_mask(T),
        ),
        (
            "a padding mask (keys 4 and 5 hidden)",
            (randn(2, T, 16), randn(2, T, 16), randn(2, T, 16)),
            padding,
        ),
        ("4 queries, 7 keys, values of width 3", (randn(2, 4, 32), randn(2, 7, 32), randn(2, 7, 3)), None),
    ]
    for case, (q, k, v), mask in cases:
        expected, _ = scaled_dot_product_attention(q, k, v, mask=mask)
        got = (
            call(attention, q, k, v, mask=mask, case=case)
            if mask is not None
            else call(attention, q, k, v, case=case)
        )
        if isinstance(got, tuple):
            raise CheckFailed(f"on {case}: return only the output of shape [..., T_q, d_v], not a tuple")
        weights_shape = (*q.shape[:-1], k.size(-2))
        if isinstance(got, torch.Tensor) and got.shape != expected.shape and got.shape == weights_shape:
            raise CheckFailed(
                f"on {case}: your result has the shape of the attention weights {tuple(weights_shape)}; "
                "multiply the weights by the values, weights @ v"
            )
        expect_close(
            got, expected, what="attention output", case=case, mistakes=_attention_mistakes(q, k, v, mask)
        )
    # the output must stay differentiable: attention is trained through
    q, k, v = (randn(4, 8).requires_grad_() for _ in range(3))
    got = call(attention, q, k, v, mask=reference_causal_mask(4), case="inputs that require grad")
    expect_true(
        isinstance(got, torch.Tensor) and got.requires_grad,
        "your attention output does not carry gradients "
        "(did you use .detach(), .numpy() or torch.no_grad()?)",
    )
    got.sum().backward()
    expect_true(
        all(t.grad is not None and torch.isfinite(t.grad).all() for t in (q, k, v)),
        "the gradients of q, k and v should exist and be finite",
    )


@lab_check("check_causal_mask")
def check_causal_mask(causal_mask: Callable) -> None:
    """``causal_mask(T)``: bool ``[T, T]``, True on and below the diagonal."""
    for T in (4, 7, 1):
        case = f"T = {T}"
        expected = reference_causal_mask(T)
        got = call(causal_mask, T, case=case)
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"for {case}: return a torch.Tensor, got {type(got).__name__}")
        if got.dtype != torch.bool:
            if got.is_floating_point() and torch.isinf(got).any():
                raise CheckFailed(
                    f"for {case}: this looks like an additive mask (0 and -inf). "
                    "The course's masks are boolean: True where attending is allowed"
                )
            raise CheckFailed(
                f"for {case}: the mask should have dtype torch.bool (True where attending is allowed), got "
                f"{got.dtype}; use .bool() or torch.ones(..., dtype=torch.bool)"
            )
        ones = torch.ones(T, T, dtype=torch.bool)
        mistakes = {
            "the inverted mask (True above the diagonal, on the future): True must mark what a position MAY "
            "see, its past and itself": ones.triu(1),
            "True strictly below the diagonal only: each position must also attend to itself "
            "(the diagonal)": ones.tril(-1),
            "the transpose (True on and above the diagonal): position t may see positions 0..t, the lower "
            "triangle": ones.triu(),
            "a mask off by one: each position may also see the next one (tril(1)); position t may see only "
            "positions 0..t, so use tril() (diagonal 0)": ones.tril(1),
            "a mask that lets every position see every other (all True): keep only the lower triangle, "
            "torch.tril": ones,
        }
        expect_close(got, expected, what="causal mask", case=case, mistakes=mistakes, atol=0, rtol=0)


def _position_mistakes(T: int, d: int) -> dict[str, torch.Tensor]:
    t = torch.arange(T, dtype=torch.float64)[:, None]
    pair = torch.arange(0, d, 2, dtype=torch.float64)  # 2i
    angles = t / 10000 ** (pair / d)  # (T, d/2)
    swapped = torch.empty(T, d, dtype=torch.float64)
    swapped[:, 0::2], swapped[:, 1::2] = angles.cos(), angles.sin()
    own = t / 10000 ** (torch.arange(d, dtype=torch.float64) / d)  # (T, d)
    own_index = torch.where(torch.arange(d) % 2 == 0, own.sin(), own.cos())
    from_one = torch.empty(T, d, dtype=torch.float64)
    from_one[:, 0::2], from_one[:, 1::2] = (
        ((t + 1) / 10000 ** (pair / d)).sin(),
        ((t + 1) / 10000 ** (pair / d)).cos(),
    )
    half = torch.arange(d // 2, dtype=torch.float64)  # i instead of 2i
    pair_angles, inverted = t / 10000 ** (half / d), t * 10000 ** (pair / d)
    pair_index = torch.empty(T, d, dtype=torch.float64)
    pair_index[:, 0::2], pair_index[:, 1::2] = pair_angles.sin(), pair_angles.cos()
    inverted_table = torch.empty(T, d, dtype=torch.float64)
    inverted_table[:, 0::2], inverted_table[:, 1::2] = inverted.sin(), inverted.cos()
    return {
        PAIR_INDEX_EXPONENT: pair_index,
        INVERTED_FREQUENCY: inverted_table,
        SIN_COS_SWAPPED: swapped,
        CONCATENATED: torch.cat([angles.sin(), angles.cos()], dim=-1),
        OWN_INDEX_EXPONENT: own_index,
        FROM_ONE: from_one,
        SIN_ONLY: angles.sin().repeat_interleave(2, dim=-1),
        WRONG_BASE: _interleave(t / 1000 ** (pair / d)),
        f"{WRONG_BASE} (you used 100)": _interleave(t / 100 ** (pair / d)),
    }


def _interleave(angles: torch.Tensor) -> torch.Tensor:
    """sin on the even dimensions, cos on the odd ones."""
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)


@lab_check("check_sinusoidal_positions")
def check_sinusoidal_positions(sinusoidal_positions: Callable) -> None:
    """``sinusoidal_positions(T, d)`` ``[T, d]``: PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos."""
    for T, d in ((10, 16), (7, 6), (50, 32)):
        case = f"T = {T}, d = {d}"
        got = call(sinusoidal_positions, T, d, case=case)
        expect_close(
            got,
            sinusoidal_table(T, d),
            what="position table",
            case=case,
            mistakes=_position_mistakes(T, d),
            atol=1e-5,
            mistake_atol=1e-2,  # angles up to t * 10000 lose digits in float32
        )
