"""Chapter 09's recipe (job ``vit``): a Vision Transformer classifies generated shapes (or
scikit-learn's 8 x 8 digits)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmlab.data.multimodal import image_tensors, make_digit_captions, make_shape_classification
from mmlab.models.vision import ImageClassifier, ViT, ViTConfig
from mmlab.recipes.base import Job, Recipe, Settings, dict_loader, trainer_config
from mmlab.train.trainer import TrainConfig

__all__ = ["RECIPE", "ViTSettings", "build", "image_classification_loss"]


@dataclass(repr=False)
class ViTSettings(Settings, TrainConfig):
    """Chapter 09's shapes run."""

    data: str = "shapes"  # "shapes" (24 x 24, three kinds) or "digits" (8 x 8, ten classes)
    n_train: int = 1500
    n_test: int = 500
    patch_size: int | None = None  # None: 4 for the 24 x 24 shapes, 2 for the 8 x 8 digits
    d_model: int = 32
    n_heads: int = 2
    n_layers: int = 2
    d_ff: int = 64
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


def image_classification_loss(model: nn.Module, batch: dict[str, torch.Tensor]):
    """Cross-entropy and accuracy of the image classifier on ``{"images", "labels"}`` batches."""
    logits, labels = model(batch["images"]), batch["labels"]  # (B, C), (B,)
    return F.cross_entropy(logits, labels), {"accuracy": (logits.argmax(-1) == labels).float().mean()}


def build(s: ViTSettings) -> Job:
    if s.data == "shapes":
        train = image_tensors(make_shape_classification(s.n_train, seed=0))
        test = image_tensors(make_shape_classification(s.n_test, seed=1))
        n_classes = 3
    elif s.data == "digits":
        digits = image_tensors(make_digit_captions(seed=0))  # all 1,797; n_test is what is left
        train = {k: v[: s.n_train] for k, v in digits.items()}
        test = {k: v[s.n_train :] for k, v in digits.items()}
        n_classes = 10
    else:
        raise ValueError(f"data must be 'shapes' or 'digits', got {s.data!r}")
    channels, size = train["images"].shape[1], train["images"].shape[-1]
    config = ViTConfig(
        image_size=size,
        patch_size=s.patch_size or (4 if s.data == "shapes" else 2),
        in_channels=channels,
        d_model=s.d_model,
        n_heads=s.n_heads,
        n_layers=s.n_layers,
        d_ff=s.d_ff,
    )
    model = ImageClassifier(ViT(config), config.d_model, n_classes)
    train_loader = dict_loader(train, s.batch_size, shuffle=True)
    return Job(model, image_classification_loss, train_loader, dict_loader(test, 512), trainer_config(s))


RECIPE = Recipe("vit", "09_image_encoders", ViTSettings, GPU, MULTI_GPU, build=build)
