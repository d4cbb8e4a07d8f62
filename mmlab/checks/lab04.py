"""Checks for lab 04: BERT's masking rule.

A correct ``mask_tokens`` is random, so it cannot be compared with the reference value by value.
The check runs it on a large batch and measures the rates the rule promises (15% of non-special
tokens chosen, of those 80% [MASK], 10% random, 10% kept), with tolerances several standard
errors wide, plus the exact properties (special tokens never chosen, -100 everywhere else, the
input not modified, the generator used). The common mistakes each get their own message.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mmlab.checks.framework import CheckFailed, call, expect_true, lab_check

__all__ = ["check_mask_tokens"]

VOCAB, MASK_ID = 1000, 4
SPECIAL_IDS = (0, 2, 3)  # [PAD], [CLS], [SEP]
B, T = 256, 64  # 16k tokens: the rates below are measured to about +-0.01

MASKED_SPECIAL = (
    "special tokens were chosen ([CLS], [SEP] or [PAD] changed or given a label): positions where "
    "special_mask is True must never be chosen; set their probability to 0 before drawing"
)
LABELS_EVERYWHERE = (
    "labels left on unmasked positions: a position that was not chosen must have label -100 (ignored by "
    "the loss); only the ~15% chosen positions keep their original id as label"
)
ALL_TOKENS_8010 = (
    "80/10/10 applied to all tokens instead of the chosen 15%: first choose 15% of the tokens, then split "
    "only those into 80% [MASK], 10% random, 10% unchanged"
)
ALL_MASKED = (
    "every chosen token became [MASK]: of the chosen tokens only 80% become [MASK], 10% get a random token "
    "and 10% stay unchanged (so the model cannot rely on [MASK] marking the positions to predict)"
)

CHOSE_THE_REST = (
    "the comparison the wrong way round (rand > p chooses 1 - p = 85% of the tokens): a token is chosen "
    "when rand < p"
)
RANDOM_OF_REST = (
    "the random tokens drawn as 10% of the remaining 20% (about 2% of the chosen tokens): the 20% that are "
    "not [MASK] split in half, 10% random and 10% unchanged (e.g. one draw u: u < 0.8 [MASK], "
    "0.8 <= u < 0.9 random)"
)


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (B, T), generator=g)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g)
    position = torch.arange(T)[None, :]
    ids[:, 0] = 2  # [CLS]
    ids[position >= lengths[:, None]] = 0  # [PAD]
    ids[torch.arange(B), lengths - 1] = 3  # [SEP] ends each sequence
    special = torch.isin(ids, torch.tensor(SPECIAL_IDS))
    return ids, special


def _rate(name: str, got: float, expected: float, tol: float, hint: str) -> None:
    expect_true(
        abs(got - expected) <= tol,
        f"{name} is {got:.3f}, expected {expected:.2f} +- {tol:.2f}. {hint}",
    )


@lab_check("check_mask_tokens")
def check_mask_tokens(mask_tokens: Callable) -> None:
    """``mask_tokens(input_ids, special_mask, vocab_size, mask_id, p=0.15, generator=None)``."""
    ids, special = _batch(0)
    original = ids.clone()
    out = call(mask_tokens, ids, special, VOCAB, MASK_ID, p=0.15, generator=torch.Generator().manual_seed(1),
               case="a batch (256, 64)")  # fmt: skip
    if not (isinstance(out, tuple) and len(out) == 2):
        raise CheckFailed(f"return a tuple (inputs, labels), got {type(out).__name__}")
    inputs, labels = out
    for name, value in (("inputs", inputs), ("labels", labels)):
        if not isinstance(value, torch.Tensor) or value.shape != ids.shape:
            raise CheckFailed(f"{name} should be a tensor of shape {tuple(ids.shape)}, got {value!r:.60}")
    expect_true(
        torch.equal(ids, original), "you modified input_ids in place: work on a copy (input_ids.clone())"
    )
    expect_true(
        labels.dtype == torch.long and inputs.dtype == torch.long, "inputs and labels must be integer ids"
    )

    normal = ~special
    changed = inputs != ids
    labelled = labels != -100
    # exact properties first: they identify the mistakes most directly
    labelled_share = labelled[normal].float().mean().item()
    if abs(labelled_share - 0.85) < 0.03:
        raise CheckFailed(f"{CHOSE_THE_REST} ({labelled_share:.0%} of the tokens were chosen)")
    mask_share_all = (inputs[normal] == MASK_ID).float().mean().item()
    if mask_share_all > 0.5:
        raise CheckFailed(f"{ALL_TOKENS_8010} ({mask_share_all:.0%} of all tokens became [MASK])")
    if labelled_share > 0.5:
        raise CheckFailed(f"{LABELS_EVERYWHERE} ({labelled_share:.0%} of the tokens have a label)")
    expect_true(not (changed & special).any() and not (labelled & special).any(), MASKED_SPECIAL)
    unlabelled_value = labels[~labelled & normal]
    expect_true(
        not (changed & ~labelled).any(),
        "some tokens were changed but have no label: every changed position must be predicted, so its "
        "label is the original id",
    )
    expect_true(
        torch.equal(labels[labelled], ids[labelled]),
        "at chosen positions the label must be the ORIGINAL token id (input_ids), not the replaced one",
    )
    expect_true(
        unlabelled_value.numel() > 0, "no position was left unchosen: choose only a fraction p of them"
    )

    # rates of the rule
    _rate("the fraction of non-special tokens chosen", labelled_share, 0.15, 0.02,
          "Choose each non-special token with probability p = 0.15.")  # fmt: skip
    chosen_inputs = inputs[labelled]
    chosen_original = ids[labelled]
    masked = (chosen_inputs == MASK_ID).float().mean().item()
    kept = (chosen_inputs == chosen_original).float().mean().item()
    if masked > 0.97:
        raise CheckFailed(ALL_MASKED)
    _rate(
        "the share of chosen tokens replaced by [MASK]",
        masked,
        0.8,
        0.04,
        "80% of the chosen tokens become [MASK].",
    )
    # a random token can equal the original by chance (1 in 1000 here): allowed for in the tolerance
    random_share = 1 - masked - kept
    if random_share < 0.05 and 0.14 < kept < 0.22:
        raise CheckFailed(f"{RANDOM_OF_REST} ({random_share:.1%} random, {kept:.0%} unchanged)")
    _rate(
        "the share of chosen tokens left unchanged",
        kept,
        0.1,
        0.03,
        "10% of the chosen tokens stay as they are.",
    )
    _rate("the share of chosen tokens given a random token", 1 - masked - kept, 0.1, 0.03,
          "10% of the chosen tokens get a random id drawn from [0, vocab_size).")  # fmt: skip
    random_ids = chosen_inputs[(chosen_inputs != MASK_ID) & (chosen_inputs != chosen_original)]
    expect_true(
        random_ids.numel() > 0 and int(random_ids.min()) >= 0 and int(random_ids.max()) < VOCAB,
        "random replacements must be ids in [0, vocab_size)",
    )
    expect_true(
        random_ids.unique().numel() > 50,
        f"the random replacements use only {random_ids.unique().numel()} distinct ids: draw each one "
        "uniformly from the whole vocabulary",
    )

    # p is a parameter, not a constant
    out = call(mask_tokens, ids, special, VOCAB, MASK_ID, p=0.4, generator=torch.Generator().manual_seed(2),
               case="p = 0.4")  # fmt: skip
    share = (out[1] != -100)[normal].float().mean().item()
    _rate("with p = 0.4, the fraction chosen", share, 0.4, 0.03, "Use the argument p, not a fixed 0.15.")

    # the generator makes the masks reproducible
    first = call(mask_tokens, ids, special, VOCAB, MASK_ID, generator=torch.Generator().manual_seed(5))
    second = call(mask_tokens, ids, special, VOCAB, MASK_ID, generator=torch.Generator().manual_seed(5))
    expect_true(
        torch.equal(first[0], second[0]) and torch.equal(first[1], second[1]),
        "two calls with equally seeded generators gave different masks: pass generator=generator to every "
        "random draw (torch.rand, torch.bernoulli, torch.randint)",
    )
    # and the masks must differ between seeds (not a fixed pattern)
    third = call(mask_tokens, ids, special, VOCAB, MASK_ID, generator=torch.Generator().manual_seed(6))
    expect_true(not torch.equal(first[1], third[1]), "the chosen positions do not depend on the random draw")
