"""From GPT-2 to Llama (chapter 06): the modern decoder block as options of the course's ``GPT``,
and its export to ``transformers``' ``LlamaForCausalLM``.

Llama keeps GPT-2's pre-norm decoder and changes four parts, each a config option here:

* RMSNorm instead of LayerNorm (``norm="rms"``): no mean subtraction, no shift;
* a SwiGLU feed-forward instead of the GELU MLP (``activation="swiglu"``);
* rotary positions inside attention instead of a learned table (``positions="rotary"``, ``rope_theta``);
* grouped-query attention (``n_kv_head`` < ``n_head``) and no biases (``bias=False``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from mmlab.models.attention import separate_projections
from mmlab.models.gpt import GPT, GPTConfig

__all__ = ["export_to_llama", "llama_style"]


def llama_style(config: GPTConfig, n_kv_head: int | None = None, rope_theta: float = 10000.0) -> GPTConfig:
    """``config``'s shape (width, depth, heads, context, vocabulary) with Llama's block: RMSNorm,
    SwiGLU, rotary positions with base ``rope_theta``, ``n_kv_head`` key/value heads, no biases."""
    return replace(
        config,
        norm="rms",
        activation="swiglu",
        positions="rotary",
        rope_theta=rope_theta,
        n_kv_head=n_kv_head,
        bias=False,
        layer_norm_eps=1e-6 if config.layer_norm_eps == 1e-5 else config.layer_norm_eps,
    )


def export_to_llama(
    model: GPT, local_dir: str | Path, bos_token_id: int | None = None, eos_token_id: int | None = None
):
    """Write a Llama-style ``model`` as a ``transformers`` Llama checkpoint that
    ``LlamaForCausalLM.from_pretrained(local_dir)`` loads, and return that loaded model.

    The names map one to one (our ``attn.out_proj`` is Llama's ``self_attn.o_proj``, ``norm1`` and
    ``norm2`` its ``input_layernorm`` and ``post_attention_layernorm``), and both use the
    "rotate half" rotary pairing, so no weight needs permuting.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    config = model.config
    if config.norm != "rms" or config.activation != "swiglu" or config.positions != "rotary":
        raise ValueError(
            "Llama has RMSNorm, a SwiGLU feed-forward and rotary positions; this model uses "
            f"norm={config.norm!r}, activation={config.activation!r}, positions={config.positions!r} "
            "(build it with llama_style(config), or export a GPT-2-style model with export_to_gpt2)"
        )
    hf_config = LlamaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.n_embd,
        intermediate_size=model.transformer.config.d_ff,
        num_hidden_layers=config.n_layer,
        num_attention_heads=config.n_head,
        num_key_value_heads=config.n_kv_head or config.n_head,
        max_position_embeddings=config.block_size,
        rms_norm_eps=config.layer_norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": config.rope_theta},
        attention_bias=config.bias,
        mlp_bias=config.bias,
        tie_word_embeddings=config.tie_weights,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
    )
    names = {
        "tok_emb.weight": "model.embed_tokens.weight",
        "transformer.norm.weight": "model.norm.weight",
        "lm_head.weight": "lm_head.weight",
    }
    parts = {
        "attn.q_proj": "self_attn.q_proj",
        "attn.k_proj": "self_attn.k_proj",
        "attn.v_proj": "self_attn.v_proj",
        "attn.out_proj": "self_attn.o_proj",
        "mlp.gate_proj": "mlp.gate_proj",
        "mlp.up_proj": "mlp.up_proj",
        "mlp.down_proj": "mlp.down_proj",
        "norm1": "input_layernorm",
        "norm2": "post_attention_layernorm",
    }
    for i in range(config.n_layer):
        for ours, theirs in parts.items():
            for kind in ("weight", "bias"):
                names[f"transformer.blocks.{i}.{ours}.{kind}"] = f"model.layers.{i}.{theirs}.{kind}"
    state = {names[k]: v.detach().clone().contiguous().cpu() for k, v in separate_projections(model).items()}
    hf = LlamaForCausalLM(hf_config).eval()
    missing, unexpected = hf.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (config.tie_weights and m == "lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"Llama mapping is incomplete: missing {missing}, unexpected {unexpected}")
    local_dir = Path(local_dir)
    local_dir.mkdir(parents=True, exist_ok=True)
    hf.save_pretrained(local_dir)
    return LlamaForCausalLM.from_pretrained(local_dir, dtype=torch.float32).eval()
