"""An encoder-decoder Transformer (chapter 13): the architecture the Transformer was invented for.

The encoder reads the whole source with self-attention (padding masked); the decoder writes the
target one token at a time with causal self-attention plus **cross-attention**: its queries come
from the target, its keys and values from the encoder's output. Both stacks are the course's own
:class:`~mmlab.models.transformer.Transformer` (post-LN, GELU: BART's layout), with one token
embedding shared by encoder, decoder and output head.

Decoding keeps two caches per decoder layer: the self-attention :class:`KVCache` grows by one
token per step, and the cross-attention keys and values are computed **once** from the encoder
output (they never change while the target grows). :meth:`Seq2Seq.start` returns that state.

:func:`export_to_bart` writes a ``transformers`` ``BartForConditionalGeneration`` checkpoint with
the same logits; :func:`decoder_only_tensors` and :func:`prompt_loss` train a GPT on the same pairs
as "source <sep> target" for the chapter's comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mmlab.models.attention import (
    KVCache,
    MultiHeadAttention,
    padding_mask,
    record_attention,
    scaled_dot_product_attention,
)
from mmlab.models.transformer import LearnedPositions, Transformer, TransformerBlock, TransformerConfig

__all__ = [
    "Seq2Seq",
    "Seq2SeqConfig",
    "Seq2SeqState",
    "decoder_only_tensors",
    "export_to_bart",
    "prompt_loss",
    "seq2seq_loss",
]


@dataclass
class Seq2SeqConfig:
    """Shape of the encoder-decoder.

    Attributes:
        vocab_size: shared source/target vocabulary V. d_model: width C. n_heads: heads per layer.
        n_encoder_layers, n_decoder_layers: depth of each stack. d_ff: MLP width (default 4C).
        max_len: longest source and longest target (learned positions).
        dropout: on embeddings, attention and residual branches.
        embed_norm: LayerNorm after token + position embeddings (BART's ``layernorm_embedding``).
        final_norm: LayerNorm after each stack (``torch.nn.Transformer`` has one; BART has none).
        pad_id, bos_id, eos_id: special tokens (the decoder starts from ``bos_id``).
        init_std: standard deviation of the initial linear and embedding weights. GPT-2's 0.02 suits
            widths near 768; on a narrow model it makes every attention score start near zero and
            stay there for hundreds of steps (chapter 13's summariser), where ``d_model ** -0.5``
            trains at once.
    """

    vocab_size: int = 128
    d_model: int = 64
    n_heads: int = 4
    n_encoder_layers: int = 2
    n_decoder_layers: int = 2
    d_ff: int | None = None
    max_len: int = 64
    dropout: float = 0.0
    embed_norm: bool = True
    final_norm: bool = False
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    init_std: float = 0.02

    def stack(self, decoder: bool) -> TransformerConfig:
        """The :class:`TransformerConfig` of the encoder (``decoder=False``) or the decoder."""
        return TransformerConfig(
            d_model=self.d_model,
            n_heads=self.n_heads,
            n_layers=self.n_decoder_layers if decoder else self.n_encoder_layers,
            d_ff=self.d_ff,
            max_len=self.max_len,
            positions="none",  # added (and normalised) by Seq2Seq, as BART does
            causal=decoder,
            cross_attention=decoder,
            norm_first=False,
            final_norm=self.final_norm,
            activation="gelu",
            dropout=self.dropout,
        )


def _cross_attend(
    layer: MultiHeadAttention,
    x: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    keep: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Cross-attention with precomputed keys and values ``(B, nh, S, hs)``: only the queries of the
    new target tokens ``x`` ``(B, T, C)`` are projected."""
    B, T, C = x.shape
    q = layer._heads(layer.q_proj(x))  # (B, nh, T, hs)
    y, weights = scaled_dot_product_attention(q, k, v, mask=mask)  # (B, nh, T, hs), (B, nh, T, S)
    if keep is not None:
        keep.append(weights)
    return layer.out_proj(y.transpose(1, 2).reshape(B, T, C))


def _block_step(
    block: TransformerBlock,
    x: torch.Tensor,
    cache: KVCache,
    cross_k: torch.Tensor,
    cross_v: torch.Tensor,
    src_mask: torch.Tensor,
    keep: list[torch.Tensor] | None,
) -> torch.Tensor:
    """A decoder block on the new tokens only: :meth:`TransformerBlock.forward` with both caches."""

    def self_attention(h: torch.Tensor) -> torch.Tensor:
        return block.dropout(block.attn(h, kv_cache=cache))

    def cross_attention(h: torch.Tensor) -> torch.Tensor:
        return block.dropout(_cross_attend(block.cross_attn, h, cross_k, cross_v, src_mask, keep))

    if block.norm_first:
        x = x + self_attention(block.norm1(x))
        x = x + cross_attention(block.norm_cross(x))
        return x + block.mlp(block.norm2(x))
    x = block.norm1(x + self_attention(x))
    x = block.norm_cross(x + cross_attention(x))
    return block.norm2(x + block.mlp(x))


class Seq2Seq(nn.Module):
    """Encoder-decoder: source ids ``(B, S)`` and decoder input ids ``(B, T)`` -> logits ``(B, T, V)``."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = config
        C = config.d_model
        self.tok_emb = nn.Embedding(config.vocab_size, C)
        self.enc_pos = LearnedPositions(config.max_len, C)
        self.dec_pos = LearnedPositions(config.max_len, C)
        self.enc_embed_norm = nn.LayerNorm(C) if config.embed_norm else nn.Identity()
        self.dec_embed_norm = nn.LayerNorm(C) if config.embed_norm else nn.Identity()
        self.dropout = nn.Dropout(config.dropout)
        self.encoder = Transformer(config.stack(decoder=False))
        self.decoder = Transformer(config.stack(decoder=True))
        self.lm_head = nn.Linear(C, config.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # one vocabulary, one embedding (BART, T5, Marian)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=config.init_std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def num_parameters(self) -> int:
        """Trainable parameters, counting the tied embedding once."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def source_mask(self, src: torch.Tensor) -> torch.Tensor:
        """``(B, S)`` True for real source tokens, False for padding."""
        return src != self.config.pad_id

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's output ``(B, S, C)``; ``src_mask`` ``(B, S)`` (default: ``src != pad``)."""
        if src.size(1) > self.config.max_len:
            raise ValueError(f"source of {src.size(1)} tokens is longer than max_len={self.config.max_len}")
        src_mask = self.source_mask(src) if src_mask is None else src_mask
        x = self.dropout(self.enc_embed_norm(self.enc_pos(self.tok_emb(src))))  # (B, S, C)
        return self.encoder(x, mask=padding_mask(src_mask))

    def _embed_target(self, tgt: torch.Tensor, start: int = 0) -> torch.Tensor:
        if start + tgt.size(1) > self.config.max_len:
            raise ValueError(
                f"target of {start + tgt.size(1)} tokens is longer than max_len={self.config.max_len}"
            )
        return self.dropout(self.dec_embed_norm(self.dec_pos(self.tok_emb(tgt), start)))  # (B, T, C)

    def decode(self, tgt: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor | None) -> torch.Tensor:
        """Teacher forcing: logits ``(B, T, V)`` for decoder inputs ``tgt`` ``(B, T)``; ``src_mask``
        None means every source position is attended to (padding included)."""
        context_mask = None if src_mask is None else padding_mask(src_mask)
        h = self.decoder(self._embed_target(tgt), context=memory, context_mask=context_mask)
        return self.lm_head(h)

    def forward(
        self, src: torch.Tensor, tgt: torch.Tensor, src_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``(B, T, V)``: position t predicts the target token after ``tgt[:, t]``."""
        src_mask = self.source_mask(src) if src_mask is None else src_mask
        return self.decode(tgt, self.encode(src, src_mask), src_mask)

    def start(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> Seq2SeqState:
        """Encode once and return the decoding state (see :mod:`mmlab.decoding`)."""
        return Seq2SeqState(self, src, src_mask)

    @torch.no_grad()
    def cross_attention(self, src: torch.Tensor, tgt: torch.Tensor) -> list[torch.Tensor]:
        """One ``(B, nh, T, S)`` cross-attention map per decoder layer, for inputs ``tgt``."""
        with record_attention(self, [block.cross_attn for block in self.decoder.blocks]) as maps:
            self(src, tgt)
        return maps


class Seq2SeqState:
    """The decoder's state during generation: the encoder output's cross-attention keys and values
    per layer (computed once here) and a growing self-attention cache per layer.

    ``step(tokens)`` runs the new tokens ``(N, t)`` and returns the last position's logits ``(N, V)``;
    ``reorder(index)`` keeps rows ``index`` (beam search), ``cross_maps`` holds the cross-attention
    weights of every step when ``keep_maps`` is True.
    """

    def __init__(self, model: Seq2Seq, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> None:
        self.model = model
        src_mask = model.source_mask(src) if src_mask is None else src_mask
        memory = model.encode(src, src_mask)  # (N, S, C), once
        self.src_mask = padding_mask(src_mask)  # (N, 1, 1, S)
        self.cross_kv = [
            (layer._heads(layer.k_proj(memory)), layer._heads(layer.v_proj(memory)))  # (N, nh, S, hs) each
            for layer in (block.cross_attn for block in model.decoder.blocks)
        ]
        self.caches = [KVCache() for _ in model.decoder.blocks]
        self.keep_maps = False
        self.cross_maps: list[list[torch.Tensor]] = []

    @property
    def length(self) -> int:
        return self.caches[0].length

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        model = self.model
        x = model._embed_target(tokens, self.length)  # (N, t, C)
        keep: list[torch.Tensor] | None = [] if self.keep_maps else None
        for block, cache, (k, v) in zip(model.decoder.blocks, self.caches, self.cross_kv):
            x = _block_step(block, x, cache, k, v, self.src_mask, keep)
        if model.decoder.norm is not None:
            x = model.decoder.norm(x)
        if keep is not None:
            self.cross_maps.append(keep)
        return model.lm_head(x[:, -1])  # (N, V)

    def reorder(self, index: torch.Tensor) -> None:
        self.src_mask = self.src_mask.index_select(0, index)
        self.cross_kv = [(k.index_select(0, index), v.index_select(0, index)) for k, v in self.cross_kv]
        for cache in self.caches:
            if cache.k is not None:
                cache.k, cache.v = cache.k.index_select(0, index), cache.v.index_select(0, index)


def seq2seq_loss(model: Seq2Seq, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Teacher-forced cross-entropy on ``{"src" (B, S), "tgt" (B, T)}`` (``tgt`` ends with ``</s>``,
    padding ignored): the decoder reads ``<s> y_1 .. y_{T-1}`` and predicts ``y_1 .. y_T``."""
    src, tgt = batch["src"], batch["tgt"]
    config = model.config
    bos = torch.full_like(tgt[:, :1], config.bos_id)
    tgt_in = torch.cat([bos, tgt[:, :-1]], dim=1)  # (B, T), shifted right
    logits = model(src, tgt_in)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=config.pad_id)


def decoder_only_tensors(
    src: torch.Tensor, tgt: torch.Tensor, pad_id: int, sep_id: int
) -> dict[str, torch.Tensor]:
    """One sequence per pair for a decoder-only model: ``source <sep> target </s>``, right-padded.

    Returns ``{"x", "y"}`` ``(N, L)``: inputs and next-token targets, with the targets of the
    source part (and of padding) set to ``-100`` so only the translation is learnt.
    """
    rows, targets = [], []
    for s, t in zip(src.tolist(), tgt.tolist()):
        s = [i for i in s if i != pad_id]
        t = [i for i in t if i != pad_id]
        seq = s + [sep_id] + t
        rows.append(seq[:-1])
        targets.append([-100] * len(s) + t)
    L = max(map(len, rows))
    x = torch.full((len(rows), L), pad_id, dtype=torch.long)
    y = torch.full((len(rows), L), -100, dtype=torch.long)
    for i, (row, target) in enumerate(zip(rows, targets)):
        x[i, : len(row)] = torch.tensor(row)
        y[i, : len(target)] = torch.tensor(target)
    return {"x": x, "y": y}


def prompt_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Cross-entropy of a decoder-only model on the target part of :func:`decoder_only_tensors` rows."""
    logits = model(batch["x"])  # (B, L, V)
    return F.cross_entropy(logits.flatten(0, 1), batch["y"].flatten(), ignore_index=-100)


def export_to_bart(model: Seq2Seq, local_dir: str | Path):
    """Write ``model`` as a ``transformers`` BART checkpoint and return
    ``BartForConditionalGeneration.from_pretrained(local_dir)``.

    The layouts match one to one (post-LN blocks, GELU, learned positions, an embedding LayerNorm,
    tied embeddings); BART's position table has two extra rows in front (its offset of 2).
    """
    from transformers import BartConfig, BartForConditionalGeneration

    config = model.config
    if not config.embed_norm or config.final_norm:
        raise ValueError("BART needs embed_norm=True and final_norm=False")
    d_ff = model.encoder.config.d_ff
    hf_config = BartConfig(
        vocab_size=config.vocab_size,
        max_position_embeddings=config.max_len,
        d_model=config.d_model,
        encoder_layers=config.n_encoder_layers,
        decoder_layers=config.n_decoder_layers,
        encoder_attention_heads=config.n_heads,
        decoder_attention_heads=config.n_heads,
        encoder_ffn_dim=d_ff,
        decoder_ffn_dim=d_ff,
        activation_function="gelu",
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        scale_embedding=False,
        pad_token_id=config.pad_id,
        bos_token_id=config.bos_id,
        eos_token_id=config.eos_id,
        decoder_start_token_id=config.bos_id,
        forced_eos_token_id=None,
        tie_word_embeddings=True,
    )
    ours = model.state_dict()
    state = {"model.shared.weight": ours["tok_emb.weight"]}
    for side, pos in (("encoder", "enc"), ("decoder", "dec")):
        table = ours[f"{pos}_pos.embedding.weight"]
        state[f"model.{side}.embed_positions.weight"] = torch.cat([torch.zeros(2, table.size(1)), table])
        for p in ("weight", "bias"):
            state[f"model.{side}.layernorm_embedding.{p}"] = ours[f"{pos}_embed_norm.{p}"]
        n_layers = config.n_decoder_layers if side == "decoder" else config.n_encoder_layers
        for i in range(n_layers):
            src, dst = f"{side}.blocks.{i}.", f"model.{side}.layers.{i}."
            names = {"attn": "self_attn", "norm1": "self_attn_layer_norm", "mlp.fc": "fc1", "mlp.proj": "fc2"}
            names["norm2"] = "final_layer_norm"
            if side == "decoder":
                names.update(cross_attn="encoder_attn", norm_cross="encoder_attn_layer_norm")
            for ours_name, hf_name in names.items():
                for p in ("weight", "bias"):
                    if ours_name in ("attn", "cross_attn"):
                        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                            state[f"{dst}{hf_name}.{proj}.{p}"] = ours[f"{src}{ours_name}.{proj}.{p}"]
                    else:
                        state[f"{dst}{hf_name}.{p}"] = ours[f"{src}{ours_name}.{p}"]
    hf = BartForConditionalGeneration(hf_config).eval()
    state = {k: v.detach().clone().contiguous().cpu() for k, v in state.items()}
    missing, unexpected = hf.load_state_dict(state, strict=False)
    tied = {"lm_head.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"}
    missing = [m for m in missing if m not in tied and m != "final_logits_bias"]
    if missing or unexpected:
        raise RuntimeError(f"BART mapping is incomplete: missing {missing}, unexpected {unexpected}")
    hf.tie_weights()
    local_dir = Path(local_dir)
    local_dir.mkdir(parents=True, exist_ok=True)
    hf.save_pretrained(local_dir)
    return BartForConditionalGeneration.from_pretrained(local_dir).eval()
