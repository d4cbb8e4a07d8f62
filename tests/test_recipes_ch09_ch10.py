"""Chapters 09 and 10 train what their recipes build (issue 15: one copy of each setting).

Each chapter's source runs here up to its training cell with a recording stand-in for the Trainer
(nothing is trained); every run it asked for is compared with what ``build_job`` makes from the
recipe: the same model (class, config, parameter shapes), loss, training and test tensors, batch
size and loop settings.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest
import torch

import mmlab.recipes.fusion
import mmlab.train.trainer
from mmlab.models.fusion import EarlyLateFusion
from mmlab.recipes.registry import build_job, resolve_settings

ROOT = Path(__file__).resolve().parents[1]
WIDTH = re.compile(r"\b(d_model|d|hidden|d_ff|n_heads|n_layers|channels|d_out|embed_dim)\s*=\s*\(?\d")


class _History:
    def last(self, key: str, split: str = "eval") -> float:
        return 1.0


class RecordingTrainer:
    """Takes the Trainer's arguments and records them; ``fit`` trains nothing."""

    runs: list[RecordingTrainer] = []

    def __init__(self, model, loss_fn, train_loader, eval_loader=None, config=None) -> None:
        self.model, self.loss_fn, self.config = model, loss_fn, config
        self.train_loader, self.eval_loader = train_loader, eval_loader
        self.train_seconds = 0.0
        RecordingTrainer.runs.append(self)

    def fit(self) -> _History:
        return _History()


def _code_cells(chapter: str) -> list[str]:
    source = (ROOT / "source" / "chapters" / f"{chapter}.py").read_text(encoding="utf-8")
    cells = re.split(r"^# %%.*$", source, flags=re.MULTILINE)
    headers = re.findall(r"^# %%.*$", source, flags=re.MULTILINE)
    return [cell for header, cell in zip(headers, cells[1:]) if "[markdown]" not in header]


def run_chapter_until(chapter: str, marker: str, monkeypatch) -> tuple[dict, list[RecordingTrainer]]:
    """Execute the chapter's code cells up to and including the first one containing ``marker``."""
    matplotlib.use("Agg")
    monkeypatch.setattr(mmlab.train.trainer, "Trainer", RecordingTrainer)
    monkeypatch.setattr(mmlab.recipes.fusion, "Trainer", RecordingTrainer)  # its region encoder
    monkeypatch.setattr(RecordingTrainer, "runs", [])
    namespace: dict = {"__name__": "chapter"}
    for cell in _code_cells(chapter):
        exec(compile(cell, chapter, "exec"), namespace)
        if marker in cell:
            return namespace, RecordingTrainer.runs
    raise AssertionError(f"no cell of {chapter} contains {marker!r}")


def _same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], keys) -> None:
    for key in keys:
        assert torch.equal(a[key], b[key]), key


def assert_same_run(run: RecordingTrainer, job, data_keys) -> None:
    """The chapter's run (recorded) and the recipe's job train the same thing."""
    assert type(run.model) is type(job.model)
    shapes = {k: v.shape for k, v in run.model.state_dict().items()}
    assert shapes == {k: v.shape for k, v in job.model.state_dict().items()}
    assert run.loss_fn is job.loss_fn
    assert run.config == job.config
    assert run.train_loader.batch_size == job.train_loader.batch_size and run.train_loader.shuffle
    _same_tensors(run.train_loader.tensors, job.train_loader.tensors, data_keys)
    _same_tensors(run.eval_loader.tensors, job.eval_loader.tensors, data_keys)


@pytest.mark.parametrize("chapter", ["09_image_encoders", "10_multimodal_fusion"])
def test_chapter_types_no_model_size(chapter):
    """Widths, depths and heads come from the recipe's settings, never as numbers in the chapter."""
    source = (ROOT / "source" / "chapters" / f"{chapter}.py").read_text(encoding="utf-8")
    assert not WIDTH.findall(source)
    assert "Config()" not in source  # a config's defaults are not the recipe's settings


def test_chapter_09_trains_what_the_vit_recipe_builds(monkeypatch):
    chapter, runs = run_chapter_until("09_image_encoders", "shape_seeds = ", monkeypatch)
    order = [(kind, data) for data in ("digits", "shapes") for kind in ("CNN", "ViT")]
    order += [(kind, "shapes") for kind in ("CNN", "ViT") for _ in (1, 2)]  # the shapes' seeds 1 and 2
    assert len(runs) == len(order)
    jobs = {}
    for run, (kind, data) in zip(runs, order):
        if (kind, data) not in jobs:
            jobs[kind, data] = build_job("vit", overrides={"encoder": kind.lower(), "data": data})
        job = jobs[kind, data]
        assert run.model.encoder.config == job.model.encoder.config
        assert_same_run(run, job, ["images", "labels"])
    assert chapter["VIT"] == resolve_settings("vit")  # the default job is the chapter's shapes ViT


def test_chapter_10_trains_what_the_fusion_recipe_builds(monkeypatch):
    chapter, runs = run_chapter_until("10_multimodal_fusion", "train_rows(MODELS[5:])", monkeypatch)
    settings = resolve_settings("fusion")
    assert chapter["FUSION"] == settings
    encoder_run, runs = runs[0], list(runs[1:])
    seeds, models = chapter["SEEDS"], chapter["MODELS"]
    plan = [name for name in models for _ in (seeds[:1] if name in chapter["ONE_SEED"] else seeds)]
    assert len(seeds) >= 3 and len(runs) == len(plan)
    data_keys = ["images", "questions", "question_mask", "answers", "types"]
    jobs = {}
    for run, name in zip(runs, plan):
        if name not in jobs:
            RecordingTrainer.runs.clear()
            overrides = (
                {"encoder_steps": 1} if name == chapter["HYBRID"] else {"model": name, "encoder_steps": 1}
            )
            jobs[name] = build_job("fusion", overrides=overrides), RecordingTrainer.runs[0]
        job, recipe_encoder_run = jobs[name]
        assert run.model.config == job.model.config == mmlab.recipes.fusion.fusion_config(settings)
        if name == chapter["HYBRID"]:  # trained models combined: only the two weights learn
            assert isinstance(run.model, EarlyLateFusion)
            assert run.config.max_steps == settings.hybrid_steps
            continue
        assert_same_run(run, job, data_keys)
    # the region encoder every model reads: same model, data and loop as the recipe's
    assert type(encoder_run.model) is type(recipe_encoder_run.model)
    assert encoder_run.config == mmlab.recipes.fusion.encoder_run(settings)
    assert encoder_run.train_loader.batch_size == recipe_encoder_run.train_loader.batch_size
    _same_tensors(encoder_run.train_loader.tensors, recipe_encoder_run.train_loader.tensors, data_keys)
