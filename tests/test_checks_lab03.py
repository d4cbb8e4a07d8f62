"""Lab 03 checks: the right answers pass, each common mistake gets its own message."""

import math
import re

import pytest
import torch

from mmlab.checks import lab03
from mmlab.checks.framework import CheckFailed


def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1) @ v


def causal_mask(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool))


def sinusoidal_positions(T, d):
    t = torch.arange(T, dtype=torch.float32)[:, None]
    angles = t / 10000 ** (torch.arange(0, d, 2) / d)
    table = torch.zeros(T, d)
    table[:, 0::2], table[:, 1::2] = angles.sin(), angles.cos()
    return table


def attention_variant(kind):
    def fn(q, k, v, mask=None):
        scale = {"no_scale": 1.0, "by_d": 1 / q.size(-1), "times": math.sqrt(q.size(-1))}.get(
            kind, 1 / math.sqrt(q.size(-1))
        )
        scores = q @ k.transpose(-2, -1) * scale
        axis = -2 if kind == "axis" else -1
        if mask is not None and kind in ("no_scale", "by_d", "times", "axis", "tuple", "detached"):
            scores = scores.masked_fill(~mask, float("-inf"))
        if mask is not None and kind == "sign":
            scores = scores.masked_fill(mask, float("-inf"))
        if mask is not None and kind == "zero":
            scores = scores.masked_fill(~mask, 0.0)
        if mask is not None and kind == "added":
            scores = scores + mask
        weights = scores.softmax(dim=axis)
        if mask is not None and kind == "after":
            weights = weights * mask
        if kind == "tuple":
            return weights @ v, weights
        if kind == "detached":
            return (weights @ v).detach()
        return weights @ v

    return fn


def test_right_answers_pass(capsys):
    assert lab03.check_attention(attention)
    assert lab03.check_causal_mask(causal_mask)
    assert lab03.check_sinusoidal_positions(sinusoidal_positions)
    out = capsys.readouterr().out
    assert "check_attention: all" in out and "check_causal_mask: all" in out and "positions: all" in out


@pytest.mark.parametrize(
    "kind, message",
    [
        ("no_scale", "without the 1/sqrt(d_k) scale"),
        ("by_d", "divided by d_k instead of sqrt(d_k)"),
        ("times", "multiplied by sqrt(d_k)"),
        ("axis", "softmax over the wrong axis"),
        ("after", "mask applied after the softmax"),
        ("sign", "mask with the wrong sign"),
        ("zero", "set to 0 instead of -inf"),
        ("added", "boolean mask added to the scores"),
        ("tuple", "not a tuple"),
        ("detached", "does not carry gradients"),
    ],
)
def test_attention_mistakes_are_named(kind, message):
    with pytest.raises(CheckFailed, match=re.escape(message)) as info:
        lab03.check_attention(attention_variant(kind))
    assert str(info.value).startswith("check_attention: ")


def test_attention_that_ignores_the_mask_or_crashes():
    with pytest.raises(CheckFailed, match="the mask ignored"):
        lab03.check_attention(lambda q, k, v, mask=None: attention(q, k, v))
    with pytest.raises(CheckFailed, match="raised RuntimeError on"):
        lab03.check_attention(lambda q, k, v, mask=None: q @ k @ v)


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda T: torch.ones(T, T, dtype=torch.bool).triu(1), "inverted mask"),
        (lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1), "also attend to itself"),
        (lambda T: torch.ones(T, T, dtype=torch.bool).triu(), "the transpose"),
        (lambda T: torch.ones(T, T, dtype=torch.bool).tril(1), "off by one"),
        (lambda T: torch.ones(T, T).tril(), "dtype torch.bool"),
        (
            lambda T: torch.zeros(T, T).masked_fill(torch.ones(T, T).triu(1).bool(), float("-inf")),
            "additive mask",
        ),
        (lambda T: torch.ones(T, T + 1, dtype=torch.bool).tril(), "wrong shape"),
        (lambda T: [[True]], "return a torch.Tensor"),
    ],
)
def test_causal_mask_mistakes_are_named(fn, message):
    with pytest.raises(CheckFailed, match=message):
        lab03.check_causal_mask(fn)


def swap(T, d):
    table = sinusoidal_positions(T, d)
    return torch.stack([table[:, 1::2], table[:, 0::2]], dim=-1).flatten(1)


def concatenated(T, d):
    table = sinusoidal_positions(T, d)
    return torch.cat([table[:, 0::2], table[:, 1::2]], dim=-1)


def own_index(T, d):
    angles = torch.arange(T)[:, None] / 10000 ** (torch.arange(d) / d)
    return torch.where(torch.arange(d) % 2 == 0, angles.sin(), angles.cos())


def frequencies(T, d, pair_index=False, multiplied=False):
    t = torch.arange(T, dtype=torch.float32)[:, None]
    exponent = (torch.arange(d // 2) if pair_index else torch.arange(0, d, 2)) / d
    angles = t * 10000**exponent if multiplied else t / 10000**exponent
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda T, d: frequencies(T, d, pair_index=True), "pair index i"),
        (lambda T, d: frequencies(T, d, multiplied=True), "multiplied by 10000"),
        (swap, "sin and cos swapped"),
        (concatenated, "first half"),
        (own_index, "own index"),
        (lambda T, d: sinusoidal_positions(T + 1, d)[1:], "counted from 1"),
        (lambda T, d: sinusoidal_positions(T, d).T, "wrong shape"),
    ],
)
def test_position_mistakes_are_named(fn, message):
    with pytest.raises(CheckFailed, match=message):
        lab03.check_sinusoidal_positions(fn)


@pytest.mark.parametrize(
    "check", [lab03.check_attention, lab03.check_causal_mask, lab03.check_sinusoidal_positions]
)
def test_unimplemented_exercise_says_so(check, capsys):
    def todo(*args, **kwargs):
        raise NotImplementedError

    assert not check(todo)
    assert "not implemented yet" in capsys.readouterr().out


# ----------------------------------------------------------------------------- more typical mistakes
def _weights_returned(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-1)


def _scale_by_dv(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(v.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-1) @ v


def _scale_after_softmax(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-1) / math.sqrt(q.size(-1)) @ v


def _sin_only(T, d):
    t = torch.arange(T, dtype=torch.float32)[:, None]
    angles = t / 10000 ** (torch.arange(0, d, 2) / d)
    return angles.sin().repeat_interleave(2, dim=-1)


def _base_1000(T, d):
    t = torch.arange(T, dtype=torch.float32)[:, None]
    angles = t / 1000 ** (torch.arange(0, d, 2) / d)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)


MORE_MISTAKES = [
    (lab03.check_attention, _weights_returned, "attention weights"),
    (lab03.check_attention, _scale_by_dv, "sqrt(d_v)"),
    (lab03.check_attention, _scale_after_softmax, "after the softmax"),
    (lab03.check_causal_mask, lambda T: torch.ones(T, T, dtype=torch.bool), "every position"),
    (lab03.check_sinusoidal_positions, _sin_only, "cos missing"),
    (lab03.check_sinusoidal_positions, _base_1000, "base"),
]


@pytest.mark.parametrize(("check", "wrong", "message"), MORE_MISTAKES)
def test_more_mistakes_are_named(check, wrong, message):
    with pytest.raises(CheckFailed) as err:
        check(wrong)
    assert message in str(err.value), str(err.value)
