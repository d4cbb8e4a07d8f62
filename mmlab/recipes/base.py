"""What every chapter's recipe is made of (all chapters; the registry is :mod:`mmlab.recipes.registry`).

A recipe is one module per chapter (``mmlab/recipes/gpt.py`` for chapter 06, ``mmlab/align/rlhf.py``
for chapter 08, ...) holding

* a typed settings dataclass whose defaults are the ``cpu`` preset: exactly what the chapter's notebook
  runs. A job trained by the :class:`~mmlab.train.Trainer` has settings that extend
  :class:`~mmlab.train.TrainConfig` (every loop setting can be overridden); a job with its own loop
  or several stages extends :class:`RunSettings`. Either way every job takes ``device`` and
  ``progress``;
* the ``gpu`` and ``multi-gpu`` presets as small dicts of overrides of those defaults;
* ``build(settings)`` returning what the Trainer needs (:class:`Job`), or ``run(settings)`` training
  in one process and returning ``(model, final metrics)``;
* a :class:`Recipe` naming all of this, which the registry collects.

Settings read as attributes (``settings.lr``) or, where a cell passes them on as a dict, as items
(``settings["lr"]``). The model's width is called ``d_model`` in every recipe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mmlab.train.trainer import LossFn, TrainConfig

__all__ = [
    "SCALES",
    "TRAIN_FIELDS",
    "Job",
    "Recipe",
    "RunSettings",
    "Settings",
    "dict_loader",
    "trainer_config",
]

SCALES = ("cpu", "gpu", "multi-gpu")
TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


class Settings:
    """Mixin of every recipe's settings dataclass: item access and a short summary."""

    def __getitem__(self, name: str) -> Any:
        if name not in {f.name for f in dataclasses.fields(self)}:
            raise KeyError(name)
        return getattr(self, name)

    def summary(self) -> dict[str, Any]:
        """The settings a reader needs (``--list`` and ``print`` show these): those the recipe declares,
        and loop settings that differ from the Trainer's defaults."""
        declared = {
            name
            for cls in type(self).__mro__
            if cls is not TrainConfig
            for name in vars(cls).get("__annotations__", {})
        }
        loop_defaults = TrainConfig()
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name in declared or getattr(self, f.name) != getattr(loop_defaults, f.name)
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.summary().items())})"


@dataclass(repr=False)
class RunSettings(Settings):
    """The settings every job takes, also one with its own loop (PPO) or several stages (the VLM)."""

    device: str | None = None  # None: the best available
    progress: bool = True  # progress bars and log lines


def trainer_config(settings: TrainConfig) -> TrainConfig:
    """The :class:`TrainConfig` part of a Trainer recipe's settings."""
    return TrainConfig(**{name: getattr(settings, name) for name in TRAIN_FIELDS})


@dataclass
class Job:
    """What the Trainer needs: the model, its loss, the data and the loop settings."""

    model: nn.Module
    loss_fn: LossFn
    train_loader: Any  # a DataLoader, or a chapter's own iterable of batches
    eval_loader: Any
    config: TrainConfig


@dataclass(frozen=True)
class Recipe:
    """A job: its name, chapter, settings class (defaults = ``cpu``), the ``gpu`` and ``multi-gpu``
    overrides, and either ``build`` (one Trainer run, which torchrun can scale) or ``run`` (its own
    loop or several stages: one process, no checkpoints). ``aliases`` map older setting names to
    current ones, so command lines written before a rename keep working."""

    name: str
    chapter: str
    settings: type
    gpu: dict[str, Any]
    multi_gpu: dict[str, Any] | None = None  # None: no multi-gpu variant (a run job)
    build: Callable[[Any], Job] | None = None
    run: Callable[[Any], tuple[nn.Module, dict[str, float]]] | None = None
    aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.build is None) == (self.run is None):
            raise ValueError(f"recipe {self.name!r} needs exactly one of build (a Trainer job) or run")

    @property
    def uses_trainer(self) -> bool:
        return self.build is not None

    def resolve(self, scale: str = "cpu", overrides: dict[str, Any] | None = None):
        """The settings at ``scale`` (defaults, then the gpu and the multi-gpu overrides), then ``overrides``."""
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; choose from {', '.join(SCALES)}")
        changes: dict[str, Any] = {}
        if scale != "cpu":
            changes.update(self.gpu)
        if scale == "multi-gpu":
            changes.update(self.multi_gpu or {})
        given = {self.aliases.get(k, k): v for k, v in (overrides or {}).items()}
        known = {f.name for f in dataclasses.fields(self.settings)}
        unknown = set(given) - known
        if unknown:
            names = sorted(k for k, v in (overrides or {}).items() if self.aliases.get(k, k) in unknown)
            raise KeyError(f"unknown setting(s) {names} for job {self.name!r}; known: {sorted(known)}")
        return self.settings(**{**changes, **given})


class _TensorDict(Dataset):
    """Rows of a dict of equally long tensors, as dicts (what ``torchrun`` needs: a real DataLoader)."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[index] for k, v in self.tensors.items()}


def dict_loader(tensors: dict[str, torch.Tensor], batch_size: int, shuffle: bool = False):
    """Batches of ``tensors`` as dicts: the chapters' fast :class:`TensorLoader` in one process, a
    ``DataLoader`` under ``torchrun`` (the Trainer shards only DataLoaders across processes)."""
    from mmlab.data.multimodal import TensorLoader
    from mmlab.train.distributed import launched_by_torchrun

    if launched_by_torchrun():
        return DataLoader(_TensorDict(tensors), batch_size=batch_size, shuffle=shuffle)
    return TensorLoader(tensors, batch_size, shuffle=shuffle)
