"""Chapter 10's recipe (job ``fusion``): the cross-attention (intermediate) fusion model answers questions
about shape scenes.

As in the chapter, a region CNN is first trained (``encoder_steps``) to name the kind and colour in each
grid cell, then frozen; every image's region vectors are computed once and the job trains the fusion
model on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from datasets import Dataset

from mmlab.data.multimodal import make_vqa, vqa_tensors
from mmlab.models.fusion import FusionConfig, build_fusion_model, vqa_loss
from mmlab.models.regions import RegionEncoder, region_loss
from mmlab.recipes.base import Job, Recipe, Settings, dict_loader, trainer_config
from mmlab.train.trainer import TrainConfig, Trainer

__all__ = ["FusionSettings", "RECIPE", "build", "encoder_run", "fusion_config", "vqa_datasets"]


@dataclass(repr=False)
class FusionSettings(Settings, TrainConfig):
    """Chapter 10's config cell (its hybrid model)."""

    model: str = "cross-attention"  # one of mmlab.models.fusion.MODEL_NAMES
    n_train_scenes: int = 1500  # each scene gets up to 4 questions
    n_test_scenes: int = 400
    d_model: int = 32
    n_heads: int = 2
    n_layers: int = 1
    hidden: int = 64  # the MLP answer head
    encoder_steps: int = 200
    encoder_lr: float = 5e-3
    encoder_batch_size: int = 64
    hybrid_steps: int = 50  # the chapter's early + late hybrid learns only its two weights
    batch_size: int = 256
    max_steps: int = 400
    lr: float = 3e-3
    warmup_steps: int = 20


GPU = dict(
    n_train_scenes=30000,
    n_test_scenes=2000,
    d_model=128,
    n_heads=4,
    n_layers=2,
    hidden=256,
    encoder_steps=1000,
    batch_size=512,
    max_steps=5000,
    lr=1e-3,
    warmup_steps=200,
    eval_every=500,
)
MULTI_GPU = dict(batch_size=64)


def fusion_config(s: FusionSettings) -> FusionConfig:
    """The sizes every fusion model of the chapter shares."""
    return FusionConfig(d=s.d_model, n_heads=s.n_heads, n_layers=s.n_layers, hidden=s.hidden)


def vqa_datasets(s: FusionSettings) -> tuple[Dataset, Dataset]:
    """The training and the held-out test questions (fixed seeds: every run sees the same scenes)."""
    return make_vqa(s.n_train_scenes, seed=0), make_vqa(s.n_test_scenes, seed=1000)


def encoder_run(s: FusionSettings) -> TrainConfig:
    """The loop that trains the region encoder before the fusion models."""
    return TrainConfig(max_steps=s.encoder_steps, lr=s.encoder_lr, progress=s.progress, device=s.device)


def build(s: FusionSettings) -> Job:
    # The chapter reseeds before building each fusion model, after training the encoder: restore the
    # random state this job started from (the CLI's --seed) at that point, so the cpu run is the chapter's.
    start_state = torch.random.get_rng_state()
    train, test = (vqa_tensors(ds) for ds in vqa_datasets(s))
    config = fusion_config(s)
    encoder = RegionEncoder(config.image)
    loader = dict_loader(train, s.encoder_batch_size, shuffle=True)
    Trainer(encoder, region_loss, loader, None, encoder_run(s)).fit()
    encoder = encoder.to("cpu").eval()
    with torch.no_grad():
        train["regions"], test["regions"] = encoder(train["images"]), encoder(test["images"])
    torch.random.set_rng_state(start_state)
    model = build_fusion_model(s.model, config, encoder)
    train_loader = dict_loader(train, s.batch_size, shuffle=True)
    return Job(model, vqa_loss, train_loader, dict_loader(test, 1024), trainer_config(s))


RECIPE = Recipe(
    "fusion", "10_multimodal_fusion", FusionSettings, GPU, MULTI_GPU, build=build, aliases={"d": "d_model"}
)
