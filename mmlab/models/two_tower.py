"""The two-tower recommender (chapter 16a): a user tower and an item tower meet in one space.

A user is an embedding of their id; an item is its MiniLM text embedding through a linear map plus an
embedding of its id. Both are scaled to unit length and a user's score for an item is their cosine
over a temperature. Training pairs (user, item they consumed) come in batches of B; every other item
in the batch is a negative, and the loss is the in-batch softmax (:func:`in_batch_softmax`): each user
must pick their own item among the B items of the batch. Averaged with the same loss in the other
direction (each item picks its user) it is CLIP's loss (chapter 11, :func:`mmlab.models.clip.clip_loss`),
with users in the place of images and items in the place of captions.

Popular items turn up as negatives in many batches, so the plain in-batch softmax learns to push them
down. The logQ correction (Yi et al. 2019) subtracts from each logit the log of the item's share of the
training pairs (how often it is sampled as a negative); scores at serving time are uncorrected.

An item nobody has consumed yet (cold start) has an untrained id embedding; the model leaves it out
(``known`` is False) and scores such an item by its text alone. During training each item's id
embedding is dropped with probability ``id_dropout`` so the text path learns to stand on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TwoTower", "TwoTowerConfig", "in_batch_softmax", "two_tower_loss"]


@dataclass
class TwoTowerConfig:
    """Sizes of a two-tower model: ``d_model`` is the width of the shared space."""

    n_users: int
    n_items: int
    text_dim: int = 384
    d_model: int = 32
    id_dropout: float = 0.5
    temperature: float = 0.1
    logq_correction: bool = True


class TwoTower(nn.Module):
    """User and item towers; ``item_text`` (n_items, text_dim) holds the items' text embeddings and
    ``known`` (n_items,) marks the items with training interactions (their id embedding is used);
    ``log_q`` (n_items,) is the log of each item's share of the training pairs (the logQ correction)."""

    def __init__(
        self,
        config: TwoTowerConfig,
        item_text: torch.Tensor,
        known: torch.Tensor,
        log_q: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if item_text.shape != (config.n_items, config.text_dim) or known.shape != (config.n_items,):
            raise ValueError(
                f"item_text must be ({config.n_items}, {config.text_dim}) and known ({config.n_items},), "
                f"got {tuple(item_text.shape)} and {tuple(known.shape)}"
            )
        self.config = config
        self.user_id = nn.Embedding(config.n_users, config.d_model)
        self.item_id = nn.Embedding(config.n_items, config.d_model)
        self.text_proj = nn.Linear(config.text_dim, config.d_model)
        nn.init.normal_(self.user_id.weight, std=0.1)
        nn.init.normal_(self.item_id.weight, std=0.1)
        self.register_buffer("item_text", item_text.float())
        self.register_buffer("known", known.bool())
        self.register_buffer("log_q", torch.zeros(config.n_items) if log_q is None else log_q.float())

    def users(self, user_ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.user_id(user_ids), dim=-1)  # (B, d)

    def items(self, item_ids: torch.Tensor) -> torch.Tensor:
        keep = self.known[item_ids]  # (B,)
        if self.training and self.config.id_dropout > 0:
            keep = keep & (torch.rand(keep.shape, device=keep.device) >= self.config.id_dropout)
        v = self.text_proj(self.item_text[item_ids]) + self.item_id(item_ids) * keep[:, None]  # (B, d)
        return F.normalize(v, dim=-1)

    @torch.no_grad()
    def score_matrix(self) -> torch.Tensor:
        """Cosine of every user with every item (n_users, n_items), in eval mode (no id dropout)."""
        was_training = self.training
        self.eval()
        u = self.users(torch.arange(self.config.n_users, device=self.known.device))
        v = self.items(torch.arange(self.config.n_items, device=self.known.device))
        self.train(was_training)
        return u @ v.T


def in_batch_softmax(
    user_vecs: torch.Tensor, item_vecs: torch.Tensor, scale: float, log_q: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy of ``scale * U V^T`` (B, B) with user i's own item i on the diagonal, each logit of
    column j less ``log_q[j]`` when given (the logQ correction)."""
    logits = scale * user_vecs @ item_vecs.T  # (B, B): row = user, column = item
    if log_q is not None:
        logits = logits - log_q[None, :]
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


def two_tower_loss(model: TwoTower, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
    """The Trainer's loss: batch ``{"users": (B,), "items": (B,)}`` of consumed pairs -> the in-batch
    softmax at scale 1 / temperature (logQ-corrected if the config says so), and the in-batch accuracy
    (the user's own item scores highest)."""
    u, v = model.users(batch["users"]), model.items(batch["items"])  # (B, d) each
    log_q = model.log_q[batch["items"]] if model.config.logq_correction else None
    loss = in_batch_softmax(u, v, 1.0 / model.config.temperature, log_q)
    with torch.no_grad():
        accuracy = ((u @ v.T).argmax(1) == torch.arange(len(u), device=u.device)).float().mean()
    return loss, {"accuracy": accuracy}
