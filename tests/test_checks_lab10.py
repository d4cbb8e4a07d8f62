"""Lab 10 checks: right answers pass, each common mistake gets its own message."""

import math

import pytest
import torch

from mmlab.checks.framework import CheckFailed
from mmlab.checks.lab10 import check_concat_fusion, check_cross_attend, check_weighted_sum_fusion
from mmlab.models.fusion import concat_fusion, cross_attend, weighted_sum_fusion


def _unfinished(*args, **kwargs):
    raise NotImplementedError


def test_right_answers_pass(capsys):
    assert check_weighted_sum_fusion(weighted_sum_fusion)
    assert check_concat_fusion(concat_fusion)
    assert check_cross_attend(cross_attend)
    assert "checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("check", [check_weighted_sum_fusion, check_concat_fusion, check_cross_attend])
def test_unfinished(check, capsys):
    assert not check(_unfinished)
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda f, w: (torch.stack(f) * w[:, None, None]).sum(0), "not normalised"),
        (lambda f, w: torch.stack(f).mean(0), "plain average"),
        (lambda f, w: (torch.stack(f) * (w / w.sum())[:, None, None]).sum(0), "divided by their sum"),
        (lambda f, w: (torch.stack(f) * w.softmax(0)[:, None, None]).sum(0)[:1], "wrong shape"),
    ],
)
def test_weighted_sum_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_weighted_sum_fusion(wrong)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda f: torch.cat(f, dim=0), "batch axis"),
        (lambda f: torch.stack(f, dim=1), "stacked"),
        (lambda f: sum(f), "summed"),
        (lambda f: torch.cat(f, dim=-1) * 2, "not equal"),
    ],
)
def test_concat_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_concat_fusion(wrong)


def _attend(q, k, v, mask=None, scale=True, dim=-1):
    scores = q @ k.transpose(-2, -1) / (math.sqrt(q.size(-1)) if scale else 1.0)
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
    return scores.softmax(dim) @ v


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda t, i, m=None: _attend(i, t, t), "queries and keys swapped"),
        (lambda t, i, m=None: _attend(t, i, i, m, scale=False), "no scaling"),
        (lambda t, i, m=None: _attend(t, i, i, m, dim=-2), "over the queries"),
        (lambda t, i, m=None: _attend(t, i, i), "mask was ignored"),
        (lambda t, i, m=None: _attend(t, i, i, None if m is None else ~m), "wrong way round"),
        (lambda t, i, m=None: 1 / 0, "raised ZeroDivisionError"),
    ],
)
def test_cross_attend_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_cross_attend(wrong)


# ----------------------------------------------------------------------------- more typical mistakes
def _weights_only(t, i, m=None):
    scores = t @ i.transpose(-2, -1) / math.sqrt(t.size(-1))
    if m is not None:
        scores = scores.masked_fill(~m[:, None, :], float("-inf"))
    return scores.softmax(-1)


def _mask_zero(t, i, m=None):
    scores = t @ i.transpose(-2, -1) / math.sqrt(t.size(-1))
    if m is not None:
        scores = scores.masked_fill(~m[:, None, :], 0.0)
    return scores.softmax(-1) @ i


MORE_MISTAKES = [
    (check_weighted_sum_fusion, lambda f, w: (torch.stack(f) * w.sigmoid()[:, None, None]).sum(0), "sigmoid"),
    (
        check_weighted_sum_fusion,
        lambda f, w: (torch.stack(f) * w.softmax(0)[:, None, None]).mean(0),
        "the mean",
    ),
    (check_concat_fusion, lambda f: torch.cat(f[::-1], dim=-1), "reverse order"),
    (check_cross_attend, lambda t, i, m=None: _attend(t / math.sqrt(8), i, i, m), "divided by d"),
    (check_cross_attend, _weights_only, "attention weights"),
    (check_cross_attend, _mask_zero, "0 instead of -inf"),
]


@pytest.mark.parametrize(("check", "wrong", "message"), MORE_MISTAKES)
def test_more_mistakes_are_named(check, wrong, message):
    with pytest.raises(CheckFailed) as err:
        check(wrong)
    assert message in str(err.value), str(err.value)


def test_flattened_concatenation_is_named():
    with pytest.raises(CheckFailed, match="flattened the batch"):
        check_concat_fusion(lambda f: torch.cat([x.flatten() for x in f]))
