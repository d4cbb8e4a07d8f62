"""Two small pieces of every training loop, written out so a learner can read them (chapter 06;
the :class:`~mmlab.train.trainer.Trainer` uses both):

* :func:`clip_grad_norm`: if the gradient, seen as one long vector, is longer than ``max_norm``,
  shrink it to that length (its direction is kept), so one bad batch cannot throw the weights far;
* :func:`lr_factor`: the learning-rate multiplier at a step: a linear warmup from 0 (Adam's moment
  estimates are poor in the first steps), then a cosine (or linear) decay.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

import torch

__all__ = ["clip_grad_norm", "lr_factor"]


@torch.no_grad()
def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float, eps: float = 1e-6) -> torch.Tensor:
    """Scale the gradients in place so their global L2 norm is at most ``max_norm``; return the
    norm before clipping (the same as ``torch.nn.utils.clip_grad_norm_``)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])  # one norm per tensor
    total = torch.linalg.vector_norm(norms)  # sqrt of the sum of all squared entries
    scale = (max_norm / (total + eps)).clamp(max=1.0)  # 1 when already short enough: no change
    for g in grads:
        g.mul_(scale.to(g.dtype))
    return total


def lr_factor(
    step: int,
    max_steps: int,
    warmup_steps: int = 0,
    schedule: Literal["cosine", "linear", "constant"] = "cosine",
    min_lr_ratio: float = 0.1,
) -> float:
    """The multiplier of the peak learning rate at ``step`` (0-based).

    Warmup: ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps. Then "constant"
    stays at 1, "linear" falls to 0 at ``max_steps``, and "cosine" follows half a cosine from 1
    down to ``min_lr_ratio`` at ``max_steps`` (and stays there after).
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))  # 0 -> 1
    if schedule == "linear":
        return 1.0 - progress
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 -> 0
    return min_lr_ratio + (1.0 - min_lr_ratio) * cosine
