"""Checks for lab 12: the VLM's input sequence (projected image tokens, then the text) and its training
row (inputs, and targets only on the answer).

Each check compares the learner's function with the reference that chapter 12's
:class:`~mmlab.models.vlm.MiniVLM` and :func:`~mmlab.models.vlm.build_vlm_examples` compute, on
several inputs, and names the common mistakes: text before the image, image features not projected,
concatenation along the wrong axis; targets not shifted by one (the mask taken at the input
position), the loss on the question or the padding, 0 instead of -100 for "no loss", the input
keeping its last token.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from mmlab.checks.framework import CheckFailed, call, expect_close, expect_true, lab_check
from mmlab.models.vlm import IGNORE

__all__ = ["check_vlm_inputs", "check_vlm_row", "reference_vlm_inputs", "reference_vlm_row"]

TEXT_FIRST = (
    "the text before the image: the image tokens come first ([image tokens; text embeddings]), so every "
    "text position can attend to the whole picture under the causal mask"
)
NOT_PROJECTED = (
    "the image features not passed through the projector: the raw patch features are not in the "
    "language model's embedding space; use projector(features)"
)
PROJECTED_TWICE = (
    "the text embeddings passed through the projector too: only the image features are projected"
)
WRONG_AXIS = (
    "a concatenation along the wrong axis: the sequence axis is dim=1 ((B, P, C) and (B, T, C) give "
    "(B, P + T, C)); dim=0 stacks them as more examples"
)
NOT_SHIFTED = (
    "targets at the input positions: position t predicts token t + 1, so the answer's first token is "
    "the target at the position *before* it (the <answer> token), not at its own position"
)
LOSS_ON_QUESTION = (
    "targets on the question too: the loss counts only the answer tokens (and <eos>); every position "
    "before the answer gets IGNORE (-100)"
)
LOSS_ON_PADDING = "targets on the padding: positions after <eos> get IGNORE (-100), not the <pad> token"
ZERO_NOT_IGNORE = (
    "0 where the loss should not count: 0 is a real token id (<pad>); F.cross_entropy skips "
    "ignore_index = -100 (IGNORE)"
)
IDS_KEEP_LAST = (
    "an input that keeps the last token (<eos>): the input is tokens[:-1] (nothing is predicted after <eos>)"
)


def reference_vlm_inputs(
    features: torch.Tensor, ids: torch.Tensor, projector: nn.Module, embedding: nn.Embedding
) -> torch.Tensor:
    """``[projector(features); embedding(ids)]`` along the sequence: (B, P, d_v), (B, T) -> (B, P + T, C)."""
    return torch.cat([projector(features), embedding(ids)], dim=1)


def reference_vlm_row(
    prompt: list[int], answer: list[int], max_len: int, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One training row: ``ids`` = (prompt + answer)[:-1] padded to ``max_len``, ``targets`` = the next
    token at the positions whose next token is part of the answer, IGNORE elsewhere."""
    tokens = [*prompt, *answer]
    ids = torch.full((max_len,), pad_id, dtype=torch.long)
    targets = torch.full((max_len,), IGNORE, dtype=torch.long)
    ids[: len(tokens) - 1] = torch.tensor(tokens[:-1])
    targets[len(prompt) - 1 : len(tokens) - 1] = torch.tensor(answer)
    return ids, targets


@lab_check("check_vlm_inputs")
def check_vlm_inputs(student_fn: Callable) -> None:
    """``vlm_inputs(features (B, P, d_v), ids (B, T), projector, embedding) -> (B, P + T, C)``."""
    g = torch.Generator().manual_seed(12)
    torch.manual_seed(12)
    for B, P, T, d in ((3, 4, 4, 6), (2, 4, 5, 8)):  # first P == T: a wrong axis gives a shape, not an error
        projector = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))  # d_v = C: a shape cannot tell
        embedding = nn.Embedding(20, d)
        features = torch.randn(B, P, d, generator=g)
        ids = torch.randint(0, 20, (B, T), generator=g)
        case = f"B={B}, P={P} image tokens, T={T} text tokens, width {d}"
        expected = reference_vlm_inputs(features, ids, projector, embedding)
        image, text = projector(features), embedding(ids)
        mistakes = {
            TEXT_FIRST: torch.cat([text, image], dim=1),
            NOT_PROJECTED: torch.cat([features, text], dim=1),
            PROJECTED_TWICE: torch.cat([image, projector(text)], dim=1),
        }
        got = call(student_fn, features, ids, projector, embedding, case=case)
        if isinstance(got, torch.Tensor) and got.dim() == 3 and got.shape[0] == 2 * B:
            raise CheckFailed(f"on {case}: {WRONG_AXIS} (got shape {tuple(got.shape)})")
        expect_close(got, expected, what="input sequence", case=case, mistakes=mistakes)
    got.sum().backward()
    expect_true(
        all(p.grad is not None for p in projector.parameters()),
        "the gradient must reach the projector (no .detach() or no_grad inside): stage 1 trains it",
    )


@lab_check("check_vlm_row")
def check_vlm_row(student_fn: Callable) -> None:
    """``vlm_row(prompt, answer, max_len, pad_id) -> (ids (max_len,), targets (max_len,))``."""
    pad = 0
    cases = (
        ("question 'what colour is the circle ?' -> 'red'", [5, 6, 7, 8, 9, 10, 2], [11, 4], 10),
        ("a caption row '<caption> a small red circle'", [3], [12, 13, 14, 15, 4], 8),
        ("a row with no padding", [5, 6, 2], [11, 4], 4),
    )
    for case, prompt, answer, max_len in cases:
        tokens = [*prompt, *answer]
        got = call(student_fn, list(prompt), list(answer), max_len, pad, case=case)
        expect_true(
            isinstance(got, tuple) and len(got) == 2,
            f"on {case}: return a pair (ids, targets), got {type(got).__name__}",
        )
        ids, targets = got
        want_ids, want_targets = reference_vlm_row(prompt, answer, max_len, pad)
        keep_last = torch.full((max_len,), pad, dtype=torch.long)
        keep_last[: min(len(tokens), max_len)] = torch.tensor(tokens[:max_len])
        expect_close(ids, want_ids, what="ids", case=case, mistakes={IDS_KEEP_LAST: keep_last})
        start, end = len(prompt), len(tokens)
        unshifted = torch.full((max_len,), IGNORE, dtype=torch.long)
        unshifted[start : min(end, max_len)] = torch.tensor(answer[: max_len - start])
        everywhere = torch.full((max_len,), IGNORE, dtype=torch.long)
        everywhere[: end - 1] = torch.tensor(tokens[1:])
        padded = want_targets.clone()
        padded[end - 1 :] = pad
        zeros = torch.where(want_targets == IGNORE, torch.zeros_like(want_targets), want_targets)
        mistakes = {NOT_SHIFTED: unshifted, LOSS_ON_QUESTION: everywhere, ZERO_NOT_IGNORE: zeros}
        if end - 1 < max_len:  # there is padding to get wrong
            mistakes[LOSS_ON_PADDING] = padded
        expect_close(targets, want_targets, what="targets", case=case, mistakes=mistakes)
