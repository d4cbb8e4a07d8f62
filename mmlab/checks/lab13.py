"""Checks for lab 13: the cross-attention step, one beam-search step with its length penalty, and
BLEU's clipped n-gram precision and brevity penalty.

Signatures the lab asks for:

* ``cross_attention(x[B, T, C], memory[B, S, C], src_mask[B, S], layer) -> [B, T, C]``: queries from
  the decoder states ``x`` through ``layer.q_proj``, keys and values from the encoder output
  ``memory`` through ``layer.k_proj`` / ``layer.v_proj``, ``layer.n_heads`` heads, scores scaled by
  ``1 / sqrt(head size)``, source padding (``src_mask`` False) masked, then ``layer.out_proj``;
* ``beam_step(beam_scores[k], log_probs[k, V], k) -> (scores[k], beams[k], tokens[k])``: the k best
  continuations over all beams by summed log-probability, best first;
* ``length_normalised(total_log_prob, length, length_penalty) -> float``: ``total / length ** alpha``;
* ``clipped_matches(hypothesis, reference, n) -> (matches, total)`` on word lists;
* ``brevity_penalty(hyp_length, ref_length) -> float``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import torch

from mmlab.checks.framework import CheckFailed, call, expect_close, expect_true, lab_check
from mmlab.models.attention import MultiHeadAttention

__all__ = [
    "check_beam_step",
    "check_brevity_penalty",
    "check_clipped_matches",
    "check_cross_attention",
    "check_length_normalised",
    "reference_beam_step",
    "reference_cross_attention",
]


# ----------------------------------------------------------------------------- cross-attention
NO_MASK = "source padding not masked: keys where src_mask is False must get zero attention"
QUERY_MASK = "the mask applied to the queries (target positions) instead of the keys (source positions)"
SELF_ATTENTION = "self-attention: keys and values must come from the encoder output `memory`, not from `x`"
NO_SCALE = "scores not divided by sqrt(head size)"
INVERTED_MASK = "an inverted mask: src_mask is True for real tokens, which are the ones to attend to"
NO_OUT_PROJ = "the output projection layer.out_proj left out"
WRONG_SOFTMAX = (
    "a softmax over the queries (dim=-2): each target position's weights over the source keys must sum "
    "to 1, so take the softmax over the last axis"
)
HEADS_NOT_TRANSPOSED = (
    "heads merged with a plain reshape: (B, nh, T, hs) must become (B, T, nh, hs) first, "
    "y.transpose(1, 2).reshape(B, T, C)"
)
SCALE_BY_HS = "scores divided by the head size instead of its square root: divide by sqrt(head size)"
SCALE_BY_C = (
    "scores divided by sqrt(C), the model width: each head's scores are divided by sqrt(head size), "
    "hs = C / n_heads"
)


def reference_cross_attention(
    x: torch.Tensor,
    memory: torch.Tensor,
    src_mask: torch.Tensor,
    layer: MultiHeadAttention,
    *,
    mask: str = "keys",
    kv_from_memory: bool = True,
    scale: bool = True,
    out_proj: bool = True,
    softmax_dim: int = -1,
    merge: str = "transpose",
    scale_by: str = "sqrt_hs",
) -> torch.Tensor:
    """The right answer (defaults) and, through the flags, the common wrong ones: ``merge="reshape"``
    joins the heads without moving them next to the channels; ``scale_by`` "hs" or "C" divides the
    scores by the head size or by sqrt(model width)."""
    B, T, C = x.shape
    source = memory if kv_from_memory else x
    q = layer._heads(layer.q_proj(x))  # (B, nh, T, hs)
    k, v = layer._heads(layer.k_proj(source)), layer._heads(layer.v_proj(source))  # (B, nh, S, hs)
    scores = q @ k.transpose(-2, -1)  # (B, nh, T, S)
    if scale:
        scores = scores / {"sqrt_hs": math.sqrt(q.size(-1)), "hs": q.size(-1), "C": math.sqrt(C)}[scale_by]
    if mask == "keys":
        scores = scores.masked_fill(~src_mask[:, None, None, :], float("-inf"))
    elif mask == "inverted":
        scores = scores.masked_fill(src_mask[:, None, None, :], float("-inf"))
    elif mask == "queries":
        scores = scores.masked_fill(~src_mask[:, None, : scores.size(2), None], float("-inf"))
    y = scores.softmax(softmax_dim) @ v  # (B, nh, T, hs)
    y = y.transpose(1, 2).reshape(B, T, C) if merge == "transpose" else y.reshape(B, T, C)
    return layer.out_proj(y) if out_proj else y


@lab_check("cross_attention")
def check_cross_attention(student_fn: Callable) -> None:
    torch.manual_seed(0)
    layer = MultiHeadAttention(16, 4).eval()
    for B, T, S in ((2, 5, 5), (3, 4, 6)):
        x, memory = torch.randn(B, T, 16), torch.randn(B, S, 16)
        lengths = torch.tensor([S, 2, 3][:B])
        src_mask = torch.arange(S)[None, :] < lengths[:, None]  # (B, S)
        case = f"B={B}, T={T}, S={S}, source lengths {lengths.tolist()}"
        with torch.no_grad():
            got = call(student_fn, x, memory, src_mask, layer, case=case)
            expected = reference_cross_attention(x, memory, src_mask, layer)
            mistakes = {
                NO_MASK: reference_cross_attention(x, memory, src_mask, layer, mask="none"),
                INVERTED_MASK: reference_cross_attention(x, memory, src_mask, layer, mask="inverted"),
                NO_SCALE: reference_cross_attention(x, memory, src_mask, layer, scale=False),
                NO_OUT_PROJ: reference_cross_attention(x, memory, src_mask, layer, out_proj=False),
                WRONG_SOFTMAX: reference_cross_attention(x, memory, src_mask, layer, softmax_dim=-2),
                HEADS_NOT_TRANSPOSED: reference_cross_attention(x, memory, src_mask, layer, merge="reshape"),
                SCALE_BY_HS: reference_cross_attention(x, memory, src_mask, layer, scale_by="hs"),
                SCALE_BY_C: reference_cross_attention(x, memory, src_mask, layer, scale_by="C"),
            }
            if T == S:  # only then are these wrong answers computable with the same shapes
                mistakes[SELF_ATTENTION] = reference_cross_attention(
                    x, memory, src_mask, layer, kv_from_memory=False
                )
                mistakes[QUERY_MASK] = reference_cross_attention(x, memory, src_mask, layer, mask="queries")
        if isinstance(got, torch.Tensor) and got.shape == (B, T, S):
            raise CheckFailed(
                f"your result for {case} has shape {(B, T, S)}: that is the attention weights; "
                "multiply them by the values and apply layer.out_proj to get (B, T, C)"
            )
        expect_close(got, expected, what="cross-attention output", case=case, mistakes=mistakes)


# ----------------------------------------------------------------------------- beam step
PROBS_SUMMED = (
    "probabilities added instead of log-probabilities: a sequence's probability is a product, "
    "so its log is the sum of the log-probabilities"
)
NOT_RERANKED = (
    "each beam extended by its own best token: the k best must be chosen among all k x V continuations, "
    "so a strong beam may supply several and a weak one none"
)
NO_HISTORY = "the beam's score so far left out: add beam_scores[b] to every continuation of beam b"
NOT_SORTED = "the k best not sorted best first"
DIVIDED_BY_K = (
    "the flat index divided by k to find the beam: row b of the (k, V) table holds indices b * V ... "
    "b * V + V - 1, so beam = index // V and token = index % V"
)
WORST = "the k worst continuations (topk(largest=False) or an ascending sort): keep the k best"


def reference_beam_step(
    beam_scores: torch.Tensor, log_probs: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k best ``(score, beam, token)`` over all beams, best first."""
    V = log_probs.size(-1)
    total = beam_scores[:, None] + log_probs  # (k_in, V)
    scores, index = total.view(-1).topk(k)  # across all beams
    return scores, index // V, index % V


def _as_triple(got, case: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if not (isinstance(got, tuple) and len(got) == 3):
        raise CheckFailed(f"beam_step should return a tuple (scores, beams, tokens) for {case}, got {got!r}")
    return tuple(torch.as_tensor(g) for g in got)


@lab_check("beam_step")
def check_beam_step(student_fn: Callable) -> None:
    cases = [
        # beam 0 is far ahead: both of the best continuations come from it
        (torch.tensor([-0.1, -3.0]), torch.tensor([[0.5, 0.45, 0.05], [0.9, 0.05, 0.05]]).log(), 2),
        # probabilities vs log-probabilities rank these differently
        (
            torch.tensor([-0.2, -0.25, -5.0]),
            torch.tensor([[0.4, 0.3, 0.2, 0.1], [0.97, 0.01, 0.01, 0.01], [0.25, 0.25, 0.25, 0.25]]).log(),
            3,
        ),
        (
            torch.tensor([-1.0, -1.2, -1.3]),
            torch.randn(3, 6, generator=torch.Generator().manual_seed(0)).log_softmax(-1),
            3,
        ),
    ]
    for beam_scores, log_probs, k in cases:
        case = f"beam_scores={[round(s, 2) for s in beam_scores.tolist()]}, k={k}, V={log_probs.size(-1)}"
        got = _as_triple(call(student_fn, beam_scores.clone(), log_probs.clone(), k, case=case), case)
        scores, beams, tokens = reference_beam_step(beam_scores, log_probs, k)
        V = log_probs.size(-1)
        chosen = torch.stack([got[1].long(), got[2].long()], -1).tolist()
        wrong_sum = (beam_scores[:, None] + log_probs.exp()).view(-1).topk(k).indices
        own_best = [[b, int(log_probs[b].argmax())] for b in range(min(k, len(beam_scores)))]
        no_history = log_probs.view(-1).topk(k).indices
        flat = (beam_scores[:, None] + log_probs).view(-1)
        best_index = flat.topk(k).indices
        if chosen != torch.stack([beams, tokens], -1).tolist():
            if chosen == torch.stack([best_index // k, best_index % V], -1).tolist():
                raise CheckFailed(f"your beam_step for {case} looks like {DIVIDED_BY_K}.")
            worst = flat.topk(k, largest=False).indices
            for description, index in ((PROBS_SUMMED, wrong_sum), (NO_HISTORY, no_history), (WORST, worst)):
                if chosen == torch.stack([index // V, index % V], -1).tolist():
                    raise CheckFailed(f"your beam_step for {case} looks like {description}.")
            if chosen == own_best:
                raise CheckFailed(f"your beam_step for {case} looks like {NOT_RERANKED}.")
            if sorted(chosen) == sorted(torch.stack([beams, tokens], -1).tolist()):
                raise CheckFailed(f"your beam_step for {case}: {NOT_SORTED}.")
            raise CheckFailed(
                f"your beam_step for {case} chose (beam, token) {chosen}; expected "
                f"{torch.stack([beams, tokens], -1).tolist()}"
            )
        expect_close(
            got[0].float(),
            scores,
            what="scores",
            case=case,
            mistakes={PROBS_SUMMED: (beam_scores[:, None] + log_probs.exp()).view(-1)[beams * V + tokens]},
        )


MULTIPLIED = "the score multiplied by length ** alpha instead of divided: that favours short outputs"
NO_PENALTY = "the length penalty ignored: divide the summed log-probability by length ** alpha"
ALPHA_IGNORED = "alpha ignored (divided by the length itself): divide by length ** alpha"
LENGTH_TIMES_ALPHA = "a division by length * alpha: the penalty is a power, length ** alpha"
POWER_OF_AVERAGE = (
    "the average log-probability raised to the power alpha, (total / length) ** alpha: divide the total by "
    "length ** alpha"
)


@lab_check("length_normalised")
def check_length_normalised(student_fn: Callable) -> None:
    for total, length, alpha in ((-6.0, 3, 1.0), (-6.0, 4, 0.5), (-2.5, 5, 2.0), (-4.0, 2, 0.0)):
        case = f"total={total}, length={length}, alpha={alpha}"
        got = call(student_fn, total, length, alpha, case=case)
        if isinstance(got, complex) or (isinstance(got, torch.Tensor) and got.is_complex()):
            raise CheckFailed(
                f"your score for {case} is a complex number ({got}): a negative number raised to a fractional "
                f"power. That is {POWER_OF_AVERAGE}"
            )
        expected = torch.tensor(total / length**alpha)
        mistakes = {
            MULTIPLIED: torch.tensor(total * length**alpha),
            NO_PENALTY: torch.tensor(total),
            ALPHA_IGNORED: torch.tensor(total / length),
            LENGTH_TIMES_ALPHA: torch.tensor(total / (length * alpha)) if alpha else None,
            POWER_OF_AVERAGE: torch.tensor((total / length) ** alpha) if float(alpha).is_integer() else None,
        }
        expect_close(
            torch.as_tensor(got, dtype=torch.float64),
            expected.double(),
            what="score",
            case=case,
            mistakes=mistakes,
        )


# ----------------------------------------------------------------------------- BLEU
UNCLIPPED = (
    "n-gram counts not clipped: a hypothesis n-gram is credited at most as many times as it occurs in the "
    'reference ("the the the" against "the cat" has 1 matching unigram, not 3)'
)
TOTAL_WORDS = (
    "the total set to the number of words: precision divides by the number of hypothesis n-grams, "
    "len(hypothesis) - n + 1"
)
NGRAM_OFF_BY_ONE = (
    "the last n-gram left out: a list of L words holds L - n + 1 n-grams, range(len(words) - n + 1)"
)
AS_SETS = (
    "n-grams counted once each (sets): count how often each occurs (collections.Counter), then clip each "
    "count by the reference's"
)
WRONG_TOTAL = "the total counted over the reference's n-grams: precision divides by the hypothesis's n-grams"


def _ngrams(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


@lab_check("clipped_matches")
def check_clipped_matches(student_fn: Callable) -> None:
    cases = [
        ("the the the the", "the cat is on the mat", 1),
        ("le chat le chat le chat", "le chat est sur le lit", 2),
        ("trois balles rouges sont sous le lit", "trois petites balles rouges sont sous le lit", 2),
        ("a b", "a b c d", 3),
    ]
    for hyp, ref, n in cases:
        case = f"hypothesis {hyp!r}, reference {ref!r}, n={n}"
        got = call(student_fn, hyp.split(), ref.split(), n, case=case)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise CheckFailed(f"clipped_matches should return (matches, total) for {case}, got {got!r}")
        h, r = hyp.split(), ref.split()
        hc, rc = _ngrams(h, n), _ngrams(r, n)
        rc_short = _ngrams(r[:-1], n)  # what range(len(words) - n) sees
        expected = torch.tensor(
            [sum(min(c, rc[g]) for g, c in hc.items()), max(len(h) - n + 1, 0)], dtype=torch.float64
        )
        mistakes = {
            UNCLIPPED: torch.tensor(
                [sum(c for g, c in hc.items() if g in rc), expected[1]], dtype=torch.float64
            ),
            WRONG_TOTAL: torch.tensor([expected[0], max(len(r) - n + 1, 0)], dtype=torch.float64),
            NGRAM_OFF_BY_ONE: torch.tensor(
                [
                    sum(min(c, rc_short[g]) for g, c in _ngrams(h[:-1], n).items()),
                    max(len(h) - n, 0),
                ],
                dtype=torch.float64,
            ),
            AS_SETS: torch.tensor([len(set(hc) & set(rc)), expected[1]], dtype=torch.float64),
            TOTAL_WORDS: torch.tensor([expected[0], len(h)], dtype=torch.float64) if n > 1 else None,
        }
        expect_close(
            torch.tensor([float(g) for g in got], dtype=torch.float64),
            expected,
            what="(matches, total)",
            case=case,
            mistakes=mistakes,
        )


BP_ON_LONG = (
    "a brevity penalty on outputs longer than the reference: BP = 1 when the hypothesis is longer "
    "(long outputs are already punished by lower precision)"
)
BP_SWAPPED = "BP = exp(1 - c / r), the lengths swapped: it is exp(1 - r / c) with c the hypothesis length"
BP_NO_EXP = "the ratio c / r without the exp: BP = exp(1 - r / c) for a short hypothesis"
BP_SIGN = "the exponent's sign flipped (exp(r / c - 1) > 1 rewards short outputs): BP = exp(1 - r / c)"
BP_INTEGER = "r // c, an integer division: use r / c, so BP = exp(1 - r / c) falls smoothly"
BP_NONE = "no penalty for short outputs: BP = exp(1 - r / c) when the hypothesis is shorter (c <= r)"


@lab_check("brevity_penalty")
def check_brevity_penalty(student_fn: Callable) -> None:
    for c, r in ((10, 12), (12, 10), (5, 5), (3, 9), (20, 11)):
        case = f"hypothesis length {c}, reference length {r}"
        got = call(student_fn, c, r, case=case)
        expect_true(
            isinstance(got, (int, float, torch.Tensor)), f"brevity_penalty should return a number for {case}"
        )
        expected = torch.tensor(1.0 if c > r else math.exp(1 - r / c), dtype=torch.float64)
        mistakes = {
            BP_ON_LONG: torch.tensor(math.exp(1 - r / c), dtype=torch.float64),
            BP_SWAPPED: torch.tensor(1.0 if c > r else math.exp(1 - c / r), dtype=torch.float64),
            BP_NONE: torch.tensor(1.0, dtype=torch.float64),
            BP_NO_EXP: torch.tensor(1.0 if c > r else c / r, dtype=torch.float64),
            BP_SIGN: torch.tensor(1.0 if c > r else math.exp(r / c - 1), dtype=torch.float64),
            BP_INTEGER: torch.tensor(1.0 if c > r else math.exp(1 - r // c), dtype=torch.float64),
        }
        expect_close(
            torch.as_tensor(float(got), dtype=torch.float64),
            expected,
            what="brevity penalty",
            case=case,
            mistakes=mistakes,
        )
