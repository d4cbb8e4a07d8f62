"""The Transformer: position encodings, the block (attention + MLP, residuals, LayerNorm) and a stack.

One implementation serves the whole course: an encoder (chapter 03, BERT, the ViT) when
``causal=False``, a decoder (GPT) when ``causal=True``, and a fusion model's text tower when
``cross_attention=True``. ``norm_first`` picks pre-LN (GPT-2, ViT: LayerNorm inside the residual
branch, stable to train deep) or post-LN (the original Transformer and BERT: LayerNorm after the
residual sum), so pretrained BERT and GPT-2 weights map onto these modules one to one.

The same config also builds the "modern" (Llama) block of chapter 06: ``norm="rms"`` (RMSNorm),
``activation="swiglu"`` (a gated feed-forward), ``positions="rotary"`` with a ``rope_theta`` base,
grouped-query attention (``n_kv_heads``) and ``bias=False``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mmlab.models.attention import KVCache, MultiHeadAttention, RotaryEmbedding

__all__ = [
    "FeedForward",
    "RMSNorm",
    "SwiGLU",
    "LearnedPositions",
    "SinusoidalPositions",
    "Transformer",
    "TransformerBlock",
    "TransformerConfig",
    "sinusoidal_table",
]

Activation = Literal["gelu", "gelu_tanh", "relu", "swiglu"]
Norm = Literal["layer", "rms"]
Positions = Literal["sinusoidal", "learned", "rotary", "none"]


@dataclass
class TransformerConfig:
    """Shape and flavour of a Transformer stack.

    Attributes:
        d_model: width C. n_heads: attention heads (C must divide by it). n_layers: blocks.
        n_kv_heads: key/value heads for grouped-query attention (default n_heads: plain multi-head).
        d_ff: hidden width of the MLP (default 4 * d_model; for SwiGLU, Llama's 2/3 of that,
            rounded up to a multiple of 8, which keeps the parameter count about the same).
        max_len: longest sequence the position encoding covers.
        positions: "sinusoidal" (fixed, added), "learned" (a table, added), "rotary" (rotates
            queries and keys inside attention) or "none" (the model sees a bag of tokens).
        rope_theta: the base of the rotary angles (10,000 in the RoPE paper and Llama 2; Llama 3
            uses 500,000 for longer contexts).
        causal: each position attends only to itself and earlier positions (a decoder).
        cross_attention: each block also attends to a ``context`` sequence (e.g. image patches).
        d_context: width of that context (default d_model).
        norm_first: pre-LN (True) or post-LN (False). final_norm: LayerNorm after the last block
            (pre-LN stacks need it; post-LN stacks already end normalised).
        norm: "layer" (LayerNorm: subtract the mean, divide by the standard deviation, scale and
            shift) or "rms" (RMSNorm, Llama: divide by the root mean square and scale only).
        activation: "gelu" (BERT), "gelu_tanh" (GPT-2), "relu" (the 2017 Transformer) or
            "swiglu" (Llama: a SiLU-gated feed-forward with three matrices).
        dropout: on attention weights, residual branches and embeddings.
        bias: biases in linear layers. layer_norm_eps: LayerNorm (or RMSNorm) epsilon.
        fast: use ``F.scaled_dot_product_attention`` instead of the written-out attention.
        fused: with ``fast``, the production path (one QKV matrix multiply, ``is_causal``): same
            function, different float rounding (see ``MultiHeadAttention``).
    """

    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    n_kv_heads: int | None = None
    d_ff: int | None = None
    max_len: int = 256
    positions: Positions = "sinusoidal"
    rope_theta: float = 10000.0
    causal: bool = False
    cross_attention: bool = False
    d_context: int | None = None
    norm_first: bool = True
    final_norm: bool | None = None
    norm: Norm = "layer"
    activation: Activation = "gelu"
    dropout: float = 0.0
    bias: bool = True
    layer_norm_eps: float = 1e-5
    fast: bool = False
    fused: bool = False

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")
        if self.positions not in ("sinusoidal", "learned", "rotary", "none"):
            raise ValueError(f"unknown positions {self.positions!r}")
        if self.activation not in ("gelu", "gelu_tanh", "relu", "swiglu"):
            raise ValueError(f"unknown activation {self.activation!r}")
        if self.norm not in ("layer", "rms"):
            raise ValueError(f"norm must be 'layer' or 'rms', got {self.norm!r}")
        if self.n_kv_heads is not None and (self.n_kv_heads < 1 or self.n_heads % self.n_kv_heads):
            raise ValueError(f"n_heads={self.n_heads} must be divisible by n_kv_heads={self.n_kv_heads}")
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
            if self.activation == "swiglu":
                self.d_ff = 8 * math.ceil(2 * self.d_ff / 3 / 8)
        if self.final_norm is None:
            self.final_norm = self.norm_first


def sinusoidal_table(max_len: int, d_model: int) -> torch.Tensor:
    """The table of "Attention Is All You Need": PE[t, 2i] = sin(t / 10000^(2i/d)),
    PE[t, 2i+1] = cos(t / 10000^(2i/d))."""
    position = torch.arange(max_len, dtype=torch.float32)[:, None]  # (T, 1)
    frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: d_model // 2])
    return table  # (T, C)


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal position encodings, added to the token embeddings."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.register_buffer("table", sinusoidal_table(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        return x + self.table[start : start + x.size(1)]


class LearnedPositions(nn.Module):
    """A learned embedding per position (BERT, GPT-2), added to the token embeddings."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(max_len, d_model)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        positions = torch.arange(start, start + x.size(1), device=x.device)
        return x + self.embedding(positions)


class FeedForward(nn.Module):
    """The position-wise MLP: expand to d_ff, non-linearity, project back."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.d_model, config.d_ff, bias=config.bias)
        self.proj = nn.Linear(config.d_ff, config.d_model, bias=config.bias)
        self.activation = config.activation
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        if self.activation == "relu":
            h = F.relu(h)
        else:
            h = F.gelu(h, approximate="tanh" if self.activation == "gelu_tanh" else "none")
        return self.dropout(self.proj(h))


class SwiGLU(nn.Module):
    """Llama's feed-forward: ``down(silu(gate(x)) * up(x))``. The SiLU of one projection decides,
    per hidden unit, how much of the other passes (a gated linear unit, Shazeer 2020)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.d_model, config.d_ff, bias=config.bias)
        self.up_proj = nn.Linear(config.d_model, config.d_ff, bias=config.bias)
        self.down_proj = nn.Linear(config.d_ff, config.d_model, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.gate_proj(x)) * self.up_proj(x)  # (B, T, d_ff)
        return self.dropout(self.down_proj(h))


class RMSNorm(nn.Module):
    """Root-mean-square normalisation (Zhang and Sennrich 2019; Llama): ``x / sqrt(mean(x^2) + eps)``
    times a learned gain. Unlike LayerNorm it neither subtracts the mean nor adds a shift."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()  # the mean of squares in fp32 even under bf16 autocast, as Llama does
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def make_norm(config: TransformerConfig) -> nn.Module:
    """The normalisation layer ``config.norm`` names, with ``config.layer_norm_eps``."""
    if config.norm == "rms":
        return RMSNorm(config.d_model, eps=config.layer_norm_eps)
    return nn.LayerNorm(config.d_model, eps=config.layer_norm_eps, bias=config.bias)


class TransformerBlock(nn.Module):
    """Self-attention, optional cross-attention, and an MLP, each wrapped in a residual connection
    with LayerNorm before (pre-LN) or after (post-LN) it."""

    def __init__(self, config: TransformerConfig, rotary: RotaryEmbedding | None = None) -> None:
        super().__init__()
        self.norm_first = config.norm_first
        self.attn = MultiHeadAttention(
            config.d_model,
            config.n_heads,
            config.dropout,
            config.bias,
            config.causal,
            config.fast,
            rotary,
            n_kv_heads=config.n_kv_heads,
            fused=config.fused,
        )
        self.norm1 = make_norm(config)
        if config.cross_attention:
            self.cross_attn = MultiHeadAttention(
                config.d_model,
                config.n_heads,
                config.dropout,
                config.bias,
                fast=config.fast,
                d_context=config.d_context,
            )
            self.norm_cross = make_norm(config)
        else:
            self.cross_attn = None
        self.mlp = SwiGLU(config) if config.activation == "swiglu" else FeedForward(config)
        self.norm2 = make_norm(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        """``x`` ``(B, T, C)`` -> ``(B, T, C)``; masks are True where attending is allowed."""
        if self.cross_attn is not None and context is None:
            raise ValueError("this block has cross-attention: pass context=(B, S, C_ctx)")

        def self_attention(h: torch.Tensor) -> torch.Tensor:
            return self.dropout(self.attn(h, mask=mask, kv_cache=kv_cache))

        def cross_attention(h: torch.Tensor) -> torch.Tensor:
            return self.dropout(self.cross_attn(h, context=context, mask=context_mask))

        if self.norm_first:
            x = x + self_attention(self.norm1(x))
            if self.cross_attn is not None:
                x = x + cross_attention(self.norm_cross(x))
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self_attention(x))
        if self.cross_attn is not None:
            x = self.norm_cross(x + cross_attention(x))
        return self.norm2(x + self.mlp(x))


class Transformer(nn.Module):
    """A stack of blocks over input vectors ``(B, T, C)``: adds positions, runs the blocks, and
    applies the final LayerNorm of pre-LN stacks. Token embeddings and output heads belong to the
    model that uses it (GPT, BERT, a classifier)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        head_dim = config.d_model // config.n_heads
        self.rotary = (
            RotaryEmbedding(head_dim, config.max_len, base=config.rope_theta)
            if config.positions == "rotary"
            else None
        )
        if config.positions == "sinusoidal":
            self.positions: nn.Module | None = SinusoidalPositions(config.max_len, config.d_model)
        elif config.positions == "learned":
            self.positions = LearnedPositions(config.max_len, config.d_model)
        else:
            self.positions = None
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(config, self.rotary) for _ in range(config.n_layers))
        self.norm = make_norm(config) if config.final_norm else None

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
        kv_caches: list[KVCache] | None = None,
    ) -> torch.Tensor:
        """``x`` ``(B, T, C)`` -> ``(B, T, C)``.

        Args:
            mask: key mask, True where attending is allowed (e.g. ``padding_mask(attention_mask)``).
            context, context_mask: what cross-attention attends to.
            kv_caches: one :class:`KVCache` per block for incremental decoding; ``x`` then holds
                only the new tokens, which sit after the cached ones.
        """
        start = kv_caches[0].length if kv_caches else 0
        if start + x.size(1) > self.config.max_len:
            raise ValueError(
                f"sequence of length {start + x.size(1)} is longer than max_len={self.config.max_len}"
            )
        if self.positions is not None:
            x = self.positions(x, start)
        x = self.dropout(x)
        for index, block in enumerate(self.blocks):
            cache = kv_caches[index] if kv_caches else None
            x = block(x, mask=mask, context=context, context_mask=context_mask, kv_cache=cache)
        return self.norm(x) if self.norm is not None else x
