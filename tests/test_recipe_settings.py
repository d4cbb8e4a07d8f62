"""Every registered recipe resolves to the settings it had when ``tests/recipe_settings.json`` was
written (before the recipes' model settings were shared, review of session 26): a refactor of the
recipes changes no default and no preset. A deliberate change of a setting updates the file, e.g.
``python tests/test_recipe_settings.py`` (it prints the current values as the file's JSON)."""

import json
import sys
from pathlib import Path

import pytest

from mmlab.align.instruction_tuning import ChatModelSettings
from mmlab.models.gpt import GPTConfig
from mmlab.recipes.gpt import gpt_config
from mmlab.recipes.registry import JOBS, resolve_settings

EXPECTED = json.loads((Path(__file__).with_name("recipe_settings.json")).read_text(encoding="utf-8"))


def current() -> dict[str, str]:
    """``job/scale`` -> the repr of its resolved settings (declared settings and changed loop settings)."""
    scales = {
        name: ("cpu", "gpu") + (("multi-gpu",) if r.multi_gpu is not None else ()) for name, r in JOBS.items()
    }
    return {
        f"{name}/{scale}": repr(resolve_settings(name, scale))
        for name in sorted(JOBS)
        for scale in scales[name]
    }


def test_every_recipe_and_preset_is_listed():
    assert sorted(current()) == sorted(EXPECTED)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_resolved_settings_are_unchanged(key):
    assert current()[key] == EXPECTED[key]


@pytest.mark.parametrize(
    "job, vocab_size, block_size, n_layer, n_head, n_embd",
    [("sft", 68, 24, 2, 4, 48), ("assistant", 143, 32, 2, 4, 48)],
)
def test_the_chat_gpts_keep_their_shape(job, vocab_size, block_size, n_layer, n_head, n_embd):
    settings = resolve_settings(job)
    assert isinstance(settings, ChatModelSettings)
    shape = GPTConfig(
        vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd
    )
    assert settings.model == shape
    gpu = resolve_settings(job, "gpu").model
    assert (gpu.n_layer, gpu.n_embd, gpu.dropout) == ((6, 256, 0.0) if job == "sft" else (4, 128, 0.0))


def test_gpt_config_reads_dropout_where_the_settings_have_it():
    assert gpt_config(resolve_settings("gpt", "gpu"), 10).dropout == 0.2
    vlm = gpt_config(resolve_settings("vlm"), 10, block_size=20)  # the VLM has no dropout setting
    assert (vlm.block_size, vlm.n_embd, vlm.dropout) == (20, 64, GPTConfig.dropout)


if __name__ == "__main__":
    json.dump(current(), sys.stdout, indent=1, ensure_ascii=False, sort_keys=True)
    print()
