# %% [markdown]
# # Lab 03 · Attention, masks and positions
# {{colab_badge}}
#
# **What you will build:** the three pieces at the heart of chapter 03, from scratch: scaled dot-product
# attention with a mask, the causal mask, and sinusoidal position encodings. Each exercise is followed by a
# check that compares your function with the course's reference and names the mistake if there is one.

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

from mmlab.checks.lab03 import check_attention, check_causal_mask, check_sinusoidal_positions
from mmlab.device import get_device, seed_everything

seed_everything(0)
print(f"device: {get_device()}")

# %% [markdown]
# ## Exercise 1: scaled dot-product attention
#
# $$\mathrm{attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V$$
#
# - `q` has shape `[..., T_q, d]`, `k` has shape `[..., T_k, d]`, `v` has shape `[..., T_k, d_v]`; the `...`
#   are any leading (batch, head) dimensions. $d_k$ is the last dimension of `q`.
# - The softmax turns each query's row of scores into weights over the keys.
# - `mask` (optional) is boolean, broadcastable to `[..., T_q, T_k]`, **True where attending is allowed**.
#   Where it is False, the score must become $-\infty$ *before* the softmax, so that key gets exactly zero
#   weight.
# - Return the output only, of shape `[..., T_q, d_v]`.
#
# Hints: `k.transpose(-2, -1)`, `scores.masked_fill(~mask, float("-inf"))`, `scores.softmax(dim=...)`.


# %%
def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    # BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1) @ v  # (..., T_q, d_v)
    # END SOLUTION


# %%
check_attention(attention)

# %% [markdown]
# ## Exercise 2: the causal mask
#
# A language model predicts token $t+1$ from tokens $0..t$, so position $t$ may attend to positions $\le t$
# only. Write `causal_mask(T)`: a boolean `[T, T]` tensor, True on and below the diagonal (row = query,
# column = key). For `T = 3`:
#
# ```
# [[ True, False, False], [ True,  True, False], [ True,  True,  True]]
# ```


# %%
def causal_mask(T: int) -> torch.Tensor:
    # BEGIN SOLUTION
    return torch.ones(T, T, dtype=torch.bool).tril()
    # END SOLUTION


# %%
check_causal_mask(causal_mask)

# %% [markdown]
# ## Exercise 3: sinusoidal positions
#
# Attention does not know where a token sits. "Attention Is All You Need" adds to token $t$ a vector of
# sines and cosines at different frequencies:
#
# $$PE_{t,\,2i} = \sin\!\left(\frac{t}{10000^{2i/d}}\right), \qquad
# PE_{t,\,2i+1} = \cos\!\left(\frac{t}{10000^{2i/d}}\right)$$
#
# where $t = 0, \dots, T-1$ is the position, $d$ the width (even) and $i = 0, \dots, d/2 - 1$ the index of a
# (sin, cos) pair: dimensions $2i$ and $2i+1$ share one frequency. Return a `[T, d]` float tensor.


# %%
def sinusoidal_positions(T: int, d: int) -> torch.Tensor:
    # BEGIN SOLUTION
    t = torch.arange(T, dtype=torch.float32)[:, None]  # (T, 1)
    angles = t / 10000 ** (torch.arange(0, d, 2, dtype=torch.float32) / d)  # (T, d/2)
    table = torch.zeros(T, d)
    table[:, 0::2] = angles.sin()
    table[:, 1::2] = angles.cos()
    return table
    # END SOLUTION


# %%
check_sinusoidal_positions(sinusoidal_positions)

# %% [markdown]
# ## Going further
#
# - Compare your `attention` with `torch.nn.functional.scaled_dot_product_attention` on the same inputs.
#   Note that its boolean `attn_mask` means the same as yours (True = may attend), while
#   `nn.MultiheadAttention`'s means the opposite.
# - Plot `sinusoidal_positions(64, 64)` with `plt.imshow`: low dimensions change fast with $t$, high ones
#   slowly.
# - Remove the $1/\sqrt{d_k}$ from your attention and watch `check_attention` name the mistake; then
#   measure, as chapter 03 does, how the largest softmax weight grows with $d_k$ without it.
