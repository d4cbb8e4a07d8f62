"""Checkpoints that survive interruptions: written atomically, loaded safely (all chapters).

A checkpoint is one ``torch.save`` file holding plain tensors, numbers and strings only, so it
loads with ``torch.load(..., weights_only=True)`` (no arbitrary code runs when you open a file
somebody sent you). It is written to a temporary file in the same folder, flushed to disk and
renamed over the final name: a crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "CheckpointError",
    "capture_rng_state",
    "list_checkpoints",
    "load_checkpoint",
    "load_newest_checkpoint",
    "restore_rng_state",
    "save_checkpoint",
]

_NAME = re.compile(r"^step_(\d+)\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupted or from an incompatible model."""


def checkpoint_path(directory: str | Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives inside ``directory``."""
    return Path(directory) / f"step_{step:08d}.pt"


def list_checkpoints(directory: str | Path) -> list[Path]:
    """The checkpoints in ``directory``, oldest first (by step)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(state: dict[str, Any], directory: str | Path, step: int, keep: int = 2) -> Path:
    """Write ``state`` atomically as ``directory/step_XXXXXXXX.pt``; keep the newest ``keep``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = checkpoint_path(directory, step)
    tmp = final.with_name(final.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)  # atomic on POSIX and Windows
    for old in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return final


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; raise :class:`CheckpointError` with the
    reason and the earlier checkpoints still available when the file cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, bad magic number, unpickling refused, ...
        earlier = [p.name for p in list_checkpoints(path.parent) if p != path]
        hint = (
            f" Earlier checkpoints in {path.parent}: {', '.join(earlier)}; resume from one with "
            f"`--resume {path.parent / earlier[-1]}` (python -m mmlab.train) or "
            f"TrainConfig(resume='{path.parent / earlier[-1]}')."
            if earlier
            else " No earlier checkpoint is in that folder."
        )
        raise CheckpointError(
            f"checkpoint {path} is corrupted or truncated and cannot be loaded "
            f"({type(err).__name__}: {str(err).splitlines()[0][:200]}).{hint}"
        ) from err
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise CheckpointError(f"{path} is not an mmlab training checkpoint (no 'model' or 'step' entry)")
    return state


def load_newest_checkpoint(
    directory: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[Path, dict[str, Any], list[str]] | None:
    """The newest checkpoint in ``directory`` that loads: ``(path, state, skipped)``, where
    ``skipped`` says why each newer one could not be read (e.g. truncated by a crash while it was
    copied); None when the folder holds no checkpoint. Raises :class:`CheckpointError` when none of
    them loads."""
    found = list_checkpoints(directory)
    skipped: list[str] = []
    for path in reversed(found):
        try:
            return path, load_checkpoint(path, map_location), skipped
        except CheckpointError as err:
            skipped.append(f"{path.name} cannot be loaded ({str(err).split('(', 1)[-1].split(')')[0]})")
    if found:
        raise CheckpointError(f"no checkpoint in {directory} can be loaded: {'; '.join(skipped)}")
    return None


def capture_rng_state() -> dict[str, Any]:
    """Every random number generator a training run touches, as weights-only-safe values."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
