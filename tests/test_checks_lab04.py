"""Lab 04 check: the right answer passes, each common masking mistake gets its own message."""

import re

import pytest
import torch

from mmlab.checks import lab04
from mmlab.checks.framework import CheckFailed
from mmlab.data.mlm import mask_tokens


def variant(kind):
    def fn(input_ids, special_mask, vocab_size, mask_id, p=0.15, generator=None):
        if kind == "todo":
            raise NotImplementedError
        shape = input_ids.shape
        probability = torch.full(shape, p)
        if kind != "special":
            probability = probability.masked_fill(special_mask, 0.0)
        chosen = torch.bernoulli(probability, generator=generator).bool()
        if kind == "flipped":  # rand > p: chooses 85% of the tokens
            chosen = (torch.rand(shape, generator=generator) > p) & ~special_mask
        if kind == "all_8010":
            chosen = ~special_mask
        inputs = input_ids.clone() if kind != "inplace" else input_ids
        labels = input_ids.clone()
        if kind != "labels_everywhere":
            labels[~chosen] = 0 if kind == "labels_zero" else -100
        u = torch.rand(shape, generator=generator)
        to_mask = chosen & (u < (1.0 if kind == "all_masked" else 0.8))
        to_random = chosen & (u >= 0.8) & (u < 0.9) & ~to_mask
        if kind == "random_of_rest":  # 10% of the remaining 20%, not half of them
            to_random = chosen & ~to_mask & (torch.rand(shape, generator=generator) < 0.1)
        inputs[to_mask] = mask_id
        random_ids = torch.randint(10 if kind == "few_ids" else vocab_size, shape, generator=generator)
        inputs[to_random] = random_ids[to_random]
        if kind == "label_replaced":
            labels[chosen] = inputs[chosen]
        if kind == "fixed_p":
            return mask_tokens(input_ids, special_mask, vocab_size, mask_id, 0.15, generator)
        return inputs, labels

    return fn


def test_reference_passes(capsys):
    assert lab04.check_mask_tokens(mask_tokens)
    assert "check_mask_tokens: all" in capsys.readouterr().out


def test_not_implemented_prints_one_line(capsys):
    assert not lab04.check_mask_tokens(variant("todo"))
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kind, message",
    [
        ("special", "special tokens were chosen"),
        ("labels_everywhere", "labels left on unmasked positions"),
        ("all_8010", "80/10/10 applied to all tokens instead of the chosen 15%"),
        ("all_masked", "every chosen token became [MASK]"),
        ("inplace", "modified input_ids in place"),
        ("fixed_p", "Use the argument p"),
        ("flipped", "comparison the wrong way round"),
        ("random_of_rest", "10% of the remaining"),
        ("labels_zero", "must have label -100"),
        ("label_replaced", "must be the ORIGINAL token id"),
        ("few_ids", "draw each one uniformly from the whole vocabulary"),
    ],
)
def test_mistakes_are_named(kind, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        lab04.check_mask_tokens(variant(kind))


def test_ignoring_the_generator_is_named():
    def no_generator(input_ids, special_mask, vocab_size, mask_id, p=0.15, generator=None):
        return mask_tokens(input_ids, special_mask, vocab_size, mask_id, p, None)

    with pytest.raises(CheckFailed, match="pass generator=generator"):
        lab04.check_mask_tokens(no_generator)
