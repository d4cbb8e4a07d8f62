"""The written-out gradient clipping and learning-rate schedule against PyTorch's."""

import math

import pytest
import torch
from torch import nn

from mmlab.train.optim import clip_grad_norm, lr_factor


def grads_of(scale: float, seed: int = 0) -> list[nn.Parameter]:
    torch.manual_seed(seed)
    params = [nn.Parameter(torch.randn(5, 3)), nn.Parameter(torch.randn(7)), nn.Parameter(torch.randn(2))]
    for p in params:
        p.grad = torch.randn_like(p) * scale
    params[-1].grad = None  # a parameter without a gradient is skipped
    return params


@pytest.mark.parametrize("scale", [0.01, 10.0])
def test_clip_grad_norm_matches_pytorch(scale):
    ours, ref = grads_of(scale), grads_of(scale)
    norm = clip_grad_norm(ours, max_norm=1.0)
    expected = nn.utils.clip_grad_norm_(ref, max_norm=1.0)
    torch.testing.assert_close(norm, expected)
    for a, b in zip(ours[:2], ref[:2], strict=True):
        torch.testing.assert_close(a.grad, b.grad)
    clipped = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in ours[:2]]))
    assert clipped <= 1.0 + 1e-5
    if scale < 1:  # already short: untouched
        torch.testing.assert_close(ours[0].grad, grads_of(scale)[0].grad)


def test_lr_factor_warmup_cosine_linear_constant():
    assert lr_factor(0, 100, warmup_steps=10) == pytest.approx(0.1)
    assert lr_factor(9, 100, warmup_steps=10) == pytest.approx(1.0)
    assert lr_factor(10, 100, warmup_steps=10) == pytest.approx(1.0)
    midway = lr_factor(55, 100, warmup_steps=10, min_lr_ratio=0.1)
    assert midway == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(100, 100, warmup_steps=10) == pytest.approx(0.1)
    assert lr_factor(500, 100, warmup_steps=10) == pytest.approx(0.1)
    assert lr_factor(60, 110, warmup_steps=10, schedule="linear") == pytest.approx(0.5)
    assert lr_factor(60, 100, schedule="constant") == 1.0


def test_cosine_matches_pytorch_cosine_annealing():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50, eta_min=0.1)
    for step in range(50):
        assert lr_factor(step, 50, min_lr_ratio=0.1) == pytest.approx(opt.param_groups[0]["lr"], abs=1e-9)
        opt.step()
        ref.step()
    assert not math.isnan(lr_factor(0, 0))
