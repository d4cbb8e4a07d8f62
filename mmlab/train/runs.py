"""Run folders: what ``python -m mmlab.train JOB --out DIR`` leaves behind, and reading it back.

A run's folder holds ``model.safetensors`` (the weights), ``metrics.json`` (the final evaluation) and
``run.json`` (the job, its scale and settings, and the model's config dataclass), which is what a later
job's ``base=DIR`` reads (chapter 08's jobs start from chapter 07's). Engine code: it knows no chapter.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

__all__ = ["model_config", "read_run", "save_run"]


def model_config(model: nn.Module) -> dict[str, Any] | None:
    """The first dataclass ``config`` among ``model``'s modules (e.g. a GPT's), as a dict; or None."""
    for module in model.modules():
        config = getattr(module, "config", None)
        if dataclasses.is_dataclass(config) and not isinstance(config, type):
            return {"class": type(config).__name__, **dataclasses.asdict(config)}
    return None


def save_run(
    model: nn.Module,
    out_dir: str | Path,
    job: str,
    scale: str,
    settings: dict[str, Any],
    metrics: dict,
    weights: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write ``model.safetensors`` (``weights``, e.g. the full state gathered from FSDP shards, or else
    ``model.state_dict()``), ``metrics.json`` and ``run.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = model.state_dict() if weights is None else weights
    # A tied weight (the GPT's head is its token embedding) is stored once, under its first name, as
    # safetensors' save_model does; load_model accepts the missing alias.
    aliases = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    aliases -= {name for name, _ in model.named_parameters()}
    tensors = {k: v.detach().cpu().contiguous() for k, v in weights.items() if k not in aliases}
    save_file(tensors, str(out / "model.safetensors"))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    run = {"job": job, "scale": scale, "settings": settings, "model_config": model_config(model)}
    (out / "run.json").write_text(json.dumps(run, indent=2, default=str))


def read_run(path: str | Path, expected_jobs: tuple[str, ...]) -> tuple[Path, dict[str, Any]]:
    """(folder, run.json contents) of a finished run of one of ``expected_jobs`` (``path`` may also
    name its ``model.safetensors``); a clear error when it is not one."""
    folder = Path(path).expanduser()
    folder = folder.parent if folder.suffix == ".safetensors" else folder
    weights, run_file = folder / "model.safetensors", folder / "run.json"
    if not weights.is_file() or not run_file.is_file():
        raise FileNotFoundError(
            f"{str(path)!r} is not a finished run: expected model.safetensors and run.json in {folder} "
            f"(written by: python -m mmlab.train {expected_jobs[0]} --out {folder})"
        )
    run = json.loads(run_file.read_text())
    if run.get("job") not in expected_jobs or not run.get("model_config"):
        raise ValueError(
            f"{folder} holds a {run.get('job')!r} run; this setting needs one of {list(expected_jobs)}"
        )
    return folder, run
