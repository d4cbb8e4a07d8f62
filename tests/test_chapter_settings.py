"""Chapters type no training setting: every size, step count and rate comes from the recipe.

A chapter may build its model step by step (that is often the lesson), but the numbers it builds
with are read from its recipe's settings, so the notebook, ``python -m mmlab.train`` and the bench
train the same thing. This test reads every chapter source and fails on a setting of any recipe
(``d_model=64``, ``steps=300``, ``lr=3e-3``...) written as a number in a call that builds a
config (``GPTConfig(...)``, ``TrainConfig(...)``, ``replace(settings, ...)``).

A toy module built only to show shapes or arithmetic, never trained, says so on the call's line
with the comment ``# illustration``; the test lets it keep its small numbers.
"""

import ast
import dataclasses
from pathlib import Path

import pytest

from mmlab.recipes.registry import JOBS

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "source" / "chapters").glob("*.py"))
# settings that are not sizes of what is trained: switches and bookkeeping a cell may set freely
NOT_A_SIZE = {
    "seed", "progress", "log_every", "eval_every", "eval_batches", "checkpoint_every", "device", "amp", "resume",
    "max_new_tokens",  # how much text a cell shows, not what is trained
}  # fmt: skip


def _setting_names() -> set[str]:
    names = set()
    for recipe in JOBS.values():
        names |= {field.name for field in dataclasses.fields(recipe.settings)}
    return names - NOT_A_SIZE


def _builds_settings(node: ast.AST) -> bool:
    """A call that builds a model or training config: ``XConfig(...)``, ``XSettings(...)``, ``replace(...)``."""
    if not isinstance(node, ast.Call):
        return False
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    return name.endswith(("Config", "Settings")) or name == "replace"


def typed_settings(source: str, names: set[str]) -> list[str]:
    """Every ``name=<number>`` keyword argument in ``source`` whose name is a recipe setting."""
    found = []
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if _builds_settings(node) and "# illustration" not in lines[node.lineno - 1]:
            for keyword in node.keywords:
                value = keyword.value
                if isinstance(value, ast.UnaryOp):
                    value = value.operand
                if keyword.arg in names and isinstance(value, ast.Constant):
                    if isinstance(value.value, int | float) and not isinstance(value.value, bool):
                        found.append(f"line {keyword.lineno}: {keyword.arg}={ast.unparse(keyword.value)}")
    return found


def test_the_detector_finds_a_typed_setting():
    names = _setting_names()
    assert typed_settings("model = GPT(GPTConfig(d_model=64, n_layers=2))", names) == [
        "line 1: d_model=64",
        "line 1: n_layers=2",
    ]
    assert typed_settings("model = GPT(GPTConfig(d_model=settings.d_model))", names) == []
    assert typed_settings("toy = Attention(d_model=8)  # illustration", names) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_chapter_types_no_setting(path):
    found = typed_settings(path.read_text(encoding="utf-8"), _setting_names())
    assert not found, f"{path.name} types settings its recipe owns (read them from the recipe): {found}"
