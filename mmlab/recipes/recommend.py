"""Chapter 16a's recipe (job ``two_tower``): a two-tower recommender on the generated interactions.

The catalogue (item texts and hidden vectors) is fixed (seed 0); the users and their interactions
are drawn with the chapter's seed. Item texts are embedded once with the MiniLM
(:func:`mmlab.search.dense.embed_texts`); the item tower maps them into the shared space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mmlab.models.two_tower import TwoTower, TwoTowerConfig, two_tower_loss
from mmlab.recipes.base import Job, Recipe, Settings, dict_loader, trainer_config
from mmlab.search.interactions import Catalogue, Interactions, make_catalogue, make_interactions
from mmlab.train.trainer import TrainConfig

__all__ = [
    "RECIPE",
    "TwoTowerSettings",
    "build",
    "build_two_tower",
    "pair_tensors",
    "recommend_data",
    "two_tower_job",
]


@dataclass(repr=False)
class TwoTowerSettings(Settings, TrainConfig):
    """Chapter 16a's config cell (its recommendation part)."""

    n_users: int = 2000
    n_items: int = 600  # the last n_cold of them are released after the split
    n_cold: int = 100
    mean_events: float = 20.0  # interactions per user, before and after the split
    taste: float = 4.0  # how strongly hidden tastes (vs popularity) drive choices
    svd_rank: int = 16  # the matrix factorisation baseline
    d_model: int = 32
    temperature: float = 0.1
    id_dropout: float = 0.5
    logq_correction: bool = True
    batch_size: int = 512
    max_steps: int = 300
    lr: float = 1e-2


GPU = dict(n_users=50000, n_items=5000, n_cold=500, d_model=64, batch_size=2048, max_steps=3000, lr=3e-3)
MULTI_GPU = dict(batch_size=1024)


def recommend_data(s: TwoTowerSettings, seed: int = 0) -> tuple[Catalogue, Interactions]:
    """The fixed catalogue and the users drawn with ``seed``."""
    catalogue = make_catalogue(s.n_items, s.n_cold, seed=0)
    return catalogue, make_interactions(catalogue, s.n_users, s.mean_events, s.taste, seed=seed)


def pair_tensors(data: Interactions, held_out: bool = False) -> dict[str, torch.Tensor]:
    """The training pairs (or the held-out pairs among warm items) as the Trainer's batches read them."""
    if held_out:
        pairs = np.array([(u, i) for u, items in enumerate(data.test_warm) for i in sorted(items)])
        return {"users": torch.from_numpy(pairs[:, 0]).long(), "items": torch.from_numpy(pairs[:, 1]).long()}
    return {
        "users": torch.from_numpy(data.train[:, 0]).long(),
        "items": torch.from_numpy(data.train[:, 1]).long(),
    }


def build_two_tower(
    s: TwoTowerSettings, catalogue: Catalogue, data: Interactions, item_text: np.ndarray
) -> TwoTower:
    """A fresh two-tower model: item text vectors (n_items, 384), the warm items known, logQ from the
    training pairs (add-one smoothed)."""
    counts = np.bincount(data.train[:, 1], minlength=catalogue.n_items) + 1.0
    config = TwoTowerConfig(
        data.n_users,
        catalogue.n_items,
        item_text.shape[1],
        s.d_model,
        s.id_dropout,
        s.temperature,
        s.logq_correction,
    )
    known = torch.arange(catalogue.n_items) < catalogue.n_warm
    return TwoTower(
        config, torch.from_numpy(item_text), known, torch.from_numpy(np.log(counts / counts.sum()))
    )


def two_tower_job(
    s: TwoTowerSettings, catalogue: Catalogue, data: Interactions, item_text: np.ndarray
) -> Job:
    """The Trainer's job on ``data``: a fresh model, the in-batch softmax, the training pairs shuffled,
    the held-out warm pairs for evaluation (the chapter runs this once per seed)."""
    model = build_two_tower(s, catalogue, data, item_text)
    loader = dict_loader(pair_tensors(data), s.batch_size, shuffle=True)
    held_out = dict_loader(pair_tensors(data, held_out=True), s.batch_size)
    return Job(model, two_tower_loss, loader, held_out, trainer_config(s))


def build(s: TwoTowerSettings) -> Job:
    from mmlab.search.dense import embed_texts

    catalogue, data = recommend_data(s, seed=0)
    return two_tower_job(s, catalogue, data, embed_texts(catalogue.texts))


RECIPE = Recipe("two_tower", "16a_search_recommendation", TwoTowerSettings, GPU, MULTI_GPU, build=build)
