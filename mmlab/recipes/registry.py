"""The job registry: every chapter's recipe, collected for ``python -m mmlab.train``, the bench and the
tests (all chapters). A recipe lives beside its chapter's code (see :mod:`mmlab.recipes`); adding a job
is one ``RECIPE`` in its chapter's module and one line in :data:`JOBS`.
"""

from __future__ import annotations

from typing import Any

from mmlab.align import instruction_tuning, rlhf
from mmlab.recipes import (
    assistant,
    bert_pretraining,
    bow,
    clip,
    finetuning,
    fusion,
    gpt,
    imagegen,
    lstm,
    recommend,
    seq2seq,
    sort,
    speech,
    vit,
    vlm,
)
from mmlab.recipes.base import SCALES, Job, Recipe

__all__ = ["JOBS", "SCALES", "build_job", "resolve_settings"]

JOBS: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        bow.RECIPE,
        lstm.RECIPE,
        lstm.DISTANCE_RECIPE,
        sort.RECIPE,
        bert_pretraining.RECIPE,
        finetuning.RECIPE,
        gpt.RECIPE,
        instruction_tuning.RECIPE,
        rlhf.REWARD_RECIPE,
        rlhf.DPO_RECIPE,
        rlhf.PPO_RECIPE,
        vit.RECIPE,
        fusion.RECIPE,
        clip.RECIPE,
        clip.SHAPES_RECIPE,
        vlm.RECIPE,
        seq2seq.RECIPE,
        seq2seq.SUMMARISE_RECIPE,
        speech.RECIPE,
        speech.COMMANDS_RECIPE,
        imagegen.RECIPE,
        recommend.RECIPE,
        assistant.RECIPE,
    )
}


def resolve_settings(job: str, scale: str = "cpu", overrides: dict[str, Any] | None = None):
    """The typed settings of ``job`` at ``scale`` (its defaults are the ``cpu`` preset; "gpu" applies the
    gpu overrides, "multi-gpu" those and the multi-gpu ones), then ``overrides``."""
    if job not in JOBS:
        raise KeyError(f"unknown job {job!r}; choose from {', '.join(sorted(JOBS))}")
    return JOBS[job].resolve(scale, overrides)


def build_job(job: str, scale: str = "cpu", overrides: dict[str, Any] | None = None) -> Job:
    """Build ``job`` at ``scale`` with ``overrides`` (loop settings or the job's own): what the Trainer needs."""
    settings = resolve_settings(job, scale, overrides)
    if not JOBS[job].uses_trainer:
        raise ValueError(
            f"{job!r} is not one Trainer run (its own loop or several stages): run it with "
            f"`python -m mmlab.train {job}` or JOBS[{job!r}].run(resolve_settings({job!r}))"
        )
    return JOBS[job].build(settings)
