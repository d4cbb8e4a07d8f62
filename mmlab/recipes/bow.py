"""Chapter 01's recipe (job ``bow``): a bag-of-words topic classifier on generated sentences, trained
with Adam and the course's own ``cross_entropy``."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torch.utils.data import DataLoader

from mmlab.data.toy_text import ToyTextData, load_topics
from mmlab.losses import cross_entropy
from mmlab.models.bow import BoWClassifier, BoWConfig
from mmlab.recipes.base import Job, Recipe, Settings, trainer_config
from mmlab.train.trainer import TrainConfig

__all__ = ["BoWSettings", "RECIPE", "bow_config", "bow_loss", "build", "topic_loaders", "topics_data"]


@dataclass(repr=False)
class BoWSettings(Settings, TrainConfig):
    """Chapter 01's config cell (Adam's run)."""

    n_train: int = 2000  # generated training sentences
    n_test: int = 800  # held-out sentences, from templates never seen in training
    d_model: int = 16  # size of each word vector
    batch_size: int = 32
    max_steps: int = 300
    lr: float = 1e-2
    eval_every: int = 25
    log_every: int = 10


GPU = dict(
    n_train=100000,
    n_test=10000,
    d_model=256,
    batch_size=512,
    max_steps=5000,
    lr=3e-3,
    warmup_steps=200,
    eval_every=500,
)
MULTI_GPU = dict(batch_size=64)


def bow_loss(model: nn.Module, batch):
    """The course's own ``cross_entropy`` on (ids (B, T), labels (B,)) batches, and the accuracy."""
    ids, y = batch  # (B, T), (B,)
    logits = model(ids)  # (B, C)
    return cross_entropy(logits, y), {"accuracy": (logits.argmax(-1) == y).float().mean()}


def topics_data(s: BoWSettings) -> ToyTextData:
    """The generated topic sentences: ``s.n_train`` training and ``s.n_test`` held-out ones."""
    return load_topics(s.n_train, s.n_test, seed=0)


def topic_loaders(s: BoWSettings, data: ToyTextData) -> tuple[DataLoader, DataLoader]:
    """Shuffled training batches of ``s.batch_size`` and held-out batches of 256."""
    return DataLoader(data.train, batch_size=s.batch_size, shuffle=True), DataLoader(
        data.test, batch_size=256
    )


def bow_config(s: BoWSettings, data: ToyTextData) -> BoWConfig:
    """The classifier these settings describe for ``data`` (unknown words are left out of the mean)."""
    return BoWConfig(len(data.vocab), len(data.classes), s.d_model, unk_id=data.vocab.unk_id)


def build(s: BoWSettings) -> Job:
    data = topics_data(s)
    train_loader, test_loader = topic_loaders(s, data)
    return Job(BoWClassifier(bow_config(s, data)), bow_loss, train_loader, test_loader, trainer_config(s))


RECIPE = Recipe(
    "bow", "01_cross_entropy", BoWSettings, GPU, MULTI_GPU, build=build, aliases={"embed_dim": "d_model"}
)
