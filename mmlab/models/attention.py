"""Attention, written out: scaled dot-product attention, masks, multi-head attention, rotary positions (chapter 03 and every Transformer after it)
and a key/value cache.

Conventions used across the course:

* tensors are ``(B, T, C)`` outside attention and ``(B, nh, T, hs)`` inside (``C = nh * hs``);
* a mask is boolean, broadcastable to ``(B, nh, T_q, T_k)``, **True where attending is allowed**
  (the same meaning as a boolean ``attn_mask`` of ``F.scaled_dot_product_attention``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "KVCache",
    "MultiHeadAttention",
    "RotaryEmbedding",
    "causal_mask",
    "padding_mask",
    "record_attention",
    "scaled_dot_product_attention",
]


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q K^T / sqrt(d_k)) V, returning the output and the attention weights.

    Args:
        q: queries ``(..., T_q, d_k)``; k: keys ``(..., T_k, d_k)``; v: values ``(..., T_k, d_v)``.
        mask: boolean, broadcastable to ``(..., T_q, T_k)``, True where attending is allowed.
        dropout_p: dropout on the weights (training only).
        scale: defaults to ``1 / sqrt(d_k)``, which keeps the scores' variance near 1 so the
            softmax does not saturate as ``d_k`` grows.
    """
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., T_q, T_k)
    if mask is not None:
        # -inf before the softmax gives exactly zero weight; masking after it would not renormalise.
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights  # (..., T_q, d_v), (..., T_q, T_k)


def causal_mask(t_q: int, t_k: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean ``(t_q, t_k)`` mask letting query i see keys up to its own position.

    With a cache, the ``t_q`` new queries are the *last* ``t_q`` positions of ``t_k`` keys, so
    query i sits at absolute position ``t_k - t_q + i``.
    """
    t_k = t_q if t_k is None else t_k
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(diagonal=t_k - t_q)


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` with 1/True for real tokens and 0/False for padding -> ``(B, 1, 1, T)`` key mask."""
    return attention_mask.bool()[:, None, None, :]


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE, Su et al. 2021): rotate each pair of query/key channels by
    an angle proportional to the position, so q·k depends on the *relative* offset only.

    Uses the "rotate half" pairing of GPT-NeoX and LLaMA (channel i pairs with i + hs/2).
    """

    def __init__(self, head_dim: int, max_len: int = 2048, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary embedding needs an even head size, got {head_dim}")
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2).float() / head_dim)  # (hs/2,)
        angles = torch.outer(torch.arange(max_len).float(), inv_freq)  # (max_len, hs/2)
        angles = torch.cat([angles, angles], dim=-1)  # (max_len, hs)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)
        self.max_len = max_len

    @staticmethod
    def rotate_half(x: torch.Tensor) -> torch.Tensor:
        first, second = x.chunk(2, dim=-1)
        return torch.cat([-second, first], dim=-1)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Rotate ``x`` of shape ``(B, nh, T, hs)`` whose first position is ``start``."""
        end = start + x.size(-2)
        if end > self.max_len:
            raise ValueError(f"position {end - 1} is beyond the rotary table's length {self.max_len}")
        cos, sin = self.cos[start:end].to(x.dtype), self.sin[start:end].to(x.dtype)
        return x * cos + self.rotate_half(x) * sin


class KVCache:
    """Keys and values of the tokens seen so far, for one attention layer.

    During generation each new token only needs its own query; its keys and values are appended
    here instead of recomputing those of the whole prefix at every step.
    """

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None  # (B, nh, T, hs)
        self.v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.k is None else self.k.size(-2)

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the new ``(B, nh, T_new, hs)`` keys and values along the time axis; return all."""
        self.k = k if self.k is None else torch.cat([self.k, k], dim=-2)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=-2)
        return self.k, self.v


class MultiHeadAttention(nn.Module):
    """Multi-head attention: project to ``nh`` heads, attend in each, concatenate, project back.

    Self-attention by default; pass ``context`` for cross-attention (queries from ``x``, keys and
    values from ``context``). ``fast=False`` is the written-out version (chapter 03), which builds
    its masks and can keep its attention map; ``fast=True`` computes the same function with
    ``F.scaled_dot_product_attention`` (fused kernels). ``fused=True`` (with ``fast``) is the
    production path: the query, key and value weights of self-attention stacked in one
    ``qkv_proj`` (as GPT-2's ``c_attn``: one matrix multiply, one tensor for the optimizer), and
    ``is_causal=True`` instead of a mask when there is no padding, which lets PyTorch pick its
    flash kernels (``separate_projections`` reads such a model in the three-projection layout). It is the same function; only the floating-point rounding differs, which is
    enough to change a training run's later digits, so the chapters keep ``fused=False`` and their
    saved results, and the benchmarks and GPU presets turn it on.

    ``n_kv_heads`` < ``n_heads`` is grouped-query attention (GQA, Llama 2 70B and later): groups of
    ``n_heads // n_kv_heads`` query heads share one key/value head, which shrinks the key/value
    projections and the KV cache by that factor.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        causal: bool = False,
        fast: bool = False,
        rotary: RotaryEmbedding | None = None,
        d_context: int | None = None,
        n_kv_heads: int | None = None,
        fused: bool = False,
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        n_kv_heads = n_kv_heads or n_heads
        if n_heads % n_kv_heads:
            raise ValueError(f"n_heads={n_heads} is not divisible by n_kv_heads={n_kv_heads}")
        self.n_heads, self.n_kv_heads, self.head_dim = n_heads, n_kv_heads, d_model // n_heads
        d_kv = n_kv_heads * self.head_dim
        self.fused = fast and fused
        self.projection_sizes = (d_model, d_kv, d_kv)  # queries, keys, values
        if self.fused:
            if d_context not in (None, d_model):
                raise ValueError(
                    "fused=True stacks the projections of self-attention; cross-attention keeps three"
                )
            self.qkv_proj = nn.Linear(d_model, d_model + 2 * d_kv, bias=bias)  # stacked, as GPT-2's c_attn
        else:
            d_context = d_context or d_model
            self.q_proj = nn.Linear(d_model, d_model, bias=bias)
            self.k_proj = nn.Linear(d_context, d_kv, bias=bias)
            self.v_proj = nn.Linear(d_context, d_kv, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = dropout
        self.causal, self.fast, self.rotary = causal, fast, rotary

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        return x.view(B, T, C // self.head_dim, self.head_dim).transpose(1, 2)  # (B, nh, T, hs)

    def _project(self, x: torch.Tensor, context: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """Queries, keys and values ``(B, T, C)``, ``(B, S, C_kv)`` x 2."""
        if self.fused:
            if context is not None:
                raise ValueError("a fused attention layer attends to its own input only (no context)")
            return self.qkv_proj(x).split(self.projection_sizes, dim=-1)  # one (C, C + 2 C_kv) matmul
        source = x if context is None else context
        return self.q_proj(x), self.k_proj(source), self.v_proj(source)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Attend from ``x`` ``(B, T, C)`` to itself (or to ``context`` ``(B, S, C_ctx)``).

        ``mask`` (True = may attend) is combined with the causal mask when the layer is causal.
        With ``kv_cache`` (self-attention only), ``x`` holds only the new tokens.
        """
        B, T, C = x.shape
        q, k, v = (self._heads(t) for t in self._project(x, context))  # (B, nh, T, hs), (B, nkv, S, hs) x 2
        start = kv_cache.length if kv_cache is not None else 0
        if self.rotary is not None:
            q, k = self.rotary(q, start), self.rotary(k, start)
        if kv_cache is not None:
            k, v = kv_cache.append(k, v)  # (B, nkv, start + T, hs): the cache holds the shared heads
        if self.n_kv_heads != self.n_heads:  # GQA: each key/value head serves a group of query heads
            group = self.n_heads // self.n_kv_heads
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)  # (B, nh, S, hs)
        recording = _recording(self)
        use_sdpa = self.fast and recording is None  # PyTorch's kernel, unless the maps are recorded
        # Fused, causal, no padding, a square of scores: the kernel needs no mask at all.
        is_causal = use_sdpa and self.fused and self.causal and mask is None and start == 0 and T > 1
        if self.causal and not is_causal:
            causal = causal_mask(T, k.size(-2), device=x.device)
            mask = causal if mask is None else mask & causal
        dropout_p = self.dropout if self.training else 0.0
        if use_sdpa:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal
            )
        else:
            y, weights = scaled_dot_product_attention(q, k, v, mask=mask, dropout_p=dropout_p)
            if recording is not None:
                recording[self] = weights.detach()
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble the heads side by side
        return self.out_proj(y)


def separate_projections(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` with every fused layer's ``qkv_proj`` split into ``q_proj``,
    ``k_proj`` and ``v_proj``: the layout of the written-out path, which the exports read."""
    state = model.state_dict()
    for name, layer in model.named_modules():
        if isinstance(layer, MultiHeadAttention) and layer.fused:
            prefix = f"{name}." if name else ""
            for kind in ("weight", "bias"):
                stacked = state.pop(f"{prefix}qkv_proj.{kind}", None)
                if stacked is not None:
                    for part, tensor in zip("qkv", stacked.split(layer.projection_sizes), strict=True):
                        state[f"{prefix}{part}_proj.{kind}"] = tensor
    return state


_local = threading.local()  # each thread's active recordings (a demo serves requests in threads)


def _recording(layer: nn.Module) -> dict[nn.Module, torch.Tensor] | None:
    """The innermost recording of this thread that watches ``layer``, if any."""
    for layers, weights in reversed(getattr(_local, "stack", [])):
        if layer in layers:
            return weights
    return None


@contextmanager
def record_attention(
    model: nn.Module, layers: Iterable[MultiHeadAttention] | None = None
) -> Iterator[list[torch.Tensor]]:
    """Collect every attention map computed inside the block, in layer order.

    Only calls made by this thread are recorded, so requests served in parallel (a demo answering
    several users) each get their own maps; the model itself is not changed. ``layers`` restricts
    the recording to some of the model's attention layers (default: all of them).

    Example::

        with record_attention(model) as maps:
            model(tokens)
        maps[0].shape  # (B, nh, T, T) for the first layer
    """
    chosen = (
        list(layers)
        if layers is not None
        else [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    )
    maps: list[torch.Tensor] = []
    weights: dict[nn.Module, torch.Tensor] = {}
    entry = (set(chosen), weights)
    stack = _local.__dict__.setdefault("stack", [])
    stack.append(entry)
    try:
        yield maps
    finally:
        stack.remove(entry)
        maps.extend(weights[layer] for layer in chosen if layer in weights)
