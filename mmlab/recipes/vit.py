"""Chapter 09's recipe (job ``vit``): a Vision Transformer, or the chapter's CNN baseline, classifies
generated shapes or scikit-learn's 8 x 8 digits.

The chapter builds its four runs (CNN and ViT, on digits and on shapes) from these settings with
:func:`image_datasets` and :func:`build_classifier`; ``build`` is the same for the command line
(``python -m mmlab.train vit --set data=digits --set encoder=cnn``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from datasets import Dataset
from torch import nn

from mmlab.data.multimodal import image_tensors, make_digit_captions, make_shape_classification
from mmlab.models.vision import CNNConfig, CNNEncoder, ImageClassifier, ViT, ViTConfig
from mmlab.recipes.base import Job, Recipe, Settings, dict_loader, trainer_config
from mmlab.train.trainer import TrainConfig

__all__ = [
    "IMAGES",
    "RECIPE",
    "ViTSettings",
    "build",
    "build_classifier",
    "cnn_config",
    "image_classification_loss",
    "image_datasets",
    "vit_config",
]

# data -> (channels, image side, classes, patch side of the ViT, strides of the CNN)
IMAGES = {"shapes": (3, 24, 3, 4, (2, 2)), "digits": (1, 8, 10, 2, (1, 2))}


@dataclass(repr=False)
class ViTSettings(Settings, TrainConfig):
    """Chapter 09's runs: the ViT on shapes by default; ``data`` and ``encoder`` pick the others."""

    data: str = "shapes"  # "shapes" (24 x 24, three kinds) or "digits" (8 x 8, ten classes)
    encoder: str = "vit"  # "vit" or "cnn" (the chapter's baseline)
    n_train: int = 1500  # shapes
    n_test: int = 500  # shapes
    n_digits_train: int = 1400  # digits: the first 1,400 of the 1,797 train, the rest test
    patch_size: int | None = None  # None: 4 for the 24 x 24 shapes, 2 for the 8 x 8 digits
    d_model: int = 32  # the image vector (the ViT's tokens, the CNN's pooled output)
    n_heads: int = 2
    n_layers: int = 2
    d_ff: int = 64
    cnn_channels: tuple[int, ...] = (16, 32)
    batch_size: int = 64
    max_steps: int = 300
    lr: float = 3e-3
    warmup_steps: int = 20


GPU = dict(
    n_train=50000,
    n_test=5000,
    d_model=192,
    n_heads=6,
    n_layers=6,
    d_ff=768,
    batch_size=256,
    max_steps=5000,
    lr=1e-3,
    warmup_steps=200,
    eval_every=500,
)
MULTI_GPU = dict(batch_size=32)


def _images(s: ViTSettings) -> tuple[int, int, int, int, tuple[int, ...]]:
    if s.data not in IMAGES:
        raise ValueError(f"data must be one of {sorted(IMAGES)}, got {s.data!r}")
    return IMAGES[s.data]


def image_datasets(s: ViTSettings) -> tuple[Dataset, Dataset]:
    """The training and test images of ``s.data`` (fixed seeds: every run sees the same images)."""
    _images(s)  # checks s.data
    if s.data == "shapes":
        return make_shape_classification(s.n_train, seed=0), make_shape_classification(s.n_test, seed=1)
    digits = make_digit_captions(seed=0)  # all 1,797
    return digits.select(range(s.n_digits_train)), digits.select(range(s.n_digits_train, len(digits)))


def vit_config(s: ViTSettings) -> ViTConfig:
    channels, size, _, patch, _ = _images(s)
    return ViTConfig(
        image_size=size,
        patch_size=s.patch_size or patch,
        in_channels=channels,
        d_model=s.d_model,
        n_heads=s.n_heads,
        n_layers=s.n_layers,
        d_ff=s.d_ff,
    )


def cnn_config(s: ViTSettings) -> CNNConfig:
    channels, size, _, _, strides = _images(s)
    return CNNConfig(
        in_channels=channels, image_size=size, channels=s.cnn_channels, strides=strides, d_out=s.d_model
    )


def build_classifier(s: ViTSettings) -> ImageClassifier:
    """The encoder ``s.encoder`` for ``s.data`` with a linear head over its classes."""
    n_classes = _images(s)[2]
    if s.encoder == "vit":
        return ImageClassifier(ViT(vit_config(s)), s.d_model, n_classes)
    if s.encoder == "cnn":
        return ImageClassifier(CNNEncoder(cnn_config(s)), s.d_model, n_classes)
    raise ValueError(f"encoder must be 'vit' or 'cnn', got {s.encoder!r}")


def image_classification_loss(model: nn.Module, batch: dict[str, torch.Tensor]):
    """Cross-entropy and accuracy of the image classifier on ``{"images", "labels"}`` batches."""
    logits, labels = model(batch["images"]), batch["labels"]  # (B, C), (B,)
    return F.cross_entropy(logits, labels), {"accuracy": (logits.argmax(-1) == labels).float().mean()}


def build(s: ViTSettings) -> Job:
    train, test = (image_tensors(ds) for ds in image_datasets(s))
    model = build_classifier(s)
    train_loader = dict_loader(train, s.batch_size, shuffle=True)
    return Job(model, image_classification_loss, train_loader, dict_loader(test, 512), trainer_config(s))


RECIPE = Recipe("vit", "09_image_encoders", ViTSettings, GPU, MULTI_GPU, build=build)
