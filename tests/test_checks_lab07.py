"""Lab 07 checks: the right answers pass, each common mistake gets its own message."""

import re

import pytest
import torch
import torch.nn.functional as F

from mmlab.checks import lab07
from mmlab.checks.framework import CheckFailed
from mmlab.data.chat import ASSISTANT, PAD, TEMPLATE


def render(messages, add_generation_prompt=False):
    markers = {"system": "S:", "user": "U:", "assistant": "A:"}
    text = "".join(f"{markers[m['role']]} {m['content']}\n" for m in messages)
    return text + "A:" if add_generation_prompt else text


def mask(roles):
    return roles == ASSISTANT


def loss(logits, tokens, m):
    losses = F.cross_entropy(logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none")
    return (losses * m[:, 1:]).sum() / m[:, 1:].sum()


def test_right_answers_pass(capsys):
    assert lab07.check_render_chat(render)
    assert lab07.check_assistant_loss_mask(mask)
    assert lab07.check_masked_sft_loss(loss)
    out = capsys.readouterr().out
    assert "check_render_chat: all" in out and "check_assistant_loss_mask: all" in out and "loss: all" in out


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda r: r != PAD, "loss counted on prompt tokens"),
        (lambda r: (r == ASSISTANT) | (r == TEMPLATE), "template's markers counted"),
        (lambda r: (r == ASSISTANT) | (r == PAD), "padding counted"),
        (lambda r: r != ASSISTANT, "mask inverted"),
        (lambda r: (r == ASSISTANT).long(), "should be a bool tensor"),
    ],
)
def test_mask_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        lab07.check_assistant_loss_mask(wrong)


def _ce(logits, tokens):
    return F.cross_entropy(logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none")


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda lg, t, m: (_ce(lg, t) * m[:, 1:]).sum() / m[:, 1:].numel(), "mean over all positions"),
        (lambda lg, t, m: _ce(lg, t).mean(), "loss counted on every token"),
        (lambda lg, t, m: (_ce(lg, t) * m[:, 1:]).sum(), "a sum"),
        (
            lambda lg, t, m: (F.cross_entropy(lg.transpose(1, 2), t, reduction="none") * m).sum() / m.sum(),
            "same position's token",
        ),
        (lambda lg, t, m: _ce(lg, t) * m[:, 1:], "should be one number"),
        (
            lambda lg, t, m: (_ce(lg, t) * m[:, :-1]).sum() / m[:, :-1].sum(),
            "mask taken at the input position",
        ),
    ],
)
def test_loss_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        lab07.check_masked_sft_loss(wrong)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda m, p=False: render(m, p).rstrip("\n"), "every turn ends with a newline"),
        (lambda m, p=False: render(m, p) + (" " if p else ""), "exactly 'A:' at the end"),
        (lambda m, p=False: render(m, p).replace("U:", "User:"), "one letter"),
        (lambda m, p=False: None, "should return a string"),
    ],
)
def test_template_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        lab07.check_render_chat(wrong)


def test_not_implemented_prints_one_line(capsys):
    def todo(*args, **kwargs):
        raise NotImplementedError

    for check in (lab07.check_render_chat, lab07.check_assistant_loss_mask, lab07.check_masked_sft_loss):
        assert not check(todo)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all("not implemented yet" in line for line in lines)


def test_a_loss_that_reads_user_labels_is_caught():
    def peeks(logits, tokens, m):  # right on the first call, but depends on a user token's label
        return loss(logits, tokens, m) + 0.01 * tokens[0, 5].float()

    with pytest.raises(CheckFailed):
        lab07.check_masked_sft_loss(peeks)
    assert torch.tensor(1)  # keep torch imported for the lambdas above


# ----------------------------------------------------------------------------- more typical mistakes
def _per_chat_mean(lg, t, m):
    losses = _ce(lg, t) * m[:, 1:]
    return (losses.sum(1) / m[:, 1:].sum(1)).mean()


def _shift_backwards(lg, t, m):
    losses = F.cross_entropy(lg[:, 1:].transpose(1, 2), t[:, :-1], reduction="none")
    return (losses * m[:, :-1]).sum() / m[:, :-1].sum()


def _not_transposed(lg, t, m):
    losses = F.cross_entropy(lg[:, :-1], t[:, 1:], reduction="none")
    return (losses * m[:, 1:]).sum() / m[:, 1:].sum()


MORE_MISTAKES = [
    (lab07.check_assistant_loss_mask, lambda r: r == lab07.USER, "user's tokens"),
    (lab07.check_assistant_loss_mask, lambda r: (r != lab07.USER) & (r != PAD), "system prompt"),
    (lab07.check_masked_sft_loss, lambda lg, t, m: loss(lg.softmax(-1), t, m), "softmax"),
    (lab07.check_masked_sft_loss, _shift_backwards, "shifted the wrong way"),
    (lab07.check_masked_sft_loss, _per_chat_mean, "mean of each chat's mean"),
    (lab07.check_masked_sft_loss, _not_transposed, "transpose(1, 2)"),
    (lab07.check_render_chat, lambda m, p=False: render(m, p).replace(": ", ":"), "a space after"),
    (lab07.check_render_chat, lambda m, p=False: render(m, False), "add_generation_prompt ignored"),
    (lab07.check_render_chat, lambda m, p=False: render(m, True), "only when add_generation_prompt"),
]


@pytest.mark.parametrize(("check", "wrong", "message"), MORE_MISTAKES)
def test_more_mistakes_are_named(check, wrong, message):
    with pytest.raises(CheckFailed) as err:
        check(wrong)
    assert message in str(err.value), str(err.value)
