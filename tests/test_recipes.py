"""The recipes' structure: every chapter reads its settings from its recipe, the engine knows no
chapter, and no public name is defined twice in the package."""

import ast
import dataclasses
from collections import defaultdict
from pathlib import Path

import pytest

from mmlab.recipes.base import RunSettings
from mmlab.recipes.registry import JOBS, resolve_settings
from mmlab.train.trainer import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mmlab"
# generic entry points every recipe or command line may define
GENERIC = {"main", "build", "run", "app", "parse_args"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def test_no_public_name_is_defined_twice():
    defined = defaultdict(list)
    for path, tree in _modules():
        for node in tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and not node.name.startswith("_"):
                if node.name not in GENERIC:
                    defined[node.name].append(str(path.relative_to(ROOT)))
    twice = {name: paths for name, paths in defined.items() if len(paths) > 1}
    assert not twice, f"defined in more than one module: {twice}"


def test_the_engine_imports_no_chapter():
    allowed = ("mmlab.train", "mmlab.device", "mmlab.viz")
    wrong = []
    for path, tree in _modules():
        if path.parent.name != "train" or path.name == "__main__.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mmlab"):
                if not node.module.startswith(allowed):
                    wrong.append(f"{path.name} imports {node.module}")
    assert not wrong


@pytest.mark.parametrize("name", sorted(JOBS))
def test_each_chapter_reads_its_settings_from_its_recipe(name):
    """The chapter's config cell is the recipe's settings (one copy), at SCALE."""
    recipe = JOBS[name]
    source = (ROOT / "source" / "chapters" / f"{recipe.chapter}.py").read_text(encoding="utf-8")
    assert 'SCALE = "cpu"' in source
    assert f'resolve_settings("{name}", SCALE' in source, f"chapter {recipe.chapter} does not read {name!r}"


@pytest.mark.parametrize("name", sorted(JOBS))
def test_settings_are_typed_and_the_presets_override_them(name):
    recipe = JOBS[name]
    cpu = resolve_settings(name)
    assert type(cpu) is recipe.settings and cpu == recipe.settings()
    assert isinstance(cpu, TrainConfig) == recipe.uses_trainer
    assert isinstance(cpu, TrainConfig | RunSettings)
    gpu = resolve_settings(name, "gpu")
    changed = {f.name for f in dataclasses.fields(cpu) if getattr(cpu, f.name) != getattr(gpu, f.name)}
    assert changed and changed <= set(recipe.gpu)


def test_chapter_06_gpu_run_is_the_jobs():
    """The drift this layout removes: chapter 06 at SCALE = "gpu" built its GPT without the preset's dropout."""
    from mmlab.recipes.gpt import gpt_config

    settings = resolve_settings("gpt", "gpu")
    assert gpt_config(settings, 100).dropout == settings.dropout == 0.2
    source = (ROOT / "source" / "chapters" / "06_gpt.py").read_text(encoding="utf-8")
    assert 'dropout=settings["dropout"]' in source
