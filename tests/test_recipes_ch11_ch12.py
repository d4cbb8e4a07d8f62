"""What chapters 11 and 12 train equals what their recipes build (issue: one copy of each setting).

Each chapter's source runs cell by cell with the Trainer intercepted: every run it starts is
recorded (model, loss, data, loop settings) instead of, or as well as, trained. Chapter 11's
first digits run and first shapes run must be the runs ``mmlab.recipes.clip.build`` and
``build_shapes`` make from the chapter's settings; chapter 12's stage runs must be the runs
``mmlab.recipes.vlm.train_vlm`` makes, in the same order (on tiny settings so it takes seconds).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch

from mmlab.recipes import vlm as vlm_recipe
from mmlab.recipes.clip import build, build_shapes
from mmlab.recipes.registry import resolve_settings
from mmlab.train import trainer as trainer_module

ROOT = Path(__file__).resolve().parents[1]
# slow cells that train nothing: loading MiniLM, launching a demo, converting to transformers' LLaVA
SKIP = re.compile(r"FrozenMiniLM\(\)|(?<![.\w])show\(|demos\.show\(|to_llava\(")


class _Stop(Exception):
    """Raised instead of training: the run was recorded."""


def code_cells(chapter: str) -> list[str]:
    text = (ROOT / "source" / "chapters" / f"{chapter}.py").read_text(encoding="utf-8")
    cells = re.split(r"(?m)^# %%.*$", text)
    return [c for c in cells if any(line.strip() and not line.startswith("#") for line in c.splitlines())]


def fingerprint(trainer) -> dict:
    """What a Trainer run is: the model's configuration and parameter shapes, which parameters learn,
    the loss, the training data and batch size, and the loop settings."""
    model, loader = trainer.module, trainer.train_loader
    return {
        "model": type(model).__name__,
        "config": getattr(model, "config", None),
        "shapes": {k: tuple(v.shape) for k, v in model.state_dict().items()},
        "trainable": sorted(n for n, p in model.named_parameters() if p.requires_grad),
        "loss": trainer.loss_fn.__name__,
        "data": {k: v.clone() for k, v in loader.tensors.items()},
        "batch_size": loader.batch_size,
        "loop": dataclasses.asdict(trainer.config),
    }


def assert_same_run(chapter_run: dict, recipe_run: dict, what: str) -> None:
    for key in ("model", "config", "shapes", "trainable", "loss", "batch_size", "loop"):
        assert chapter_run[key] == recipe_run[key], f"{what}: {key} differs"
    assert chapter_run["data"].keys() == recipe_run["data"].keys(), f"{what}: data columns differ"
    for name, tensor in chapter_run["data"].items():
        assert torch.equal(tensor, recipe_run["data"][name]), f"{what}: data column {name!r} differs"


def test_chapter_11_trains_what_the_clip_recipes_build(monkeypatch):
    runs: list[tuple[str, dict]] = []

    def record(self):
        runs.append((current, fingerprint(self)))
        raise _Stop

    monkeypatch.setattr(trainer_module.Trainer, "fit", record)
    namespace: dict = {}
    for current in code_cells("11_clip"):
        if SKIP.search(current):
            continue
        try:
            exec(compile(current, "11_clip", "exec"), namespace)
        except Exception as err:  # _Stop, or a cell that needs a model the intercepted runs did not train
            print(type(err).__name__, err)
        if "def train_shape_clip" in current:
            break
    digits = next(run for cell, run in runs if "clip, history = train_clip(" in cell)
    shapes = next(run for cell, run in runs if "def train_shape_clip" in cell)
    for run, job, what in (
        (digits, build(namespace["DIGITS"]), "digits"),
        (shapes, build_shapes(namespace["SHAPES"]), "shapes"),
    ):
        recipe_run = fingerprint(
            trainer_module.Trainer(job.model, job.loss_fn, job.train_loader, None, job.config)
        )
        assert_same_run(run, recipe_run, what)
    assert namespace["DIGITS"] == resolve_settings("clip")
    assert namespace["SHAPES"] == resolve_settings("clip_shapes")


TINY = dict(
    n_train=40,
    n_test=20,
    region_steps=2,
    text_steps=2,
    lm_steps=2,
    align_steps=2,
    tune_steps=2,
    warmup_steps=0,
    progress=False,
)


def test_chapter_12_trains_what_the_vlm_recipe_runs(monkeypatch):
    """The chapter's stages (on tiny settings) are train_vlm's, in order, with the same data and
    settings; the chapter may add runs (its controls, its seed repeats) around them."""
    runs: list[dict] = []
    fit = trainer_module.Trainer.fit

    def record(self):
        runs.append(fingerprint(self))
        return fit(self)

    monkeypatch.setattr(trainer_module.Trainer, "fit", record)
    tiny = resolve_settings("vlm", "cpu", TINY)
    vlm_recipe.train_vlm(tiny)
    recipe_runs, runs[:] = list(runs), []

    namespace: dict = {}
    for cell in code_cells("12_vision_language_model"):
        if SKIP.search(cell):
            continue
        if "SCALE = " in cell:  # the config cell, on the tiny settings
            cell = cell.replace('resolve_settings("vlm", SCALE)', f'resolve_settings("vlm", SCALE, {TINY!r})')
            assert "TINY" not in cell and repr(TINY) in cell, "chapter 12 reads its settings another way"
        try:
            exec(compile(cell, "12_vision_language_model", "exec"), namespace)
        except AssertionError:  # the chapter's result bars; these runs are two steps long
            pass
    assert namespace["SETTINGS"] == tiny
    chapter_runs = iter(runs)
    for i, recipe_run in enumerate(recipe_runs):  # a subsequence of the chapter's runs
        for chapter_run in chapter_runs:
            if (
                chapter_run["loss"] == recipe_run["loss"]
                and chapter_run["trainable"] == recipe_run["trainable"]
            ):
                assert_same_run(chapter_run, recipe_run, f"recipe run {i} ({recipe_run['loss']})")
                break
        else:
            pytest.fail(
                f"chapter 12 has no run like the recipe's run {i} ({recipe_run['loss']}) in that order"
            )
