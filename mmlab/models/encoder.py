"""A Transformer encoder with a token embedding and a head: the smallest complete model on top of
:class:`mmlab.models.transformer.Transformer`.

``head="token"`` predicts one class per position (tagging, the generated tasks of chapter 03);
``head="sequence"`` mean-pools the real tokens and predicts one class per sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mmlab.models.attention import padding_mask
from mmlab.models.transformer import Transformer, TransformerConfig

__all__ = ["EncoderClassifier", "EncoderConfig", "token_classification_loss"]

IGNORE = -100  # target of padding positions: F.cross_entropy skips it


@dataclass
class EncoderConfig:
    """Vocabulary, output classes and head of an :class:`EncoderClassifier`.

    Attributes:
        vocab_size: number of token ids (id ``pad_id`` is padding).
        n_classes: outputs of the head.
        head: "token" (one prediction per position) or "sequence" (mean-pooled, one per sequence).
        pad_id: the padding id; its embedding is kept at zero.
        transformer: the stack's shape (width, heads, layers, positions, ...).
    """

    vocab_size: int
    n_classes: int
    head: Literal["token", "sequence"] = "token"
    pad_id: int = 0
    transformer: TransformerConfig = field(default_factory=TransformerConfig)

    def __post_init__(self) -> None:
        if self.head not in ("token", "sequence"):
            raise ValueError(f"head must be 'token' or 'sequence', got {self.head!r}")


class EncoderClassifier(nn.Module):
    """Token embedding -> Transformer encoder -> linear head."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        d_model = config.transformer.d_model
        self.embed = nn.Embedding(config.vocab_size, d_model, padding_idx=config.pad_id)
        self.encoder = Transformer(config.transformer)
        self.head = nn.Linear(d_model, config.n_classes)

    @property
    def max_len(self) -> int:
        return self.config.transformer.max_len

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``ids`` ``(B, T)``, ``attention_mask`` ``(B, T)`` (1 = real token) -> logits
        ``(B, T, n_classes)`` for a token head or ``(B, n_classes)`` for a sequence head."""
        if ids.dim() != 2:
            raise ValueError(f"ids must be (batch, time), got shape {tuple(ids.shape)}")
        mask = padding_mask(attention_mask) if attention_mask is not None else None  # (B, 1, 1, T)
        h = self.encoder(self.embed(ids), mask=mask)  # (B, T, C)
        if self.config.head == "token":
            return self.head(h)  # (B, T, n_classes)
        if attention_mask is None:
            pooled = h.mean(dim=1)
        else:
            weights = attention_mask.to(h.dtype)[:, :, None]  # (B, T, 1)
            pooled = (h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return self.head(pooled)  # (B, n_classes)


def token_classification_loss(
    model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The Trainer's loss for a token head: cross-entropy over real positions, plus the accuracy per
    position and per whole sequence. ``batch`` is ``(ids, attention_mask, targets)``, each ``(B, T)``,
    with targets ``-100`` at padding."""
    ids, attention_mask, targets = batch
    logits = model(ids, attention_mask)  # (B, T, n_classes)
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
    real = targets != IGNORE
    right = logits.argmax(-1) == targets
    accuracy = (right & real).sum() / real.sum()
    sequence_accuracy = (right | ~real).all(dim=1).float().mean()
    return loss, {"accuracy": accuracy, "word_accuracy": sequence_accuracy}
