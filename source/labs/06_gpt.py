# %% [markdown]
# # Lab 06 · GPT: masks, sampling filters and the KV cache
# {{colab_badge}}
#
# Write the pieces of a GPT's generation loop yourself: the causal mask for a padded batch, top-k
# and top-p filtering, sampling with a temperature, and one cached decoding step; then two parts of
# Llama's block, RMSNorm and the SwiGLU feed-forward. After each
# exercise, run the check cell below it: it says whether your function is right, and if not, which
# common mistake it looks like.

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
import torch.nn.functional as F

from mmlab.checks.lab06 import (
    check_batch_causal_mask,
    check_cached_step,
    check_rms_norm,
    check_sample_token,
    check_swiglu,
    check_top_k_filter,
    check_top_p_filter,
)
from mmlab.device import get_device, seed_everything

seed_everything(0)
print("device:", get_device())

# %% [markdown]
# ## 1. The causal mask for a padded batch
#
# `batch_causal_mask(lengths, T)` takes `lengths` `(B,)`, the number of real tokens of each
# sequence (the rest, up to `T`, is padding), and returns a boolean `(B, T, T)` mask with
# `mask[b, i, j] = True` where query $i$ may attend to key $j$: $j \le i$ (no peeking at the future)
# and $j < \text{lengths}[b]$ (no attending to padding).


# %%
def batch_causal_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(B,) lengths -> (B, T, T) boolean mask, True where query i may attend to key j."""
    # BEGIN SOLUTION
    pos = torch.arange(T)
    causal = pos[None, :] <= pos[:, None]  # (T, T): key j <= query i
    real_keys = pos[None, :] < lengths[:, None]  # (B, T)
    return causal[None] & real_keys[:, None, :]  # (B, T, T)
    # END SOLUTION


# %%
check_batch_causal_mask(batch_causal_mask)

# %% [markdown]
# ## 2. Top-k filtering
#
# `top_k_filter(logits, k)`: for logits `(B, V)`, keep the `k` largest of each row and set the
# others to `-inf` (so their probability after the softmax is exactly 0). Do not change the input.
# Hint: `torch.topk(...).values[..., -1:]` is the k-th largest value of each row.


# %%
def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """(B, V) logits -> (B, V) logits with all but the k largest of each row at -inf."""
    # BEGIN SOLUTION
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, float("-inf"))
    # END SOLUTION


# %%
check_top_k_filter(top_k_filter)

# %% [markdown]
# ## 3. Top-p (nucleus) filtering
#
# `top_p_filter(logits, p)`: keep the smallest set of most likely tokens whose probability reaches
# `p`, **the token that crosses `p` included**, and set the rest to `-inf`. With probabilities
# $(0.5, 0.3, 0.15, 0.05)$ and $p = 0.7$ you keep the first two ($0.5 < 0.7 \le 0.8$). Work on
# probabilities (softmax), sorted in descending order; a token is dropped when the tokens before it
# already sum to `p`. Always keep the most likely token.


# %%
def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """(B, V) logits -> (B, V) logits outside the nucleus of mass p set to -inf."""
    # BEGIN SOLUTION
    probs, order = logits.softmax(-1).sort(dim=-1, descending=True)  # (B, V)
    drop = probs.cumsum(-1) - probs >= p  # the tokens before this one already reach p
    drop[..., 0] = False
    drop = drop.scatter(-1, order, drop)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))
    # END SOLUTION


# %%
check_top_p_filter(top_p_filter)

# %% [markdown]
# ## 4. Sampling with a temperature
#
# `sample_token(logits, temperature, generator=None)` returns token ids `(B, 1)`: the argmax of each
# row when `temperature == 0` (greedy), otherwise one draw from $\mathrm{softmax}(z / \tau)$ with
# `torch.multinomial(..., 1, generator=generator)`. Remember that `multinomial` wants
# probabilities, not logits.


# %%
def sample_token(
    logits: torch.Tensor, temperature: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(B, V) logits -> (B, 1) sampled token ids."""
    # BEGIN SOLUTION
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)
    probs = (logits / temperature).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator)
    # END SOLUTION


# %%
check_sample_token(sample_token)

# %% [markdown]
# ## 5. One cached decoding step
#
# During generation only the newest token is new. `cached_step(q_new, k_new, v_new, cache_k,
# cache_v)` gets that token's query, key and value, each `(B, nh, 1, hs)`, and the cached keys and
# values of the earlier tokens, `(B, nh, T, hs)`. It must
#
# 1. append `k_new` and `v_new` to the caches along the **time** axis, giving `(B, nh, T + 1, hs)`;
# 2. attend from `q_new` to all `T + 1` keys: $\mathrm{softmax}(q K^\top / \sqrt{hs})\, V$ (no mask
#    is needed: the new token is the last one, and may see everything before it);
# 3. return `(out, cache_k, cache_v)` with `out` of shape `(B, nh, 1, hs)`.
#
# The check also decodes a sequence token by token from an empty cache and compares with causal
# attention over the whole sequence at once.


# %%
def cached_step(
    q_new: torch.Tensor,
    k_new: torch.Tensor,
    v_new: torch.Tensor,
    cache_k: torch.Tensor,
    cache_v: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One decoding step with a key/value cache (see above for the shapes)."""
    # BEGIN SOLUTION
    cache_k = torch.cat([cache_k, k_new], dim=2)  # (B, nh, T + 1, hs)
    cache_v = torch.cat([cache_v, v_new], dim=2)
    weights = (q_new @ cache_k.transpose(-2, -1) / math.sqrt(q_new.size(-1))).softmax(-1)  # (B, nh, 1, T + 1)
    return weights @ cache_v, cache_k, cache_v
    # END SOLUTION


# %%
check_cached_step(cached_step)

# %% [markdown]
# ## 6. Llama's block: RMSNorm and SwiGLU
#
# Chapter 06's last section swaps GPT-2's block for Llama's. Write two of its parts.
#
# `rms_norm(x, weight, eps)` divides each vector (the last axis) by its root mean square and
# multiplies by a learned gain: $y = x / \sqrt{\mathrm{mean}(x^2) + \epsilon} \cdot w$. Unlike
# LayerNorm it neither subtracts the mean nor adds a shift.


# %%
def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """(..., C) -> (..., C): x / sqrt(mean(x^2) + eps) * weight, over the last axis."""
    # BEGIN SOLUTION
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight
    # END SOLUTION


# %%
check_rms_norm(rms_norm)

# %% [markdown]
# `swiglu(x, w_gate, w_up, w_down)` is the gated feed-forward: the SiLU of one projection (the
# gate) scales another (the up projection) unit by unit, and a third brings the result back to
# width $C$: $W_\text{down}\,(\mathrm{SiLU}(W_\text{gate} x) \odot W_\text{up} x)$. The weights are
# stored as `nn.Linear` stores them, `(out, in)`, so `x @ w_gate.T` is the gate.


# %%
def swiglu(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor) -> torch.Tensor:
    """(..., C) with w_gate, w_up (H, C) and w_down (C, H) -> (..., C)."""
    # BEGIN SOLUTION
    return (F.silu(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T
    # END SOLUTION


# %%
check_swiglu(swiglu)

# %% [markdown]
# ## Going further
#
# * `mmlab.models.gpt.GPT.generate_stream` puts these pieces together; compare your functions with
#   `mmlab.sampling` and `mmlab.models.attention.KVCache`.
# * With your `top_p_filter`, measure how many tokens the nucleus keeps at each position of a text
#   for the model of chapter 06: where is the model sure, and where not?
