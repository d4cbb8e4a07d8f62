"""Lab 09 checks: right answers pass, each common mistake gets its own message."""

import math

import pytest
import torch
import torch.nn.functional as F

from mmlab.checks.framework import CheckFailed
from mmlab.checks.lab09 import (
    CONV_CASES,
    check_add_cls_and_positions,
    check_cls_pool,
    check_conv_output_size,
    check_patchify,
    conv_output_size_reference,
)


def _unfinished(*args, **kwargs):
    raise NotImplementedError


def conv_output_size(n, k, s=1, p=0):
    return (n + 2 * p - k) // s + 1


def patchify(x, p):
    return F.unfold(x, kernel_size=p, stride=p).transpose(1, 2)


def add_cls_and_positions(tokens, cls, positions):
    return torch.cat([cls.expand(tokens.size(0), 1, -1), tokens], dim=1) + positions


def cls_pool(encoded):
    return encoded[:, 0]


def test_the_reference_is_pytorch_and_the_formula_agrees():
    for case in CONV_CASES:
        assert conv_output_size_reference(*case) == conv_output_size(*case)


def test_right_answers_pass(capsys):
    assert check_conv_output_size(conv_output_size)
    assert check_patchify(patchify)
    assert check_add_cls_and_positions(add_cls_and_positions)
    assert check_cls_pool(cls_pool)
    assert "checks passed" in capsys.readouterr().out


def test_another_right_patchify_passes():
    def by_moving_axes(x, p):
        b, c = x.shape[:2]
        return x.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5).reshape(b, -1, c * p * p)

    assert check_patchify(by_moving_axes)


@pytest.mark.parametrize(
    "check", [check_conv_output_size, check_patchify, check_add_cls_and_positions, check_cls_pool]
)
def test_unfinished(check, capsys):
    assert not check(_unfinished)
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda n, k, s=1, p=0: (n + 2 * p - k) // s, r"\+ 1 is missing"),
        (lambda n, k, s=1, p=0: (n + p - k) // s + 1, "counted once"),
        (lambda n, k, s=1, p=0: (n - k) // s + 1, "padding was ignored"),
        (lambda n, k, s=1, p=0: n + 2 * p - k + 1, "stride was ignored"),
        (lambda n, k, s=1, p=0: math.ceil((n + 2 * p - k) / s) + 1, "rounded up"),
        (lambda n, k, s=1, p=0: (n + 2 * p - k + 1) // s, r"stride applied after the \+ 1"),
        (lambda n, k, s=1, p=0: (n + 2 * p - k) / s + 1, "a fraction"),
        (lambda n, k, s=1, p=0: float((n + 2 * p - k) // s + 1), "return a Python int"),
        (lambda n, k, s=1, p=0: 6, "the output size is 8, you returned 6"),
    ],
)
def test_conv_output_size_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_conv_output_size(wrong)


def _channel_last(x, p):
    b, c = x.shape[:2]
    return x.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 4, 5, 1).reshape(b, -1, p * p * c)


def _column_by_column(x, p):
    b, c = x.shape[:2]
    return x.unfold(2, p, p).unfold(3, p, p).permute(0, 3, 2, 1, 4, 5).reshape(b, -1, c * p * p)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda x, p: F.unfold(x, kernel_size=p, stride=p), "transpose"),
        (_channel_last, "channel last"),
        (_column_by_column, "column by column"),
        (lambda x, p: x.reshape(x.size(0), -1, x.size(1) * p * p), "plain reshape"),
        (lambda x, p: F.unfold(x, kernel_size=p).transpose(1, 2), "overlapping windows"),
        (lambda x, p: patchify(x, p) * 2, "not equal"),
        (lambda x, p: patchify(x, p)[:, :1], "wrong shape"),
    ],
)
def test_patchify_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_patchify(wrong)


def _cat(cls, tokens):
    return torch.cat([cls.expand(tokens.size(0), 1, -1), tokens], dim=1)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda t, c, pos: torch.cat([t, c.expand(t.size(0), 1, -1)], dim=1) + pos, "appended at the end"),
        (lambda t, c, pos: _cat(c, t), "positions were not added"),
        (lambda t, c, pos: _cat(c, t + pos[: t.size(1)]), "shifted by one"),
        (lambda t, c, pos: _cat(c, t + pos[1:]), "got no position"),
        (lambda t, c, pos: t + c + pos[1:], "added to every patch"),
        (lambda t, c, pos: _cat(c, t) - pos, "not equal"),
    ],
)
def test_add_cls_and_positions_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_add_cls_and_positions(wrong)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda e: e.mean(1), "mean over the tokens"),
        (lambda e: e[:, -1], "last token"),
        (lambda e: e[0], "first image of the batch"),
        (lambda e: e[:, 1:].mean(1), "mean of the patch outputs"),
        (lambda e: e[:, 1], "not equal"),
    ],
)
def test_cls_pool_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_cls_pool(wrong)
