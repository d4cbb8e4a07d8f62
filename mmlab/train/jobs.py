"""Each chapter's training job, runnable outside the notebook and at three scales.

A job turns a flat dictionary of settings into a model, a loss function, data loaders and a
:class:`TrainConfig`. Settings whose name is a ``TrainConfig`` field (``max_steps``, ``lr``, ...)
configure the loop; the others configure the model and data. Every job has three presets:

* ``cpu``: exactly what the chapter notebook runs (minutes on a laptop);
* ``gpu``: a wider, longer run for one GPU (mixed precision and fused AdamW come from the device);
* ``multi-gpu``: the ``gpu`` run with the per-process batch for ``torchrun --nproc_per_node 8``.

``python -m mmlab.train gpt --scale gpu --set max_steps=5000`` runs one (see ``mmlab/train/__main__.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.utils.data import DataLoader

from mmlab.train.trainer import LossFn, TrainConfig

__all__ = ["JOBS", "SCALES", "TRAIN_FIELDS", "Job", "JobSpec", "build_job", "resolve_settings"]

SCALES = ("cpu", "gpu", "multi-gpu")
TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


@dataclass
class Job:
    """What the Trainer needs: the model, its loss, the data and the loop settings."""

    model: nn.Module
    loss_fn: LossFn
    train_loader: DataLoader
    eval_loader: DataLoader | None
    config: TrainConfig


@dataclass(frozen=True)
class JobSpec:
    """A job's builder, its chapter and its settings at each scale."""

    chapter: str
    build: Callable[[dict[str, Any]], tuple[nn.Module, LossFn, DataLoader, DataLoader | None]]
    presets: dict[str, dict[str, Any]]


def _sort_job(settings: dict[str, Any]):
    """Chapter 03: a Transformer encoder sorts the letters of a word."""
    from mmlab.data.synthetic import CharTokenizer, make_task
    from mmlab.models.encoder import EncoderClassifier, EncoderConfig, token_classification_loss
    from mmlab.models.transformer import TransformerConfig

    tokenizer = CharTokenizer()
    train = make_task("sort", settings["n_train"], tokenizer.vocab_size, 2, settings["max_len"], seed=1)
    test = make_task("sort", settings["n_test"], tokenizer.vocab_size, 2, settings["max_len"], seed=2)
    transformer = TransformerConfig(
        d_model=settings["d_model"],
        n_heads=settings["n_heads"],
        n_layers=settings["n_layers"],
        max_len=settings["max_len"],
    )
    model = EncoderClassifier(
        EncoderConfig(tokenizer.vocab_size, tokenizer.vocab_size, transformer=transformer)
    )
    train_loader = DataLoader(train.dataset(), batch_size=settings["batch_size"], shuffle=True)
    test_loader = DataLoader(test.dataset(), batch_size=500)
    return model, token_classification_loss, train_loader, test_loader


def _gpt_job(settings: dict[str, Any]):
    """Chapter 06: a character-level mini-GPT on a text file (default: Python's documentation)."""
    from pathlib import Path

    from mmlab.data.lm import lm_loaders, pydoc_corpus
    from mmlab.data.tokenizers import CharTokenizer
    from mmlab.models.gpt import GPT, GPTConfig, next_token_loss

    path = settings.get("text")
    text = Path(path).read_text(encoding="utf-8") if path else pydoc_corpus()
    tokenizer = CharTokenizer.from_text(text)
    train_loader, val_loader = lm_loaders(
        tokenizer.encode(text), settings["block_size"], settings["batch_size"], val_fraction=0.1, seed=0
    )
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size,
        block_size=settings["block_size"],
        n_layer=settings["n_layer"],
        n_head=settings["n_head"],
        n_embd=settings["n_embd"],
        dropout=settings["dropout"],
    )
    return GPT(config), next_token_loss, train_loader, val_loader


JOBS: dict[str, JobSpec] = {
    "sort": JobSpec(
        chapter="03_attention_transformer",
        build=_sort_job,
        presets={
            "cpu": dict(
                n_train=20000,
                n_test=2000,
                max_len=8,
                d_model=64,
                n_heads=4,
                n_layers=2,
                batch_size=64,
                max_steps=600,
                lr=3e-3,
                warmup_steps=50,
                eval_every=100,
            ),
            "gpu": dict(
                n_train=200000,
                n_test=5000,
                max_len=16,
                d_model=256,
                n_heads=8,
                n_layers=4,
                batch_size=256,
                max_steps=5000,
                lr=1e-3,
                warmup_steps=200,
                eval_every=500,
            ),
            "multi-gpu": dict(batch_size=32),
        },
    ),
    "gpt": JobSpec(
        chapter="06_gpt",
        build=_gpt_job,
        presets={
            "cpu": dict(
                text=None,
                block_size=64,
                batch_size=32,
                n_layer=2,
                n_head=4,
                n_embd=64,
                dropout=0.0,
                max_steps=600,
                lr=3e-3,
                warmup_steps=50,
                betas=(0.9, 0.99),
                weight_decay=0.1,
                eval_every=100,
                log_every=20,
            ),
            "gpu": dict(
                block_size=256,
                batch_size=64,
                n_layer=6,
                n_head=6,
                n_embd=384,
                dropout=0.2,
                max_steps=5000,
                lr=1e-3,
                warmup_steps=100,
                eval_every=500,
                eval_batches=50,
            ),
            "multi-gpu": dict(batch_size=8),
        },
    ),
}


def resolve_settings(job: str, scale: str = "cpu", overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings of ``job`` at ``scale``: the cpu preset, updated by the gpu preset for "gpu",
    by both gpu and multi-gpu presets for "multi-gpu", then by ``overrides``."""
    if job not in JOBS:
        raise KeyError(f"unknown job {job!r}; choose from {', '.join(sorted(JOBS))}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose from {', '.join(SCALES)}")
    presets = JOBS[job].presets
    settings = dict(presets["cpu"])
    for level in SCALES[1 : SCALES.index(scale) + 1]:
        settings.update(presets.get(level, {}))
    unknown = set(overrides or {}) - set(settings) - TRAIN_FIELDS
    if unknown:
        raise KeyError(
            f"unknown setting(s) {sorted(unknown)} for job {job!r}; known: {sorted(set(settings) | TRAIN_FIELDS)}"
        )
    settings.update(overrides or {})
    return settings


def build_job(job: str, scale: str = "cpu", overrides: dict[str, Any] | None = None) -> Job:
    """Build ``job`` at ``scale`` with ``overrides`` (``TrainConfig`` fields or the job's own settings)."""
    settings = resolve_settings(job, scale, overrides)
    train_settings = {k: v for k, v in settings.items() if k in TRAIN_FIELDS}
    job_settings = {k: v for k, v in settings.items() if k not in TRAIN_FIELDS}
    model, loss_fn, train_loader, eval_loader = JOBS[job].build(job_settings)
    return Job(model, loss_fn, train_loader, eval_loader, TrainConfig(**train_settings))
