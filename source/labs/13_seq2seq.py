# %% [markdown]
# # Lab 13 · Encoder-decoder: cross-attention, beam search and BLEU
# {{colab_badge}}
#
# Write the three pieces of chapter 13 that are easiest to get subtly wrong: the decoder's
# cross-attention step, one step of beam search with its length penalty, and BLEU's clipped n-gram
# precision and brevity penalty. After each exercise, run the check cell below it: it says whether
# your function is right, and if not, which common mistake it looks like. The last cells put your
# pieces together and compare them with the library versions.

# %%
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:  # a normal (not editable) install imports without restarting the runtime
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "mmlab @ git+{{repository}}"],
        check=True,
    )

# %%
import math
from collections import Counter

import torch

from mmlab.checks.lab13 import (
    check_beam_step,
    check_brevity_penalty,
    check_clipped_matches,
    check_cross_attention,
    check_length_normalised,
)
from mmlab.device import get_device, seed_everything
from mmlab.models.attention import MultiHeadAttention, padding_mask

seed_everything(0)
print("device:", get_device())

# %% [markdown]
# ## 1. The cross-attention step
#
# `cross_attention(x, memory, src_mask, layer)` takes the decoder states `x` `(B, T, C)`, the
# encoder output `memory` `(B, S, C)`, `src_mask` `(B, S)` (True for real source words, False for
# padding) and a `MultiHeadAttention` `layer`, and returns `(B, T, C)`:
#
# 1. queries from `x` (`layer.q_proj`), keys and values from `memory` (`layer.k_proj`, `layer.v_proj`),
#    split into `layer.n_heads` heads of size `hs = C // n_heads` (`layer._heads(t)` does the reshape to
#    `(B, nh, T, hs)`);
# 2. scores $QK^\top / \sqrt{hs}$, `(B, nh, T, S)`, with $-\infty$ wherever the *source* position is padding;
# 3. softmax over the source axis, times the values, heads side by side again `(B, T, C)`, then
#    `layer.out_proj`.


# %%
def cross_attention(
    x: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor, layer: MultiHeadAttention
) -> torch.Tensor:
    """Decoder states (B, T, C) attend to the encoder output (B, S, C); padding (src_mask False) ignored."""
    # BEGIN SOLUTION
    B, T, C = x.shape
    q = layer._heads(layer.q_proj(x))  # (B, nh, T, hs)
    k, v = layer._heads(layer.k_proj(memory)), layer._heads(layer.v_proj(memory))  # (B, nh, S, hs)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, nh, T, S)
    scores = scores.masked_fill(~src_mask[:, None, None, :], float("-inf"))
    y = scores.softmax(-1) @ v  # (B, nh, T, hs)
    return layer.out_proj(y.transpose(1, 2).reshape(B, T, C))
    # END SOLUTION


# %%
check_cross_attention(cross_attention)

# %% [markdown]
# Your function against the course's `MultiHeadAttention` called with `context=memory` (which
# computes the same thing):

# %%
layer = MultiHeadAttention(16, 4).eval()
x, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
src_mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
with torch.no_grad():
    reference = layer(x, context=memory, mask=padding_mask(src_mask))
    try:
        print(
            "largest difference:",
            (cross_attention(x, memory, src_mask, layer) - reference).abs().max().item(),
        )
    except NotImplementedError:
        print("finish exercise 1 first")

# %% [markdown]
# ## 2. One step of beam search
#
# `beam_step(beam_scores, log_probs, k)`: `beam_scores` `(k_in,)` holds each beam's summed
# log-probability so far, `log_probs` `(k_in, V)` the next-word log-probabilities of each beam.
# Return the `k` best continuations over **all** `k_in * V` of them, best first, as three tensors
# `(scores, beams, tokens)`, each `(k,)`: the new summed log-probability, the beam it extends and the
# word it adds. Hint: add, flatten, `topk`, then `//` and `%` by `V`.


# %%
def beam_step(
    beam_scores: torch.Tensor, log_probs: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k best (score, beam, token) continuations across all beams, best first."""
    # BEGIN SOLUTION
    V = log_probs.size(-1)
    total = beam_scores[:, None] + log_probs  # (k_in, V): log of a product of probabilities
    scores, index = total.view(-1).topk(k)
    return scores, index // V, index % V
    # END SOLUTION


# %%
check_beam_step(beam_step)

# %% [markdown]
# A finished hypothesis of $L$ words (`</s>` included) is ranked by
# `length_normalised(total, L, alpha)` $= \text{total} / L^{\alpha}$: with $\alpha = 0$ the shortest
# outputs win (every word adds a negative log-probability), larger $\alpha$ favours longer ones.


# %%
def length_normalised(total_log_prob: float, length: int, length_penalty: float) -> float:
    # BEGIN SOLUTION
    return total_log_prob / length**length_penalty
    # END SOLUTION


# %%
check_length_normalised(length_normalised)

# %% [markdown]
# ## 3. BLEU: clipped precision and the brevity penalty
#
# `clipped_matches(hypothesis, reference, n)` takes two word lists and returns `(matches, total)`:
# `total` is the number of n-grams of the hypothesis, `matches` counts them, but each distinct n-gram
# at most as many times as it occurs in the reference. `brevity_penalty(c, r)` is 1 when the
# hypothesis length `c` is greater than the reference length `r`, and $e^{1 - r/c}$ otherwise.


# %%
def clipped_matches(hypothesis: list[str], reference: list[str], n: int) -> tuple[int, int]:
    # BEGIN SOLUTION
    hyp = Counter(tuple(hypothesis[i : i + n]) for i in range(len(hypothesis) - n + 1))
    ref = Counter(tuple(reference[i : i + n]) for i in range(len(reference) - n + 1))
    return sum(min(count, ref[g]) for g, count in hyp.items()), max(len(hypothesis) - n + 1, 0)
    # END SOLUTION


def brevity_penalty(hyp_length: int, ref_length: int) -> float:
    # BEGIN SOLUTION
    return 1.0 if hyp_length > ref_length else math.exp(1 - ref_length / hyp_length)
    # END SOLUTION


# %%
check_clipped_matches(clipped_matches)
check_brevity_penalty(brevity_penalty)

# %% [markdown]
# Your pieces make corpus BLEU: sum the matches, totals and lengths over the sentences, then
# $\mathrm{BP} \cdot \exp(\frac14 \sum_n \log p_n)$. Compare with `sacrebleu`:

# %%
hypotheses = ["le chat noir est sur la table", "trois balles rouges sont sous le lit", "la tasse est"]
references = [
    "le chat noir est sur la table",
    "trois petites balles rouges sont sous le lit",
    "la tasse est sur la table",
]
try:
    matches, totals = [0] * 4, [0] * 4
    c = r = 0
    for h, ref in zip(hypotheses, references):
        for n in range(1, 5):
            m, t = clipped_matches(h.split(), ref.split(), n)
            matches[n - 1] += m
            totals[n - 1] += t
        c, r = c + len(h.split()), r + len(ref.split())
    yours = 100 * brevity_penalty(c, r) * math.exp(sum(math.log(m / t) for m, t in zip(matches, totals)) / 4)
    import sacrebleu

    library = sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none", smooth_method="none").score
    print(f"your BLEU {yours:.4f}, sacrebleu {library:.4f}")
    assert abs(yours - library) < 1e-6
except NotImplementedError:
    print("finish exercise 3 first")
