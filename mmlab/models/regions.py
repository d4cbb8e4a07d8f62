"""The region encoder of chapters 10 and 12: an image encoder whose feature map gives one vector per
grid cell, with linear heads that name what sits in each cell (empty, or a kind and a colour; in
chapter 12 a size too), from the scene descriptions (:func:`~mmlab.data.multimodal.region_targets`).

Trained a moment with :func:`region_loss`, then frozen, it is the stand-in for a pretrained image
encoder: chapter 10's fusion models all read the same region vectors (so the comparison measures the
fusion, not how well each model learned to see), and chapter 12's VLM reads its patch features the
way LLaVA reads CLIP's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmlab.data.multimodal import COLOURS, KINDS, SIZES
from mmlab.models.vision import CNNConfig, CNNEncoder

__all__ = ["RegionEncoder", "region_loss"]


class RegionEncoder(nn.Module):
    """An image encoder (``cnn``: built from a :class:`CNNConfig`, or an existing encoder with
    ``tokens(images)``, such as the VLM's) and heads naming each cell's kind, colour and, with
    ``sizes``, size (class 0: the cell is empty)."""

    def __init__(self, cnn: CNNConfig | nn.Module, sizes: bool = False) -> None:
        super().__init__()
        self.cnn = CNNEncoder(cnn) if isinstance(cnn, CNNConfig) else cnn
        d = self.cnn.d_tokens
        self.kind_head = nn.Linear(d, 1 + len(KINDS))  # empty, circle, square, triangle
        self.colour_head = nn.Linear(d, 1 + len(COLOURS))  # empty, red, green, blue
        self.size_head = nn.Linear(d, 1 + len(SIZES)) if sizes else None  # empty, small, large

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, P, d) region vectors, one per grid cell (row by row)."""
        return self.cnn.tokens(images)

    def name_regions(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per cell: ``region_kinds`` and ``region_colours`` (B, P, 4), ``region_sizes`` (B, P, 3)."""
        regions = self(images)  # (B, P, d)
        logits = {"region_kinds": self.kind_head(regions), "region_colours": self.colour_head(regions)}
        if self.size_head is not None:
            logits["region_sizes"] = self.size_head(regions)
        return logits


def region_loss(model: RegionEncoder, batch: dict[str, torch.Tensor]):
    """Summed cross-entropy of the heads; accuracy = the fraction of cells with every head right."""
    logits = model.name_regions(batch["images"])
    loss = sum(F.cross_entropy(v.flatten(0, 1), batch[k].flatten()) for k, v in logits.items())
    with torch.no_grad():
        right = torch.stack([v.argmax(-1) == batch[k] for k, v in logits.items()]).all(0)
    return loss, {"accuracy": right.float().mean()}
