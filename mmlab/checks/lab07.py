"""Checks for lab 07: the chat template, the assistant-only loss mask and the masked SFT loss.

Role ids are those of :mod:`mmlab.data.chat`: ``PAD = 0``, ``TEMPLATE = 1`` (the role markers),
``SYSTEM = 2``, ``USER = 3``, ``ASSISTANT = 4``. The checks name the common mistakes: the loss
counted on prompt tokens, on the template's markers or on padding, the mask inverted, the mean
taken over every position instead of the counted ones, the targets not shifted.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from mmlab.align.sft import assistant_loss_mask as reference_mask
from mmlab.checks.framework import CheckFailed, call, expect_close, expect_true, lab_check
from mmlab.data.chat import ASSISTANT, PAD, SYSTEM, TEMPLATE, USER, render_chat

__all__ = ["check_assistant_loss_mask", "check_masked_sft_loss", "check_render_chat"]

MASK_PROMPT = (
    "the loss counted on prompt tokens: only the assistant's tokens (role ASSISTANT) are trained; the system "
    "and user turns are context to read, not text to imitate"
)
MASK_TEMPLATE = (
    "the template's markers counted (role TEMPLATE, e.g. 'A:'): the prompt hands them to the model, so it "
    "never has to write them"
)
MASK_PADDING = "padding counted: positions with role PAD are not text at all"
MASK_INVERTED = "the mask inverted: True must mark where the loss counts (the assistant's tokens)"
MASK_USER = "the user's tokens marked instead of the assistant's: the loss counts on role ASSISTANT"
MASK_SYSTEM = (
    "the system prompt and the template's markers counted (everything but the user and padding): only "
    "role ASSISTANT counts"
)
LOSS_DOUBLE_SOFTMAX = (
    "a softmax before the cross-entropy: F.cross_entropy takes raw logits and applies log-softmax itself"
)
LOSS_SHIFT_BACKWARDS = (
    "the targets shifted the wrong way (logits[:, 1:] against tokens[:, :-1]): position t predicts token "
    "t + 1, so compare logits[:, :-1] with tokens[:, 1:]"
)
LOSS_PER_CHAT = (
    "the mean of each chat's mean: every counted token weighs the same, so divide the total loss by the "
    "total number of counted tokens (a long reply counts more than a short one)"
)
LOSS_NOT_TRANSPOSED = (
    "logits passed to F.cross_entropy as (B, T, V): it expects the classes on dim 1, so use "
    "logits.transpose(1, 2) or flatten to (B * T, V)"
)
LOSS_ALL_POSITIONS = "the mean over all positions: divide the summed loss by the number of counted (masked) tokens, not by B * T"
LOSS_UNMASKED = "the loss counted on every token: multiply by the mask (or select the masked positions) first"
LOSS_SUM = "a sum: return the mean over the counted tokens"
LOSS_MASK_AT_INPUT = (
    "the mask taken at the input position (mask[:, :-1]): the loss of position t is about the *target* "
    "token t + 1, so it counts where that token is the assistant's: use mask[:, 1:]"
)
LOSS_SHIFT = (
    "the logits compared with the same position's token: position t predicts token t + 1, so compare "
    "logits[:, :-1] with targets[:, 1:] (and mask[:, 1:])"
)


def _roles(generator: torch.Generator) -> torch.Tensor:
    """A batch of role sequences like real chats: [system], user turn, assistant turn, padding."""
    rows = []
    for with_system, user, reply, pad in (
        (True, 4, 3, 2),
        (False, 5, 4, 0),
        (False, 3, 2, 6),
        (True, 2, 5, 1),
    ):
        row = ([TEMPLATE] + [SYSTEM] * 3 if with_system else []) + [TEMPLATE] + [USER] * user
        row += [TEMPLATE] + [ASSISTANT] * reply + [PAD] * pad
        rows.append(row)
    width = max(len(r) for r in rows)
    return torch.tensor([r + [PAD] * (width - len(r)) for r in rows])


@lab_check("check_assistant_loss_mask")
def check_assistant_loss_mask(assistant_loss_mask: Callable) -> None:
    """``assistant_loss_mask(token_roles[B, T])`` -> bool ``[B, T]``, True on the assistant's tokens."""
    roles = _roles(torch.Generator().manual_seed(7))
    for case, r in (("a batch of 4 chats", roles), ("one chat", roles[1:2])):
        expected = reference_mask(r)
        got = call(assistant_loss_mask, r.clone(), case=case)
        if isinstance(got, torch.Tensor) and got.dtype != torch.bool:
            raise CheckFailed(
                f"your mask for {case} should be a bool tensor (True where the loss counts), got {got.dtype}"
            )
        mistakes = {
            MASK_PROMPT: r != PAD,
            MASK_TEMPLATE: (r == ASSISTANT) | (r == TEMPLATE),
            MASK_PADDING: (r == ASSISTANT) | (r == PAD),
            MASK_INVERTED: r != ASSISTANT,
            MASK_USER: r == USER,
            MASK_SYSTEM: (r != USER) & (r != PAD),
        }
        expect_close(got, expected, what="mask", case=case, mistakes=mistakes)


def reference_sft_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``logits[:, :-1]`` against ``targets[:, 1:]`` where ``mask[:, 1:]``."""
    losses = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets[:, 1:], reduction="none")
    m = mask[:, 1:]
    return (losses * m).sum() / m.sum()


@lab_check("check_masked_sft_loss")
def check_masked_sft_loss(sft_loss: Callable) -> None:
    """``sft_loss(logits[B, T, V], tokens[B, T], mask[B, T])``: the mean next-token cross-entropy over
    the positions whose *target* token is masked True."""
    g = torch.Generator().manual_seed(7)
    roles = _roles(g)
    mask = reference_mask(roles)
    B, T = roles.shape
    logits = torch.randn(B, T, 11, generator=g)
    tokens = torch.randint(0, 11, (B, T), generator=g)
    expected = reference_sft_loss(logits, tokens, mask)
    got = call(
        sft_loss,
        logits.clone(),
        tokens.clone(),
        mask.clone(),
        case="a batch of 4 chats",
        hints={"Expected target size": LOSS_NOT_TRANSPOSED},
    )
    if isinstance(got, torch.Tensor) and got.dim() != 0:
        raise CheckFailed(f"your loss should be one number, got shape {tuple(got.shape)}")
    losses = F.cross_entropy(logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none")
    m = mask[:, 1:]
    unshifted = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none")
    backwards = F.cross_entropy(logits[:, 1:].transpose(1, 2), tokens[:, :-1], reduction="none")
    mistakes = {
        LOSS_ALL_POSITIONS: (losses * m).sum() / m.numel(),
        LOSS_UNMASKED: losses.mean(),
        LOSS_SUM: (losses * m).sum(),
        LOSS_SHIFT: (unshifted * mask).sum() / mask.sum(),
        LOSS_MASK_AT_INPUT: (losses * mask[:, :-1]).sum() / mask[:, :-1].sum(),
        LOSS_DOUBLE_SOFTMAX: reference_sft_loss(logits.softmax(-1), tokens, mask),
        LOSS_SHIFT_BACKWARDS: (backwards * mask[:, :-1]).sum() / mask[:, :-1].sum(),
        LOSS_PER_CHAT: ((losses * m).sum(1) / m.sum(1)).mean(),
    }
    expect_close(got, expected, what="loss", case="a batch of 4 chats", mistakes=mistakes)
    # the defining property: a user token's label changes nothing
    changed = tokens.clone()
    user = (roles == USER).nonzero()[0]
    changed[user[0], user[1]] = (changed[user[0], user[1]] + 1) % 11
    again = call(sft_loss, logits.clone(), changed, mask.clone(), case="a user token changed")
    expect_true(
        isinstance(again, torch.Tensor) and torch.allclose(again, got),
        "changing a *user* token's label changed your loss: the loss must count assistant tokens only",
    )


@lab_check("check_render_chat")
def check_render_chat(render: Callable) -> None:
    """``render(messages, add_generation_prompt)`` -> the course's template text."""
    cases = [
        ("one user turn", [{"role": "user", "content": "colour of sky"}], False),
        ("a generation prompt", [{"role": "user", "content": "reverse cat dog"}], True),
        (
            "system, user and assistant",
            [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "rate fun dull nice"},
                {"role": "assistant", "content": "sure good"},
            ],
            False,
        ),
    ]
    for case, messages, prompt in cases:
        expected = render_chat(messages, add_generation_prompt=prompt)
        got = call(render, messages, prompt, case=case)
        if not isinstance(got, str):
            raise CheckFailed(f"your template for {case} should return a string, got {type(got).__name__}")
        if got != expected and (got == expected.rstrip("\n") or got.rstrip(" ") == expected):
            raise CheckFailed(
                f"on {case}: every turn ends with a newline, and the generation prompt is exactly 'A:' at the end.\n"
                f"  expected: {expected!r}\n  got:      {got!r}"
            )
        if got != expected and any(
            f"{word}:" in got for word in ("User", "Assistant", "System", "user", "assistant", "system")
        ):
            raise CheckFailed(
                f"on {case}: the role markers are 'S:', 'U:' and 'A:' (one letter), not the role's name.\n"
                f"  expected: {expected!r}\n  got:      {got!r}"
            )
        if got != expected and got == expected.replace(": ", ":"):
            raise CheckFailed(
                f"on {case}: write a space after each role marker ('U: ...').\n  expected: {expected!r}"
            )
        if prompt and got + "A:" == expected:
            raise CheckFailed(
                f"on {case}: add_generation_prompt ignored: end the text with 'A:' when it is True"
            )
        if not prompt and got == expected + "A:":
            raise CheckFailed(
                f"on {case}: the generation prompt 'A:' goes at the end only when add_generation_prompt is True"
            )
        expect_true(got == expected, f"on {case}: expected {expected!r}, got {got!r}")
