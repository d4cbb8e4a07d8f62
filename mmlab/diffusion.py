"""Diffusion: noise an image step by step, learn to undo it, and steer the undoing with text (chapter 15).

Ho et al. 2020 (DDPM). A schedule of small variances ``beta_1..beta_T`` defines a forward process
that adds Gaussian noise; with ``alpha_t = 1 - beta_t`` and the running product
``alpha_bar_t = alpha_1 * ... * alpha_t``, any step can be drawn from the clean image in one go:

    q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)        (:func:`add_noise`)

A network ``eps(x_t, t, c)`` learns to predict the noise that was added (:func:`diffusion_loss`).
Sampling starts from pure noise and walks back: a DDPM step (:func:`ddpm_step`) estimates ``x_0``,
forms the mean of ``q(x_{t-1} | x_t, x_0)`` and adds fresh noise; a DDIM step (Song et al. 2021,
:func:`ddim_step`) moves deterministically along the estimated noise direction, so it can skip
timesteps and take 20 steps instead of 1000.

Classifier-free guidance (Ho and Salimans 2022, :func:`guide`): the same network is trained to also
work without the caption (the caption is dropped 10-20% of the time); at sampling time
``eps = eps_uncond + w * (eps_cond - eps_uncond)``: ``w = 0`` ignores the caption, ``w = 1`` is the
plain conditional model, ``w > 1`` pushes further in the caption's direction (more faithful, less
varied, and too far breaks the image).

What the network predicts (``NoiseSchedule.prediction``): the noise (``"epsilon"``, DDPM's choice)
or the clean image itself (``"sample"``); the two are one affine map apart at a given ``t``, and
chapter 15b's tiny U-Net learns the clean image much faster on a CPU budget.

The numbers follow ``diffusers``' ``DDPMScheduler`` and ``DDIMScheduler`` (defaults: ``"linear"``
schedule, epsilon prediction, ``x_0`` clipped to ``[-1, 1]``, "leading" timestep spacing; also
``prediction_type="sample"`` and the cosine schedule); the tests compare them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

__all__ = [
    "NoiseSchedule",
    "add_noise",
    "ddim_step",
    "ddpm_step",
    "diffusion_loss",
    "guide",
    "inference_timesteps",
    "sample",
]


@dataclass
class NoiseSchedule:
    """The forward process's variances.

    Attributes:
        num_train_timesteps: T. beta_start, beta_end: the linear schedule's ends (DDPM: 1e-4, 0.02).
        beta_schedule: "linear" (DDPM) or "squaredcos_cap_v2" (Nichol and Dhariwal's cosine schedule:
            ``alpha_bar`` follows ``cos^2``, so less of the schedule is spent on pure noise).
        clip_sample: clip the estimated ``x_0`` to ``[-1, 1]`` in each sampler step.
        prediction: what the network outputs: ``"epsilon"`` (the noise) or ``"sample"`` (``x_0``).
    """

    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    beta_schedule: str = "linear"
    clip_sample: bool = True
    prediction: str = "epsilon"

    def __post_init__(self) -> None:
        if self.prediction not in ("epsilon", "sample"):
            raise ValueError(f"prediction must be 'epsilon' or 'sample', got {self.prediction!r}")
        T = self.num_train_timesteps
        if self.beta_schedule == "linear":
            betas = torch.linspace(self.beta_start, self.beta_end, T, dtype=torch.float32)
        elif self.beta_schedule == "squaredcos_cap_v2":

            def alpha_bar(s: float) -> float:
                return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2

            betas = torch.tensor(
                [min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999) for i in range(T)],
                dtype=torch.float32,
            )
        else:
            raise ValueError(
                f"beta_schedule must be 'linear' or 'squaredcos_cap_v2', got {self.beta_schedule!r}"
            )
        self.betas = betas  # (T,)
        self.alphas = 1.0 - betas  # (T,): what one step keeps
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)  # (T,): alpha_bar_t, what t steps keep

    def alpha_bar(self, t: int | torch.Tensor) -> torch.Tensor:
        """``alpha_bar_t``; 1 for ``t < 0`` (before the first step nothing is noised)."""
        t = torch.as_tensor(t)
        return torch.where(t >= 0, self.alphas_cumprod[t.clamp_min(0)], torch.ones(()))


def add_noise(
    x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    """Draw ``x_t ~ q(x_t | x_0)``: ``sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise``; ``t`` is ``(B,)``."""
    a = schedule.alphas_cumprod.to(x0.device)[t].view(-1, *([1] * (x0.dim() - 1)))  # (B, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _estimates(
    output: torch.Tensor, x_t: torch.Tensor, a_t: torch.Tensor, schedule: NoiseSchedule
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x0_hat, eps_hat)`` from the network's output: whichever it predicts, the other follows from
    ``x_t = sqrt(a) x0 + sqrt(1 - a) eps``; ``x0_hat`` is clipped afterwards (as ``diffusers`` does)."""
    if schedule.prediction == "epsilon":
        eps = output
        x0 = (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()
    else:
        x0 = output
        eps = (x_t - a_t.sqrt() * x0) / (1 - a_t).sqrt()
    return (x0.clamp(-1, 1) if schedule.clip_sample else x0), eps


def ddpm_step(
    eps: torch.Tensor,
    t: int,
    x_t: torch.Tensor,
    schedule: NoiseSchedule,
    noise: torch.Tensor | None = None,
    prev_t: int | None = None,
) -> torch.Tensor:
    """One DDPM step from ``x_t`` to ``x_{prev_t}`` (``prev_t`` defaults to ``t - 1``); ``eps`` is the
    network's output (the noise, or ``x_0`` if ``schedule.prediction == "sample"``).

    The mean of the posterior ``q(x_prev | x_t, x0_hat)`` plus ``sqrt(variance) * noise`` (none at
    ``t = 0``), with DDPM's "fixed small" variance ``(1 - a_prev) / (1 - a_t) * beta``.
    """
    prev_t = t - 1 if prev_t is None else prev_t
    a_t, a_prev = schedule.alpha_bar(t), schedule.alpha_bar(prev_t)
    alpha = a_t / a_prev  # what this (possibly strided) step keeps
    beta = 1 - alpha
    x0 = _estimates(eps, x_t, a_t, schedule)[0]
    mean = (a_prev.sqrt() * beta / (1 - a_t)) * x0 + (alpha.sqrt() * (1 - a_prev) / (1 - a_t)) * x_t
    if t == 0:
        return mean
    if noise is None:
        raise ValueError("ddpm_step needs noise for t > 0")
    variance = ((1 - a_prev) / (1 - a_t) * beta).clamp_min(1e-20)
    return mean + variance.sqrt() * noise


def ddim_step(
    eps: torch.Tensor,
    t: int,
    x_t: torch.Tensor,
    schedule: NoiseSchedule,
    prev_t: int,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """One DDIM step from ``x_t`` to ``x_{prev_t}``: ``sqrt(a_prev) x0_hat + sqrt(1 - a_prev - s^2) eps``
    (+ ``s * noise``, with ``s = eta * sigma``; ``eta = 0`` is deterministic); ``eps`` is the network's
    output (the noise, or ``x_0`` if ``schedule.prediction == "sample"``)."""
    a_t, a_prev = schedule.alpha_bar(t), schedule.alpha_bar(prev_t)
    x0, eps = _estimates(eps, x_t, a_t, schedule)
    std = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
    x_prev = a_prev.sqrt() * x0 + (1 - a_prev - std**2).sqrt() * eps
    if eta > 0:
        if noise is None:
            raise ValueError("ddim_step needs noise when eta > 0")
        x_prev = x_prev + std * noise
    return x_prev


def inference_timesteps(num_train_timesteps: int, num_steps: int) -> list[int]:
    """The timesteps a sampler of ``num_steps`` visits, from noisiest down ("leading" spacing:
    ``0, k, 2k, ...`` with ``k = T // num_steps``, reversed)."""
    if not 1 <= num_steps <= num_train_timesteps:
        raise ValueError(f"num_steps must be between 1 and {num_train_timesteps}, got {num_steps}")
    k = num_train_timesteps // num_steps
    return [i * k for i in reversed(range(num_steps))]


def guide(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: ``eps_uncond + scale * (eps_cond - eps_uncond)``."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


def diffusion_loss(
    model: nn.Module, batch: dict[str, torch.Tensor], schedule: NoiseSchedule, p_uncond: float = 0.15
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The noise-prediction loss ``||eps - eps_hat(x_t, t, c)||^2`` at a random ``t`` per image
    (``||x0 - x0_hat||^2`` if ``schedule.prediction == "sample"``).

    Batch: ``images`` ``(B, C, H, W)`` in ``[-1, 1]``, ``cond`` ``(B, E)`` caption embeddings. With
    probability ``p_uncond`` an image's caption is dropped (``model(x, t, cond, drop)`` swaps in its
    learned "no caption" vector), so the same network also learns the unconditional model.
    """
    x0, cond = batch["images"], batch["cond"]
    B = len(x0)
    t = torch.randint(0, schedule.num_train_timesteps, (B,), device=x0.device)
    noise = torch.randn_like(x0)
    drop = torch.rand(B, device=x0.device) < p_uncond
    output = model(add_noise(x0, noise, t, schedule), t, cond, drop)
    loss = F.mse_loss(output, noise if schedule.prediction == "epsilon" else x0)
    return loss, {"mse": loss.detach()}


@torch.no_grad()
def sample(
    model: nn.Module,
    cond: torch.Tensor,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    num_steps: int = 50,
    method: str = "ddim",
    guidance: float = 3.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Generate ``len(cond)`` images of ``shape`` (per image) from noise, guided by the captions.

    Args:
        cond: ``(B, E)`` caption embeddings. method: "ddpm" (stochastic) or "ddim" (deterministic, eta 0).
        num_steps: timesteps visited (DDPM with fewer than T steps strides like ``diffusers``' does).
        guidance: the classifier-free guidance scale (0: ignore the caption, 1: plain conditional).
        on_step: called with ``(t, x_t)`` after each step (to show the walk from noise).
    Returns:
        ``(B, *shape)`` images, clamped to ``[-1, 1]``.
    """
    if method not in ("ddpm", "ddim"):
        raise ValueError(f"method must be 'ddpm' or 'ddim', got {method!r}")
    model.eval()
    B, device = len(cond), cond.device
    x = torch.randn((B, *shape), generator=generator, device=device)
    steps = inference_timesteps(schedule.num_train_timesteps, num_steps)
    both = torch.cat([torch.zeros(B, dtype=torch.bool), torch.ones(B, dtype=torch.bool)]).to(device)
    for i, t in enumerate(tqdm(steps, desc=f"{method} sampling", disable=not progress)):
        tt = torch.full((2 * B,), t, device=device)
        eps_cond, eps_uncond = model(torch.cat([x, x]), tt, torch.cat([cond, cond]), both).chunk(2)
        eps = guide(eps_cond, eps_uncond, guidance)
        prev_t = steps[i + 1] if i + 1 < len(steps) else -1
        if method == "ddim":
            x = ddim_step(eps, t, x, schedule, prev_t)
        else:
            noise = torch.randn(x.shape, generator=generator, device=device) if t > 0 else None
            x = ddpm_step(eps, t, x, schedule, noise, prev_t)
        if on_step is not None:
            on_step(t, x)
    return x.clamp(-1, 1)
