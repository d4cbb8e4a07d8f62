# %% [markdown]
# # Lab 10 · Fusion operations
# {{colab_badge}}
#
# **What you will build:** the three ways chapter 10 joins a question and an image: a learned
# weighted sum, a concatenation, and one cross-attention step. Each exercise is followed by a check
# that names the usual mistakes. Finally your functions run inside a small fusion model.

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

import torch

from mmlab.checks.lab10 import check_concat_fusion, check_cross_attend, check_weighted_sum_fusion
from mmlab.device import seed_everything

seed_everything(0)

# %% [markdown]
# ## 1. Weighted-sum fusion
# Given $M$ features $f_1, \dots, f_M \in \mathbb{R}^{B \times d}$ (one per modality, same width
# $d$, batch size $B$) and learned logits $a \in \mathbb{R}^M$, return
# $F = \sum_{i=1}^{M} w_i f_i$ with $w = \operatorname{softmax}(a)$, shape $(B, d)$.
# The softmax makes the weights positive and sum to 1, whatever the logits.


# %%
def weighted_sum_fusion(features: list[torch.Tensor], weight_logits: torch.Tensor) -> torch.Tensor:
    """features: M tensors (B, d); weight_logits: (M,) -> (B, d)."""
    # BEGIN SOLUTION
    weights = weight_logits.softmax(dim=0)  # (M,)
    return (torch.stack(features, dim=0) * weights[:, None, None]).sum(dim=0)
    # END SOLUTION


# %%
check_weighted_sum_fusion(weighted_sum_fusion)

# %% [markdown]
# ## 2. Concatenation fusion
# Join features $f_i \in \mathbb{R}^{B \times d_i}$ side by side: $[f_1; f_2; \dots]$ of shape
# $(B, \sum_i d_i)$. Each example keeps its own row.


# %%
def concat_fusion(features: list[torch.Tensor]) -> torch.Tensor:
    """features: tensors (B, d_i) -> (B, sum of d_i)."""
    # BEGIN SOLUTION
    return torch.cat(features, dim=-1)
    # END SOLUTION


# %%
check_concat_fusion(concat_fusion)

# %% [markdown]
# ## 3. One cross-attention step
# The question tokens ask, the image patches answer. With text $X \in \mathbb{R}^{B \times T \times d}$
# ($T$ tokens) and image $Y \in \mathbb{R}^{B \times P \times d}$ ($P$ patches), and **no
# projections** (queries $Q = X$, keys and values $K = V = Y$):
#
# $$\operatorname{cross\_attend}(X, Y) = \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt{d}}\right) V \in \mathbb{R}^{B \times T \times d}.$$
#
# The softmax runs over the $P$ patches, so each text token gets a weighted average of patches.
# `image_mask` (optional, boolean $(B, P)$) is **True on real patches**: a patch marked False must get
# zero weight (set its score to $-\infty$ before the softmax).


# %%
def cross_attend(
    text: torch.Tensor, image: torch.Tensor, image_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """text (B, T, d) queries; image (B, P, d) keys and values; image_mask (B, P) True = real -> (B, T, d)."""
    # BEGIN SOLUTION
    scores = text @ image.transpose(-2, -1) / math.sqrt(text.size(-1))  # (B, T, P)
    if image_mask is not None:
        scores = scores.masked_fill(~image_mask[:, None, :], float("-inf"))
    return scores.softmax(dim=-1) @ image
    # END SOLUTION


# %%
check_cross_attend(cross_attend)

# %% [markdown]
# ## Where these go
# `mmlab.models.fusion` uses exactly these operations: `LateFusion` joins the question and image
# vectors with `concat_fusion` or `weighted_sum_fusion`, and `HybridFusion` runs cross-attention
# (with learned projections and several heads, from `mmlab.models.attention`) from question tokens to
# image regions. Chapter 10's table shows what each one can and cannot learn.
