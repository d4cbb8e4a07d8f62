"""The bag-of-words text classifier: average the word vectors, then one linear layer (chapters 01, 02).

The model ignores word order entirely: "the match was won" and "won the was match" get the same
logits, and its score is linear in the word counts, so "not good" is "not" + "good". That is its
limit (chapter 02 measures it against a CNN and an LSTM), and also why it trains in a second.
It reads a padded batch ``ids`` (B, T), optionally with ``lengths`` (B,), like chapter 02's other
classifiers in :mod:`mmlab.models.sequence`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["BoWClassifier", "BoWConfig"]


@dataclass
class BoWConfig:
    """Sizes of a :class:`BoWClassifier`.

    Attributes:
        vocab_size: number of token ids (including padding and unknown).
        num_classes: number of labels.
        embed_dim: size of each word vector.
        pad_id: the padding id; its positions are left out of the average.
        unk_id: if set, the unknown-word id is left out of the average too: a word never seen in
            training carries no information, and its vector was never trained.
    """

    vocab_size: int
    num_classes: int = 2
    embed_dim: int = 32
    pad_id: int = 0
    unk_id: int | None = None

    def __post_init__(self) -> None:
        if self.vocab_size < 1 or self.num_classes < 2 or self.embed_dim < 1:
            raise ValueError(f"need vocab_size >= 1, num_classes >= 2, embed_dim >= 1; got {self}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id {self.pad_id} is not a valid id for vocab_size {self.vocab_size}")
        if self.unk_id is not None and not 0 <= self.unk_id < self.vocab_size:
            raise ValueError(f"unk_id {self.unk_id} is not a valid id for vocab_size {self.vocab_size}")


class BoWClassifier(nn.Module):
    """Logits for each sentence from the mean of its word embeddings (fastText without n-grams)."""

    def __init__(self, config: BoWConfig) -> None:
        super().__init__()
        self.config = config
        # padding_idx: the padding row is zero and gets no gradient (it is also left out of the mean)
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=config.pad_id)
        self.head = nn.Linear(config.embed_dim, config.num_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Map token ids ``(B, T)`` (padded with ``pad_id``) to logits ``(B, num_classes)``.

        ``lengths`` (B,), if given, also leaves out every position at or after a sentence's length.
        """
        if ids.dim() != 2:
            raise ValueError(f"ids must have shape (batch, length), got {tuple(ids.shape)}")
        keep = ids != self.config.pad_id  # (B, T)
        if lengths is not None:
            positions = torch.arange(ids.shape[1], device=ids.device)  # (T,)
            keep &= positions[None, :] < lengths.to(ids.device)[:, None]
        if self.config.unk_id is not None:
            keep &= ids != self.config.unk_id
        mask = keep.unsqueeze(-1).float()  # (B, T, 1)
        vectors = self.embed(ids) * mask  # (B, T, D)
        # clamp: a row with no known word averages to zero instead of dividing by zero
        mean = vectors.sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # (B, D)
        return self.head(mean)  # (B, C)
