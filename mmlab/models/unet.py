"""A tiny U-Net that predicts the noise in an image, told the timestep and a caption (chapter 15).

Ronneberger et al. 2015's shape, as DDPM and Stable Diffusion use it: convolutions at full
resolution, a stride-2 convolution down, work at half and quarter resolution where each pixel sees
the whole 16 x 16 image, then up again, each level concatenating the features it saved on the way
down (skip connections keep the fine detail). Every residual block is told the timestep (a sinusoidal
embedding, as the Transformer's positions) and the caption embedding through a per-channel scale and
shift (FiLM). Two extra input channels hold each pixel's x and y, so "top left" has something to
attach to (convolutions alone do not know where they are).

``forward(x, t, cond, drop)``: where ``drop`` is True the caption is replaced by a learned "no
caption" vector; classifier-free guidance needs both answers from the same network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["TinyUNet", "UNetConfig", "timestep_embedding"]


@dataclass
class UNetConfig:
    """Attributes:
    in_channels: image channels. image_size: side (divisible by 4). width: channels at full
    resolution (doubled at each of the two lower levels). cond_dim: caption embedding size E.
    emb_dim: width of the timestep+caption embedding fed to every block.
    """

    in_channels: int = 3
    image_size: int = 16
    width: int = 32
    cond_dim: int = 32
    emb_dim: int = 64

    def __post_init__(self) -> None:
        if self.image_size % 4:
            raise ValueError(f"image_size must be divisible by 4, got {self.image_size}")


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """``(B,)`` integer timesteps -> ``(B, dim)`` sines and cosines at geometric frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)  # (half,)
    angles = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv, FiLM from the embedding, GroupNorm -> SiLU -> conv, plus the input."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * c_out)
        self.norm2, self.conv2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x)))  # (B, c_out, H, W)
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)  # (B, c_out, 1, 1) each
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(nn.functional.silu(h))


class TinyUNet(nn.Module):
    """``(x_t (B, C, H, W), t (B,), cond (B, E), drop (B,) bool) -> predicted noise (B, C, H, W)``."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        w, e = config.width, config.emb_dim
        self.time_mlp = nn.Sequential(nn.Linear(e, e), nn.SiLU(), nn.Linear(e, e))
        self.cond_proj = nn.Linear(config.cond_dim, e)
        self.null_cond = nn.Parameter(torch.zeros(config.cond_dim))  # the "no caption" input
        side = torch.linspace(-1, 1, config.image_size)
        self.register_buffer(
            "coords", torch.stack(torch.meshgrid(side, side, indexing="xy")), persistent=False
        )
        self.stem = nn.Conv2d(config.in_channels + 2, w, 3, padding=1)
        self.down1 = ResBlock(w, w, e)
        self.pool1 = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)  # H -> H/2
        self.down2 = ResBlock(2 * w, 2 * w, e)
        self.pool2 = nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1)  # H/2 -> H/4
        self.mid = ResBlock(2 * w, 2 * w, e)
        self.up2 = nn.ConvTranspose2d(2 * w, 2 * w, 4, stride=2, padding=1)  # H/4 -> H/2
        self.dec2 = ResBlock(4 * w, 2 * w, e)
        self.up1 = nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1)  # H/2 -> H
        self.dec1 = ResBlock(2 * w, w, e)
        self.out = nn.Sequential(
            nn.GroupNorm(8, w), nn.SiLU(), nn.Conv2d(w, config.in_channels, 3, padding=1)
        )
        nn.init.zeros_(self.out[-1].weight)  # start by predicting zero noise
        nn.init.zeros_(self.out[-1].bias)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, drop: torch.Tensor | None = None
    ) -> torch.Tensor:
        if drop is not None:
            cond = torch.where(drop[:, None], self.null_cond.expand_as(cond), cond)  # (B, E)
        emb = self.time_mlp(timestep_embedding(t, self.config.emb_dim)) + self.cond_proj(cond)  # (B, e)
        coords = self.coords.expand(len(x), -1, -1, -1)  # (B, 2, H, W)
        h1 = self.down1(self.stem(torch.cat([x, coords], dim=1)), emb)  # (B, w, H, W)
        h2 = self.down2(self.pool1(h1), emb)  # (B, 2w, H/2, W/2)
        h = self.mid(self.pool2(h2), emb)  # (B, 2w, H/4, W/4)
        h = self.dec2(torch.cat([self.up2(h), h2], dim=1), emb)  # (B, 2w, H/2, W/2)
        h = self.dec1(torch.cat([self.up1(h), h1], dim=1), emb)  # (B, w, H, W)
        return self.out(h)  # (B, C, H, W)
