"""Image encoders: a small CNN and a Vision Transformer (ViT) built from the course's Transformer (chapters 09-12).

Both turn an image ``(B, C, H, W)`` into either one vector per image (for classification and late
fusion) or a grid of vectors, one per region (``tokens``), that text can attend to (hybrid fusion).

* :class:`CNNEncoder`: convolutions slide a small filter over the image, so each output pixel sees a
  neighbourhood; strides shrink the grid while channels grow.
* :class:`ViT` (Dosovitskiy et al. 2020): cut the image into ``p x p`` patches, project each to a
  vector (:class:`PatchEmbedding`), prepend a learned [CLS] token, add learned positions and run
  Transformer blocks; the [CLS] output summarises the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmlab.models.parameters import count_parameters  # re-exported: the chapters import it from here
from mmlab.models.transformer import Transformer, TransformerConfig

__all__ = [
    "CNNConfig",
    "CNNEncoder",
    "ImageClassifier",
    "PatchEmbedding",
    "ViT",
    "ViTConfig",
    "count_parameters",
]


@dataclass
class CNNConfig:
    """A stack of 3x3 convolutions, each followed by ReLU; ``strides`` shrink the grid.

    Attributes:
        in_channels: 3 for RGB, 1 for greyscale. image_size: side of the (square) input.
        channels: output channels of each convolution. strides: stride of each convolution.
        d_out: size of the pooled image vector. pool: "flatten" keeps where things are (a linear
            layer over the whole grid), "mean" averages the grid (position is lost).
    """

    in_channels: int = 3
    image_size: int = 24
    channels: tuple[int, ...] = (16, 32)
    strides: tuple[int, ...] = (2, 2)
    d_out: int = 32
    pool: str = "flatten"
    out_grid: int | None = None

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.strides):
            raise ValueError(f"channels {self.channels} and strides {self.strides} need the same length")
        if self.pool not in ("flatten", "mean"):
            raise ValueError(f"pool must be 'flatten' or 'mean', got {self.pool!r}")

    @property
    def grid(self) -> int:
        """Side of the output grid (3x3 convolutions with padding 1)."""
        if self.out_grid is not None:
            return self.out_grid
        side = self.image_size
        for stride in self.strides:
            side = (side - 1) // stride + 1
        return side


class CNNEncoder(nn.Module):
    """Convolutions -> a grid of features (``tokens``) -> one vector per image (``forward``)."""

    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = config.in_channels
        for c_out, stride in zip(config.channels, config.strides):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.ReLU()]
            c_in = c_out
        self.convs = nn.Sequential(*layers)
        # Max, not mean: "is there a circle in this region" should not fade when the circle is small.
        self.region_pool = nn.AdaptiveMaxPool2d(config.out_grid) if config.out_grid else nn.Identity()
        width = c_in * config.grid**2 if config.pool == "flatten" else c_in
        self.pool = nn.Sequential(nn.Linear(width, config.d_out), nn.ReLU())
        self.d_tokens = c_in

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C', h, w)."""
        if images.dim() != 4 or images.size(1) != self.config.in_channels:
            raise ValueError(
                f"expected images (B, {self.config.in_channels}, H, W), got shape {tuple(images.shape)}"
            )
        return self.region_pool(self.convs(images))

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, h*w, C'): one vector per grid cell, row by row."""
        return self.feature_map(images).flatten(2).transpose(1, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        fmap = self.feature_map(images)  # (B, C', h, w)
        flat = fmap.flatten(1) if self.config.pool == "flatten" else fmap.mean(dim=(2, 3))
        return self.pool(flat)  # (B, d_out)


class PatchEmbedding(nn.Module):
    """Cut the image into non-overlapping ``p x p`` patches and project each to ``d_model``.

    A convolution with kernel = stride = p is exactly "flatten each patch, multiply by one matrix":
    the same weights applied to every patch, with no overlap.
    """

    def __init__(self, in_channels: int, patch_size: int, d_model: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, d_model, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        H, W = images.shape[-2:]
        if H % self.patch_size or W % self.patch_size:
            raise ValueError(f"image size {H}x{W} is not divisible by the patch size {self.patch_size}")
        return self.proj(images).flatten(2).transpose(1, 2)  # (B, P, d) with P = (H/p) * (W/p)


@dataclass
class ViTConfig:
    """A Vision Transformer.

    Attributes:
        image_size, patch_size, in_channels: the input and how it is cut (P = (image/patch)^2 patches).
        d_model, n_heads, n_layers, d_ff: the Transformer (see ``TransformerConfig``).
        positions: "learned" (ViT) or "none" (the model then sees a bag of patches).
        cls_token: prepend a learned [CLS] token and use its output as the image vector; without
            it the image vector is the mean of the patch outputs.
    """

    image_size: int = 24
    patch_size: int = 4
    in_channels: int = 3
    d_model: int = 32
    n_heads: int = 2
    n_layers: int = 2
    d_ff: int | None = 64
    positions: str = "learned"
    cls_token: bool = True
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size={self.image_size} is not divisible by patch_size={self.patch_size}")

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


class ViT(nn.Module):
    """Patches -> [CLS] + patch tokens + positions -> Transformer blocks."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = PatchEmbedding(config.in_channels, config.patch_size, config.d_model)
        self.cls = nn.Parameter(torch.zeros(1, 1, config.d_model)) if config.cls_token else None
        self.transformer = Transformer(
            TransformerConfig(
                d_model=config.d_model,
                n_heads=config.n_heads,
                n_layers=config.n_layers,
                d_ff=config.d_ff,
                max_len=config.n_patches + 1,
                positions=config.positions,
                dropout=config.dropout,
            )
        )
        self.d_tokens = config.d_model

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, 1 + P, d) with the [CLS] output first (or (B, P, d) without it)."""
        x = self.patch_embed(images)  # (B, P, d)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.size(0), -1, -1), x], dim=1)  # (B, 1 + P, d)
        return self.transformer(x)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """The patch outputs only: (B, P, d)."""
        out = self.encode(images)
        return out[:, 1:] if self.cls is not None else out

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.encode(images)
        return out[:, 0] if self.cls is not None else out.mean(dim=1)  # (B, d)


class ImageClassifier(nn.Module):
    """An image encoder (anything mapping images to (B, d)) followed by a linear layer to class logits."""

    def __init__(self, encoder: nn.Module, d: int, n_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(d, n_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(images))  # (B, n_classes)
