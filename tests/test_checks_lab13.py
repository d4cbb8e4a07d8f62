"""Lab 13 checks: the right answers pass, each common mistake gets its own message, unfinished work says so."""

import math
from collections import Counter

import pytest
import torch
from check_support import assert_passes_and_unfinished_says_so, expect_message

from mmlab.checks import lab13

# ----------------------------------------------------------------------------- right answers


def cross_attention(x, memory, src_mask, layer, **flags):
    return lab13.reference_cross_attention(x, memory, src_mask, layer, **flags)


def beam_step(beam_scores, log_probs, k):
    return lab13.reference_beam_step(beam_scores, log_probs, k)


def length_normalised(total, length, alpha):
    return total / length**alpha


def clipped_matches(hyp, ref, n, clip=True, total_from="hyp"):
    h = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
    r = Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
    matches = sum(min(c, r[g]) if clip else (c if g in r else 0) for g, c in h.items())
    return matches, max(len(hyp if total_from == "hyp" else ref) - n + 1, 0)


def brevity_penalty(c, r):
    return 1.0 if c > r else math.exp(1 - r / c)


@pytest.mark.parametrize(
    ("check", "fn"),
    [
        (lab13.check_cross_attention, cross_attention),
        (lab13.check_beam_step, beam_step),
        (lab13.check_length_normalised, length_normalised),
        (lab13.check_clipped_matches, clipped_matches),
        (lab13.check_brevity_penalty, brevity_penalty),
    ],
)
def test_right_answers_pass_and_unfinished_says_so(check, fn, capsys):
    assert_passes_and_unfinished_says_so(check, fn, capsys)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (dict(mask="none"), lab13.NO_MASK),
        (dict(mask="inverted"), lab13.INVERTED_MASK),
        (dict(mask="queries"), lab13.QUERY_MASK),
        (dict(kv_from_memory=False), lab13.SELF_ATTENTION),
        (dict(scale=False), lab13.NO_SCALE),
        (dict(out_proj=False), lab13.NO_OUT_PROJ),
    ],
)
def test_cross_attention_mistakes_are_named(flags, message):
    expect_message(lab13.check_cross_attention, lambda *a: cross_attention(*a, **flags), message)


def test_attention_weights_returned_instead_of_output():
    def weights(x, memory, src_mask, layer):
        return torch.zeros(x.size(0), x.size(1), memory.size(1))

    expect_message(lab13.check_cross_attention, weights, "that is the attention weights")


def probabilities_summed(beam_scores, log_probs, k):
    V = log_probs.size(-1)
    total = beam_scores[:, None] + log_probs.exp()
    scores, index = total.view(-1).topk(k)
    return scores, index // V, index % V


def own_best_token(beam_scores, log_probs, k):
    best, token = log_probs.max(-1)
    return (beam_scores + best)[:k], torch.arange(k), token[:k]


def no_history(beam_scores, log_probs, k):
    V = log_probs.size(-1)
    scores, index = log_probs.view(-1).topk(k)
    return scores, index // V, index % V


def unsorted(beam_scores, log_probs, k):
    scores, beams, tokens = beam_step(beam_scores, log_probs, k)
    return scores.flip(0), beams.flip(0), tokens.flip(0)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (probabilities_summed, "probabilities added instead of log-probabilities"),
        (own_best_token, "each beam extended by its own best token"),
        (no_history, "the beam's score so far left out"),
        (unsorted, "not sorted best first"),
    ],
)
def test_beam_step_mistakes_are_named(fn, message):
    expect_message(lab13.check_beam_step, fn, message)


def test_length_penalty_mistakes_are_named():
    expect_message(lab13.check_length_normalised, lambda t, n, a: t * n**a, "multiplied by length ** alpha")
    expect_message(lab13.check_length_normalised, lambda t, n, a: t, "length penalty ignored")


def test_bleu_mistakes_are_named():
    expect_message(
        lab13.check_clipped_matches, lambda h, r, n: clipped_matches(h, r, n, clip=False), "not clipped"
    )
    expect_message(
        lab13.check_clipped_matches,
        lambda h, r, n: clipped_matches(h, r, n, total_from="ref"),
        "the total counted over the reference",
    )
    expect_message(
        lab13.check_brevity_penalty, lambda c, r: math.exp(1 - r / c), "brevity penalty on outputs longer"
    )
    expect_message(
        lab13.check_brevity_penalty, lambda c, r: 1.0 if c > r else math.exp(1 - c / r), "the lengths swapped"
    )
    expect_message(lab13.check_brevity_penalty, lambda c, r: 1.0, "no penalty for short outputs")


# ----------------------------------------------------------------------------- more typical mistakes
def _beam_divided_by_k(beam_scores, log_probs, k):
    V = log_probs.size(-1)
    scores, index = (beam_scores[:, None] + log_probs).view(-1).topk(k)
    return scores, index // k, index % V


def _beam_worst(beam_scores, log_probs, k):
    V = log_probs.size(-1)
    scores, index = (beam_scores[:, None] + log_probs).view(-1).topk(k, largest=False)
    return scores, index // V, index % V


def _ngrams_off_by_one(hyp, ref, n):
    h = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n))
    r = Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n))
    return sum(min(c, r[g]) for g, c in h.items()), max(len(hyp) - n, 0)


def _matches_as_sets(hyp, ref, n):
    h = {tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1)}
    r = {tuple(ref[i : i + n]) for i in range(len(ref) - n + 1)}
    return len(h & r), max(len(hyp) - n + 1, 0)


MORE_MISTAKES = [
    (lab13.check_cross_attention, lambda *a: cross_attention(*a, softmax_dim=-2), "softmax over the queries"),
    (lab13.check_cross_attention, lambda *a: cross_attention(*a, merge="reshape"), "transpose(1, 2)"),
    (lab13.check_cross_attention, lambda *a: cross_attention(*a, scale_by="hs"), "divided by the head size"),
    (lab13.check_cross_attention, lambda *a: cross_attention(*a, scale_by="C"), "model width"),
    (lab13.check_beam_step, _beam_divided_by_k, "divided by k"),
    (lab13.check_beam_step, _beam_worst, "the k worst"),
    (lab13.check_length_normalised, lambda t, n, a: t / n, "alpha ignored"),
    (lab13.check_length_normalised, lambda t, n, a: t / (n * a) if a else t, "length * alpha"),
    (lab13.check_clipped_matches, _ngrams_off_by_one, "last n-gram"),
    (lab13.check_clipped_matches, _matches_as_sets, "counted once"),
    (lab13.check_brevity_penalty, lambda c, r: 1.0 if c > r else c / r, "without the exp"),
    (lab13.check_brevity_penalty, lambda c, r: 1.0 if c > r else math.exp(r / c - 1), "exponent's sign"),
]


@pytest.mark.parametrize(("check", "wrong", "message"), MORE_MISTAKES)
def test_more_mistakes_are_named(check, wrong, message):
    expect_message(check, wrong, message)


@pytest.mark.parametrize(
    ("check", "wrong", "message"),
    [
        (lab13.check_length_normalised, lambda t, n, a: (t / n) ** a if a else t, "average log-probability"),
        (
            lab13.check_clipped_matches,
            lambda h, r, n: (clipped_matches(h, r, n)[0], len(h)),
            "number of words",
        ),
        (
            lab13.check_brevity_penalty,
            lambda c, r: 1.0 if c > r else math.exp(1 - r // c),
            "integer division",
        ),
    ],
)
def test_even_more_mistakes_are_named(check, wrong, message):
    expect_message(check, wrong, message)
