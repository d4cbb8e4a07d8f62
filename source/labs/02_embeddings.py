# %% [markdown]
# # Lab 02 · Word embeddings
# {{colab_badge}}
#
# **What you will build:** the three pieces of word2vec from chapter 02: the skip-gram pair
# generator, the negative-sampling loss, and cosine nearest neighbours to look at the result.
#
# Replace each `raise NotImplementedError` with your code, then run the check cell below it. A
# check prints a pass line, or an error that names the mistake with expected vs got. Use plain
# torch operations; `mmlab.models.sequence` holds the reference the checks compare with, so
# do not import from it.

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
import torch
import torch.nn.functional as F

from mmlab.checks.lab02 import check_nearest_neighbours, check_negative_sampling_loss, check_skipgram_pairs
from mmlab.device import seed_everything

seed_everything(0)

# %% [markdown]
# ## Exercise 1: skip-gram pairs
#
# For each position $i$ of the text (the centre) and each position $j$ with
# $1 \le |i - j| \le \text{window}$ inside the text (a context), emit the pair
# `(token_ids[i], token_ids[j])`. Order: centres left to right, and for each centre its contexts
# left to right. With `[10, 11, 12]` and `window=1`:
# `[(10, 11), (11, 10), (11, 12), (12, 11)]`.
#
# - The centre is not its own context ($j \ne i$), but the same id at another position is.
# - The window is inclusive: with `window=2` the words two positions away count.


# %%
def skipgram_pairs(token_ids: list[int], window: int) -> list[tuple[int, int]]:
    """(centre, context) id pairs within ``window`` positions, in order."""
    # BEGIN SOLUTION
    pairs = []
    for i, centre in enumerate(token_ids):
        for j in range(max(0, i - window), min(len(token_ids), i + window + 1)):
            if j != i:
                pairs.append((centre, token_ids[j]))
    return pairs
    # END SOLUTION


# %%
check_skipgram_pairs(skipgram_pairs)

# %% [markdown]
# ## Exercise 2: the negative-sampling loss
#
# For a centre vector $v_c$, the vector $u_o$ of its observed context and the vectors
# $u_{n_1}, \dots, u_{n_K}$ of $K$ noise words, with $\sigma(x) = 1 / (1 + e^{-x})$:
#
# $$\ell = -\log \sigma(u_o^\top v_c) - \sum_{k=1}^{K} \log \sigma(-u_{n_k}^\top v_c),$$
#
# averaged over the batch. Shapes: `centre` (B, d), `context` (B, d), `negatives` (B, K, d).
#
# - The noise words get $\sigma(-x)$: the model should say "no" to them.
# - Sum over the $K$ negatives, then take the mean over the batch.
# - $\log \sigma(x)$ computed as `torch.log(torch.sigmoid(x))` becomes $-\infty$ for large
#   negative $x$; `F.logsigmoid(x)` (or $-$`F.softplus(-x)`) is the stable form.


# %%
def negative_sampling_loss(
    centre: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor
) -> torch.Tensor:
    """Mean skip-gram negative-sampling loss of a batch."""
    # BEGIN SOLUTION
    positive = (centre * context).sum(-1)  # (B,)
    negative = torch.einsum("bkd,bd->bk", negatives, centre)  # (B, K)
    return -(F.logsigmoid(positive) + F.logsigmoid(-negative).sum(-1)).mean()
    # END SOLUTION


# %%
check_negative_sampling_loss(negative_sampling_loss)

# %% [markdown]
# ## Exercise 3: cosine nearest neighbours
#
# $$\cos(q, m_i) = \frac{q^\top m_i}{\lVert q \rVert\, \lVert m_i \rVert}$$
#
# Return the indices of the `k` rows of `matrix` (V, d) with the largest cosine similarity to
# `query` (d,), best first (a tensor of `k` ints).
#
# - Without dividing by the row lengths you rank by dot product, and long vectors (frequent
#   words) win whatever their direction.
# - `torch.topk` returns values and indices, sorted largest first.


# %%
def nearest_neighbours(query: torch.Tensor, matrix: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` most cosine-similar rows, best first."""
    # BEGIN SOLUTION
    sims = (matrix / matrix.norm(dim=1, keepdim=True)) @ (query / query.norm())  # (V,)
    return sims.topk(k).indices
    # END SOLUTION


# %%
check_nearest_neighbours(nearest_neighbours)

# %% [markdown]
# ## Going further
# Chapter 02 trains word vectors with exactly these pieces (`mmlab.models.sequence`). Try your
# functions there: build pairs with your `skipgram_pairs` and a larger `window`, and compare the
# nearest neighbours of `list` and `class` with window 1 and window 5. Which window finds words
# of the same kind (`list`, `tuple`), and which finds words of the same topic?
