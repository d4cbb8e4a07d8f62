"""Lab 08 checks: the right answers pass, each common mistake gets its own message."""

import re

import pytest
import torch
import torch.nn.functional as F

from mmlab.align.dpo import dpo_loss
from mmlab.align.ppo import gae, ppo_clip_loss
from mmlab.align.reward import bradley_terry_loss
from mmlab.checks import lab08
from mmlab.checks.framework import CheckFailed


def test_right_answers_pass(capsys):
    assert lab08.check_bradley_terry_loss(bradley_terry_loss)
    assert lab08.check_dpo_loss(dpo_loss)
    assert lab08.check_ppo_clip_loss(ppo_clip_loss)
    assert lab08.check_gae(gae)
    out = capsys.readouterr().out
    for name in ("bradley_terry_loss", "dpo_loss", "ppo_clip_loss", "gae"):
        assert f"check_{name}: all" in out


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda w, r: -F.logsigmoid(r - w).mean(), "chosen and rejected swapped"),
        (lambda w, r: -torch.sigmoid(w - r).mean(), "sigmoid without the log"),
        (lambda w, r: -F.logsigmoid(w - r).sum(), "a sum over the batch"),
        (lambda w, r: -F.logsigmoid(w + r).mean(), "r_chosen + r_rejected"),
        (lambda w, r: -torch.log(torch.sigmoid(w - r)).mean(), "not numerically stable"),
        (lambda w, r: -F.logsigmoid(w - r), "should be one number"),
        (lambda w, r: -F.logsigmoid(w.detach() - r).mean(), "does not carry gradients"),
    ],
)
def test_bradley_terry_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        lab08.check_bradley_terry_loss(wrong)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (
            lambda pw, pl, rw, rl, b: -F.logsigmoid(b * ((pl - rl) - (pw - rw))).mean(),
            "chosen and rejected swapped",
        ),
        (
            lambda pw, pl, rw, rl, b: -b * F.logsigmoid((pw - rw) - (pl - rl)).mean(),
            "beta outside the log-sigmoid",
        ),
        (lambda pw, pl, rw, rl, b: -F.logsigmoid(b * ((rw - pw) - (rl - pl))).mean(), "ratio inverted"),
        (lambda pw, pl, rw, rl, b: -F.logsigmoid((pw - rw) - (pl - rl)).mean(), "beta left out"),
        (lambda pw, pl, rw, rl, b: -F.logsigmoid(b * (pw - pl)).mean(), "reference left out"),
    ],
)
def test_dpo_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        lab08.check_dpo_loss(wrong)


def _ppo(kind):
    def fn(new, old, adv, clip=0.2):
        ratio = (
            torch.exp(old - new)
            if kind == "inverted"
            else (new - old)
            if kind == "no_exp"
            else (new / old)
            if kind == "divided"
            else torch.exp(new - old)
        )
        clipped = ratio.clamp(1 - clip, 1 + clip) * adv
        if kind == "clip_advantage":
            clipped = ratio * adv.clamp(1 - clip, 1 + clip)
        if kind == "fixed_clip":
            clipped = ratio.clamp(0.8, 1.2) * adv
        if kind == "sum":
            return -torch.minimum(ratio * adv, clipped).sum()
        if kind == "max":
            return -torch.maximum(ratio * adv, clipped).mean()
        if kind == "sign":
            return torch.minimum(ratio * adv, clipped).mean()
        if kind == "no_clip":
            return -(ratio * adv).mean()
        if kind == "detached":
            return -torch.minimum(ratio * adv, clipped).mean().detach()
        return -torch.minimum(ratio * adv, clipped).mean()

    return fn


@pytest.mark.parametrize(
    "kind, message",
    [
        ("max", "max instead of min"),
        ("sign", "the objective, not the loss"),
        ("no_clip", "no clipping"),
        ("inverted", "the ratio inverted"),
        ("no_exp", "log-ratio used as the ratio"),
        ("divided", "log-probabilities divided"),
        ("detached", "does not carry gradients"),
    ],
)
def test_ppo_mistakes_are_named(kind, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        lab08.check_ppo_clip_loss(_ppo(kind))


def _gae(kind):
    def fn(rewards, values, gamma, lam):
        T = len(rewards)
        nxt = values[1:].clone()
        if kind == "no_bootstrap":
            nxt[-1] = 0.0
        deltas = rewards + (1.0 if kind == "no_gamma" else gamma) * nxt - values[:-1]
        if kind == "delta_sign":
            deltas = rewards + values[:-1] - gamma * nxt
        if kind == "td":
            return deltas
        decay = gamma if kind == "no_lambda" else gamma * lam
        out, running = torch.zeros(T), 0.0
        steps = range(T) if kind == "forward" else reversed(range(T))
        for t in steps:
            running = deltas[t] + decay * running
            out[t] = running
        if kind == "not_flipped":  # appended from the last step, never reversed back
            return out.flip(0)
        return out + values[:-1] if kind == "returns" else out

    return fn


@pytest.mark.parametrize(
    "kind, message",
    [
        ("forward", "not reversed through time"),
        ("td", "one-step TD errors only"),
        ("no_lambda", "lam left out"),
        ("returns", "returns instead of advantages"),
        ("no_bootstrap", "the last value ignored"),
        ("no_gamma", "gamma left out of the TD error"),
    ],
)
def test_gae_mistakes_are_named(kind, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        lab08.check_gae(_gae(kind))


def test_not_implemented_prints_one_line(capsys):
    def todo(*args, **kwargs):
        raise NotImplementedError

    checks = (
        lab08.check_bradley_terry_loss,
        lab08.check_dpo_loss,
        lab08.check_ppo_clip_loss,
        lab08.check_gae,
    )
    for check in checks:
        assert not check(todo)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all("not implemented yet" in line for line in lines)


# ----------------------------------------------------------------------------- more typical mistakes
@pytest.mark.parametrize(
    "kind, message",
    [
        ("clip_advantage", "advantage clipped"),
        ("fixed_clip", "clip argument ignored"),
        ("sum", "a sum over the batch"),
    ],
)
def test_more_ppo_mistakes_are_named(kind, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        lab08.check_ppo_clip_loss(_ppo(kind))


@pytest.mark.parametrize(
    "kind, message",
    [("delta_sign", "TD error with the wrong sign"), ("not_flipped", "backwards in time order")],
)
def test_more_gae_mistakes_are_named(kind, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        lab08.check_gae(_gae(kind))


@pytest.mark.parametrize(
    "check, wrong, message",
    [
        (lab08.check_bradley_terry_loss, lambda w, r: F.logsigmoid(w - r).mean(), "without its minus sign"),
        (lab08.check_bradley_terry_loss, lambda w, r: -(w - r).mean(), "the sigmoid left out"),
        (
            lab08.check_dpo_loss,
            lambda pw, pl, rw, rl, b: F.logsigmoid(b * ((pw - rw) - (pl - rl))).mean(),
            "without its minus sign",
        ),
        (
            lab08.check_dpo_loss,
            lambda pw, pl, rw, rl, b: -F.logsigmoid(b * ((pw - rw) - (pl - rl))).sum(),
            "a sum over the batch",
        ),
        (
            lab08.check_dpo_loss,
            lambda pw, pl, rw, rl, b: -F.logsigmoid(b * (pw / rw - pl / rl)).mean(),
            "log-probabilities divided",
        ),
    ],
)
def test_more_preference_mistakes_are_named(check, wrong, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        check(wrong)
