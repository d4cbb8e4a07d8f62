"""Checks for lab 15: the vector-quantisation step with the straight-through estimator, the DDPM
forward noising ``q(x_t | x_0)`` and the classifier-free guidance combination.

Signatures the lab asks for:

* ``vector_quantize(z[B, D, h, w], codebook[K, D]) -> (z_q[B, D, h, w], codes[B, h, w])``: each
  vector of ``z`` replaced by its nearest codebook entry (squared Euclidean distance), with the
  gradient of ``z_q`` passed to ``z`` unchanged (straight through);
* ``q_sample(x0[B, ...], noise[B, ...], t[B], betas[T]) -> x_t``: ``sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``
  with ``abar_t`` the cumulative product of ``1 - beta`` up to and including step ``t``;
* ``guided_noise(eps_cond, eps_uncond, scale) -> eps``: ``eps_uncond + scale * (eps_cond - eps_uncond)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mmlab.checks.framework import CheckFailed, call, expect_close, expect_true, lab_check
from mmlab.diffusion import guide
from mmlab.models.vqvae import quantize

__all__ = [
    "check_guided_noise",
    "check_q_sample",
    "check_vector_quantize",
    "reference_q_sample",
]

# ----------------------------------------------------------------------------- vector quantisation
FARTHEST = "the farthest codebook entry picked (argmax of the distances): the nearest one is the argmin"
NOT_STRAIGHT_THROUGH = (
    "gradients not passed straight through: the encoder output z gets no gradient from z_q. "
    "Return z + (chosen - z).detach(): equal to the chosen entries, with the identity as its derivative"
)
WRONG_GRADIENT = (
    "the gradient reaching z is not the gradient of z_q: with the straight-through estimator "
    "d z_q / d z is the identity, so z.grad must equal the upstream gradient exactly"
)


def _pair(got, case: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(got, tuple) and len(got) == 2):
        raise CheckFailed(f"vector_quantize should return a tuple (z_q, codes) for {case}, got {got!r}")
    return got


@lab_check("vector_quantize")
def check_vector_quantize(student_fn: Callable) -> None:
    torch.manual_seed(0)
    for B, D, h, K in ((2, 4, 3, 10), (1, 8, 2, 5)):
        z = torch.randn(B, D, h, h, requires_grad=True)
        codebook = torch.randn(K, D)
        case = f"z of shape {(B, D, h, h)}, a codebook of {K} entries"
        z_q, codes = _pair(call(student_fn, z, codebook, case=case), case)
        expected_q, expected_codes, _ = quantize(z.detach(), codebook)
        flat = z.detach().permute(0, 2, 3, 1).reshape(-1, D)
        farthest = torch.cdist(flat, codebook).argmax(1).view(B, h, h)
        expect_close(
            torch.as_tensor(codes).long(),
            expected_codes,
            what="codes",
            case=case,
            mistakes={FARTHEST: farthest},
        )
        expect_close(z_q.detach(), expected_q, what="z_q", case=case)
        upstream = torch.randn(B, D, h, h)
        if not z_q.requires_grad:
            raise CheckFailed(f"{NOT_STRAIGHT_THROUGH} (for {case}, z_q does not require grad)")
        (z_q * upstream).sum().backward()
        grad = z.grad if z.grad is not None else torch.zeros_like(z)
        expect_true(bool(grad.abs().sum() > 0), f"{NOT_STRAIGHT_THROUGH} (for {case}, z.grad is zero)")
        expect_true(torch.allclose(grad, upstream, atol=1e-5), f"{WRONG_GRADIENT} (for {case})")


# ----------------------------------------------------------------------------- forward noising
SINGLE_ALPHA = (
    "alpha_t used instead of the cumulative alpha-bar_t: q(x_t | x_0) jumps t steps at once, so it "
    "keeps the product (1 - beta_1) ... (1 - beta_t) of x0, not one step's share"
)
VARIANCE_AS_STD = (
    "1 - alpha-bar (a variance) multiplied in without its square root; likewise alpha-bar for x0"
)
OFF_BY_ONE = "alpha-bar of step t - 1: cumprod(1 - betas)[t] already includes step t (index t, not t - 1)"
BETA_CUMPROD = "the cumulative product of the betas used: alpha-bar is the cumulative product of 1 - beta"


def reference_q_sample(
    x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, betas: torch.Tensor, *, mistake: str | None = None
) -> torch.Tensor:
    """The right answer (``mistake=None``) and, through ``mistake``, the common wrong ones."""
    alphas = 1 - betas
    abar = torch.cumprod(alphas, 0)
    if mistake == "single":
        a = alphas[t]
    elif mistake == "off_by_one":
        a = torch.cat([torch.ones(1), abar])[t]
    elif mistake == "beta_cumprod":
        a = torch.cumprod(betas, 0)[t]
    else:
        a = abar[t]
    a = a.view(-1, *([1] * (x0.dim() - 1)))
    if mistake == "variance":
        return a * x0 + (1 - a) * noise
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


@lab_check("q_sample")
def check_q_sample(student_fn: Callable) -> None:
    torch.manual_seed(1)
    betas = torch.linspace(1e-4, 0.02, 1000)
    for t in (torch.tensor([0, 1, 10, 500, 999]), torch.tensor([250, 3])):
        n = len(t)
        x0, noise = torch.rand(n, 3, 4, 4) * 2 - 1, torch.randn(n, 3, 4, 4)
        case = f"t = {t.tolist()}"
        got = call(student_fn, x0, noise, t, betas, case=case)
        mistakes = {
            SINGLE_ALPHA: reference_q_sample(x0, noise, t, betas, mistake="single"),
            VARIANCE_AS_STD: reference_q_sample(x0, noise, t, betas, mistake="variance"),
            OFF_BY_ONE: reference_q_sample(x0, noise, t, betas, mistake="off_by_one"),
            BETA_CUMPROD: reference_q_sample(x0, noise, t, betas, mistake="beta_cumprod"),
        }
        expect_close(got, reference_q_sample(x0, noise, t, betas), what="x_t", case=case, mistakes=mistakes)


# ----------------------------------------------------------------------------- classifier-free guidance
SIGN_FLIPPED = (
    "guidance sign flipped: eps_uncond + scale * (eps_uncond - eps_cond) pushes away from the caption; "
    "the direction to push along is eps_cond - eps_uncond"
)
WRONG_BRANCH = "guidance applied to the wrong branch: start from eps_uncond, not eps_cond, and add scale * (eps_cond - eps_uncond)"
NO_BASE = "only scale * (eps_cond - eps_uncond) returned: the difference is added to eps_uncond"


@lab_check("guided_noise")
def check_guided_noise(student_fn: Callable) -> None:
    torch.manual_seed(2)
    cond, uncond = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    for scale in (3.0, 7.5, 0.0, 1.0):
        case = f"scale = {scale}"
        got = call(student_fn, cond, uncond, scale, case=case)
        mistakes = {
            SIGN_FLIPPED: uncond + scale * (uncond - cond),
            WRONG_BRANCH: cond + scale * (cond - uncond),
            NO_BASE: scale * (cond - uncond),
        }
        expect_close(got, guide(cond, uncond, scale), what="guided noise", case=case, mistakes=mistakes)
