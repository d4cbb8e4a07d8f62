"""A mini-GPT: token embeddings, a causal Transformer stack, and a tied output head.

The model predicts token ``t + 1`` from tokens ``<= t`` at every position at once (teacher
forcing), so one forward pass over ``T`` tokens gives ``T`` next-token losses. Generation feeds
its own samples back in, one token at a time; a key/value cache makes each step cost one token's
work instead of the whole prefix's.

The blocks come from :mod:`mmlab.models.transformer` (pre-LN, GELU-tanh, learned or rotary
positions), which is GPT-2's layout, so a model with learned positions exports one to one to a
``transformers`` ``GPT2LMHeadModel`` (:func:`export_to_gpt2`). The config's ``norm``,
``activation``, ``n_kv_head`` and ``rope_theta`` options turn the same model into Llama's block
(:func:`mmlab.models.llama.llama_style`, exported by :func:`mmlab.models.llama.export_to_llama`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mmlab.models.attention import KVCache, separate_projections
from mmlab.models.transformer import Transformer, TransformerConfig
from mmlab.sampling import sample_next, validate_sampling

__all__ = ["GPT", "GPTConfig", "export_to_gpt2", "next_token_loss"]


@dataclass
class GPTConfig:
    """Shape of a mini-GPT (names follow nanoGPT).

    Attributes:
        vocab_size: number of token ids V. block_size: longest context the model sees.
        n_layer, n_head, n_embd: depth, attention heads and width C.
        dropout: on embeddings, attention and residual branches (0 for small data runs).
        bias: biases in linear layers and LayerNorms' shift.
        positions: "learned" (GPT-2's table, exportable to transformers) or "rotary" (RoPE).
        rope_theta: base of the rotary angles (with positions="rotary").
        norm: "layer" (LayerNorm, GPT-2) or "rms" (RMSNorm, Llama).
        activation: "gelu_tanh" (GPT-2's MLP), "gelu" (exact GELU, nanoGPT's choice, and about twice
            as fast as the tanh form on a CPU) or "swiglu" (Llama's gated feed-forward).
        n_kv_head: key/value heads (grouped-query attention); None means n_head.
        d_ff: the feed-forward's hidden width (None: 4 * n_embd, or about 2/3 of it for SwiGLU).
        tie_weights: the output head reuses the token embedding matrix (fewer parameters, and the
            same vector space for reading and writing tokens).
        layer_norm_eps: LayerNorm (or RMSNorm) epsilon (GPT-2 uses 1e-5).
        fast: PyTorch's fused attention kernel (``F.scaled_dot_product_attention``); False runs
            chapter 03's written-out attention (same function, slower).
        fused: the production attention path (one QKV matrix multiply, ``is_causal``): the same
            function with different float rounding, so it is off in the chapters (their saved
            results stay reproducible) and on in the benchmarks and GPU presets.
    """

    vocab_size: int = 128
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    positions: Literal["learned", "rotary"] = "learned"
    rope_theta: float = 10000.0
    norm: Literal["layer", "rms"] = "layer"
    activation: Literal["gelu_tanh", "gelu", "swiglu"] = "gelu_tanh"
    n_kv_head: int | None = None
    d_ff: int | None = None
    tie_weights: bool = True
    layer_norm_eps: float = 1e-5
    fast: bool = True
    fused: bool = False

    def __post_init__(self) -> None:
        if self.positions not in ("learned", "rotary"):
            raise ValueError(f"positions must be 'learned' or 'rotary', got {self.positions!r}")
        if self.activation not in ("gelu_tanh", "gelu", "swiglu"):
            raise ValueError(f"activation must be 'gelu_tanh', 'gelu' or 'swiglu', got {self.activation!r}")
        if self.vocab_size < 1 or self.block_size < 1:
            raise ValueError(
                f"vocab_size and block_size must be >= 1, got {self.vocab_size}, {self.block_size}"
            )

    def transformer_config(self) -> TransformerConfig:
        return TransformerConfig(
            d_model=self.n_embd,
            n_heads=self.n_head,
            n_layers=self.n_layer,
            n_kv_heads=self.n_kv_head,
            d_ff=self.d_ff,
            max_len=self.block_size,
            positions=self.positions,
            rope_theta=self.rope_theta,
            causal=True,
            norm_first=True,
            norm=self.norm,
            activation=self.activation,
            dropout=self.dropout,
            bias=self.bias,
            layer_norm_eps=self.layer_norm_eps,
            fast=self.fast,
            fused=self.fused,
        )


class GPT(nn.Module):
    """Decoder-only language model: ``(B, T)`` token ids -> ``(B, T, V)`` next-token logits."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.transformer = Transformer(config.transformer_config())
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            self.lm_head.weight = self.tok_emb.weight
        self.apply(self._init_weights)
        # GPT-2: scale the projections that write into the residual stream by 1/sqrt(2 * n_layer),
        # so the stream's variance does not grow with depth (two writes per block).
        for name, param in self.named_parameters():
            if name.endswith(("attn.out_proj.weight", "mlp.proj.weight", "mlp.down_proj.weight")):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_parameters(self) -> int:
        """Trainable parameters, counting tied weights once."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def new_kv_caches(self) -> list[KVCache]:
        """One empty cache per layer, for :meth:`forward`'s ``kv_caches``."""
        return [KVCache() for _ in range(self.config.n_layer)]

    def forward(self, idx: torch.Tensor, kv_caches: list[KVCache] | None = None) -> torch.Tensor:
        """Logits ``(B, T, V)`` for token ids ``idx`` ``(B, T)``.

        With ``kv_caches``, ``idx`` holds only the new tokens; their keys and values are appended
        to the caches and positions continue from the cached length.
        """
        if idx.dim() != 2:
            raise ValueError(f"idx must be (B, T) token ids, got shape {tuple(idx.shape)}")
        x = self.tok_emb(idx)  # (B, T, C)
        x = self.transformer(x, kv_caches=kv_caches)  # (B, T, C), final LayerNorm included
        return self.lm_head(x)  # (B, T, V)

    @torch.no_grad()
    def generate_stream(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        stop_token: int | None = None,
        use_cache: bool | None = True,
        generator: torch.Generator | None = None,
        with_logits: bool = False,
    ) -> Iterator[torch.Tensor] | Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield the next token ids ``(B,)`` one step at a time (``(tokens, logits (B, V))`` with
        ``with_logits``).

        Args:
            idx: the prompt, ``(B, T)`` token ids (T >= 1).
            max_new_tokens: the most tokens to generate.
            temperature: 0 is greedy (argmax); otherwise logits are divided by it before sampling.
            top_k, top_p: keep only the k most likely tokens / the smallest set with mass >= p.
            stop_token: stop once every row has produced it (rows that stopped keep emitting it).
            use_cache: True feeds one token per step through a KV cache (the prompt plus the new
                tokens must then fit in ``block_size``); False re-runs the whole context every
                step, cropped to the last ``block_size`` tokens; None picks the cache when it fits.
            generator: a ``torch.Generator`` for reproducible sampling.
        """
        validate_sampling(temperature, top_k, top_p)
        if idx.dim() != 2 or idx.size(1) < 1:
            raise ValueError(f"the prompt must be (B, T) token ids with T >= 1, got shape {tuple(idx.shape)}")
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        block = self.config.block_size
        fits = idx.size(1) + max_new_tokens - 1 <= block  # the last sampled token is never fed back
        if use_cache is None:
            use_cache = fits
        if use_cache and not fits:
            raise ValueError(
                f"with a KV cache the prompt ({idx.size(1)} tokens) plus max_new_tokens ({max_new_tokens}) "
                f"must fit in block_size={block}: ask for fewer tokens, or pass use_cache=False to crop "
                "the context to the last block_size tokens at every step"
            )
        was_training = self.training
        self.eval()
        try:
            caches = self.new_kv_caches() if use_cache else None
            context = idx
            finished = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
            for _ in range(max_new_tokens):
                if caches is None:
                    logits = self(context[:, -block:])[:, -1, :]  # (B, V)
                else:
                    new = context if caches[0].length == 0 else context[:, -1:]
                    logits = self(new, kv_caches=caches)[:, -1, :]  # (B, V)
                token = sample_next(logits, temperature, top_k, top_p, generator).squeeze(-1)  # (B,)
                if stop_token is not None:
                    token = token.masked_fill(finished, stop_token)
                    finished |= token == stop_token
                yield (token, logits) if with_logits else token
                if stop_token is not None and bool(finished.all()):
                    return
                context = torch.cat([context, token[:, None]], dim=1)
        finally:
            self.train(was_training)

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, **kwargs) -> torch.Tensor:
        """The prompt followed by the generated tokens, ``(B, T + n)``; see :meth:`generate_stream`."""
        steps = [token[:, None] for token in self.generate_stream(idx, max_new_tokens, **kwargs)]
        return torch.cat([idx, *steps], dim=1)


def next_token_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy of predicting ``y[b, t] = x[b, t + 1]`` from ``x[b, :t + 1]``, in nats per token.

    The Trainer's loss function for language modelling: ``batch`` is ``(x, y)``, both ``(B, T)``.
    """
    x, y = batch
    logits = model(x)  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))


def export_to_gpt2(
    model: GPT,
    local_dir: str | Path,
    bos_token_id: int | None = None,
    eos_token_id: int | None = None,
):
    """Write ``model`` as a ``transformers`` GPT-2 checkpoint (``config.json`` + safetensors) that
    ``GPT2LMHeadModel.from_pretrained(local_dir)`` loads, and return that loaded model.

    GPT-2 stores its linear layers as ``Conv1D`` (weight ``(in, out)``, the transpose of
    ``nn.Linear``) and fuses the query, key and value projections into one ``c_attn``.
    Only learned positions exist in GPT-2, so rotary models cannot be exported.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    config = model.config
    if (
        config.norm != "layer"
        or config.activation == "swiglu"
        or config.n_kv_head not in (None, config.n_head)
    ):
        raise ValueError(
            "GPT-2 has LayerNorm, a GELU MLP and plain multi-head attention; this model uses "
            f"norm={config.norm!r}, activation={config.activation!r}, n_kv_head={config.n_kv_head}: "
            "export it with mmlab.models.llama.export_to_llama instead"
        )
    if config.positions != "learned":
        raise ValueError(
            f"GPT-2 has learned position embeddings only; this model uses positions={config.positions!r}, "
            "which has no GPT-2 equivalent. Train with positions='learned' to export."
        )
    if not config.tie_weights:
        raise ValueError("GPT-2's output head is tied to the token embeddings: export needs tie_weights=True")
    hf_config = GPT2Config(
        vocab_size=config.vocab_size,
        n_positions=config.block_size,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        n_inner=model.transformer.config.d_ff,
        # "gelu_new" is GPT-2's name for the tanh approximation of GELU; "gelu" is the exact one.
        activation_function="gelu_new" if config.activation == "gelu_tanh" else "gelu",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        layer_norm_epsilon=config.layer_norm_eps,
        tie_word_embeddings=True,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
    )
    hf = GPT2LMHeadModel(hf_config).eval()
    ours = separate_projections(model)  # a fused model's qkv_proj as q, k and v

    def bias(name: str, size: int) -> torch.Tensor:
        return ours[name] if name in ours else torch.zeros(size)  # bias=False models export zeros

    C = config.n_embd
    state = {
        "transformer.wte.weight": ours["tok_emb.weight"],
        "transformer.wpe.weight": ours["transformer.positions.embedding.weight"],
        "transformer.ln_f.weight": ours["transformer.norm.weight"],
        "transformer.ln_f.bias": bias("transformer.norm.bias", C),
    }
    for i in range(config.n_layer):
        src, dst = f"transformer.blocks.{i}.", f"transformer.h.{i}."
        attn = [f"{src}attn.{p}_proj" for p in ("q", "k", "v")]
        state[dst + "attn.c_attn.weight"] = torch.cat(
            [ours[a + ".weight"] for a in attn], dim=0
        ).t()  # (C, 3C)
        state[dst + "attn.c_attn.bias"] = torch.cat([bias(a + ".bias", C) for a in attn])
        for ours_name, hf_name in (
            ("attn.out_proj", "attn.c_proj"),
            ("mlp.fc", "mlp.c_fc"),
            ("mlp.proj", "mlp.c_proj"),
        ):
            weight = ours[f"{src}{ours_name}.weight"]
            state[f"{dst}{hf_name}.weight"] = weight.t()  # Conv1D is (in, out)
            state[f"{dst}{hf_name}.bias"] = bias(f"{src}{ours_name}.bias", weight.size(0))
        for ours_name, hf_name in (("norm1", "ln_1"), ("norm2", "ln_2")):
            state[f"{dst}{hf_name}.weight"] = ours[f"{src}{ours_name}.weight"]
            state[f"{dst}{hf_name}.bias"] = bias(f"{src}{ours_name}.bias", C)
    state = {k: v.detach().clone().contiguous().cpu() for k, v in state.items()}
    missing, unexpected = hf.load_state_dict(state, strict=False)
    missing = [m for m in missing if m != "lm_head.weight"]  # tied to wte
    if missing or unexpected:
        raise RuntimeError(f"GPT-2 mapping is incomplete: missing {missing}, unexpected {unexpected}")
    hf.tie_weights()
    local_dir = Path(local_dir)
    local_dir.mkdir(parents=True, exist_ok=True)
    hf.save_pretrained(local_dir)
    return GPT2LMHeadModel.from_pretrained(local_dir).eval()
