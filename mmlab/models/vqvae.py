"""A VQ-VAE: an image becomes a short grid of discrete codes and back (chapter 15, the DALL-E route).

van den Oord et al. 2017. A convolutional encoder shrinks the image ``(B, 3, H, W)`` to a grid of
vectors ``z_e`` ``(B, D, h, w)``; each vector is replaced by its nearest entry of a learned codebook
of ``K`` vectors (:func:`quantize`), so the image is now ``h * w`` integers in ``[0, K)``, tokens a
Transformer can model like words; a decoder turns the quantised grid back into pixels.

The nearest-neighbour look-up has no gradient. The straight-through estimator copies the decoder's
gradient onto the encoder's output unchanged: ``z_q = z_e + (e - z_e).detach()`` equals ``e`` in the
forward pass and has the identity as its derivative with respect to ``z_e``. The codebook then
learns from its own loss ``||sg[z_e] - e||^2`` (entries move towards the encoder outputs they were
picked for), and the commitment loss ``beta * ||z_e - sg[e]||^2`` keeps the encoder's outputs close
to the entries they picked, so they do not drift away faster than the codebook follows. A codebook
entry that no input ever picks gets no gradient at all: it is dead (:func:`dead_codes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["VQVAE", "VQVAEConfig", "dead_codes", "quantize", "vqvae_loss"]


@dataclass
class VQVAEConfig:
    """Shape of a small VQ-VAE.

    Attributes:
        in_channels: 3 for RGB. image_size: side of the square input (divisible by ``2 ** len(channels)``).
        channels: the encoder's stride-2 convolutions (each halves the side); the decoder mirrors them.
        codebook_size: K, the number of codes. code_dim: D, the width of a code vector.
        beta: weight of the commitment loss (the paper: 0.25); 0 switches it off.
    """

    in_channels: int = 3
    image_size: int = 16
    channels: tuple[int, ...] = (32, 64)
    codebook_size: int = 32
    code_dim: int = 16
    beta: float = 0.25

    def __post_init__(self) -> None:
        if self.image_size % 2 ** len(self.channels):
            raise ValueError(
                f"image_size {self.image_size} must be divisible by 2 ** len(channels) = {2 ** len(self.channels)}"
            )
        if self.codebook_size < 1 or self.code_dim < 1 or self.beta < 0:
            raise ValueError("codebook_size and code_dim must be >= 1 and beta >= 0")

    @property
    def grid(self) -> int:
        """Side of the code grid: an image is ``grid * grid`` codes."""
        return self.image_size // 2 ** len(self.channels)


def quantize(
    z: torch.Tensor, codebook: torch.Tensor, straight_through: bool = True
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Replace each vector of ``z`` by its nearest codebook entry.

    Args:
        z: encoder output ``(B, D, h, w)``. codebook: ``(K, D)``.
        straight_through: pass the gradient of the output to ``z`` unchanged (True), or return the raw
            entries (no gradient reaches ``z``: the encoder would never learn).
    Returns:
        ``(z_q, codes, losses)``: ``z_q`` ``(B, D, h, w)`` (equal to the chosen entries), ``codes``
        ``(B, h, w)`` in ``[0, K)``, and ``losses`` with ``codebook`` = ``||sg[z] - e||^2`` and
        ``commitment`` = ``||z - sg[e]||^2`` (means over all elements; the caller weights the latter).
    """
    B, D, h, w = z.shape
    flat = z.permute(0, 2, 3, 1).reshape(-1, D)  # (B*h*w, D)
    # ||a - e||^2 = ||a||^2 - 2 a.e + ||e||^2, for every vector and every entry at once
    distances = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.t() + codebook.pow(2).sum(1)  # (N, K)
    codes = distances.argmin(dim=1)  # (N,)
    chosen = codebook[codes].view(B, h, w, D).permute(0, 3, 1, 2)  # (B, D, h, w)
    losses = {
        "codebook": F.mse_loss(chosen, z.detach()),
        "commitment": F.mse_loss(z, chosen.detach()),
    }
    z_q = z + (chosen - z).detach() if straight_through else chosen
    return z_q, codes.view(B, h, w), losses


def dead_codes(codes: torch.Tensor, codebook_size: int) -> int:
    """How many of the ``codebook_size`` entries no position of ``codes`` (any shape) uses."""
    return int(codebook_size - torch.unique(codes).numel())


def _up_block(c_in: int, c_out: int, last: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)]
    return layers if last else [*layers, nn.ReLU()]


class VQVAE(nn.Module):
    """Encoder -> nearest codebook entries (straight-through) -> decoder; images in ``[-1, 1]``."""

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        self.config = config
        enc: list[nn.Module] = []
        c_in = config.in_channels
        for c in config.channels:  # each halves the side
            enc += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), nn.ReLU()]
            c_in = c
        enc += [nn.Conv2d(c_in, c_in, 3, padding=1), nn.ReLU(), nn.Conv2d(c_in, config.code_dim, 1)]
        self.encoder = nn.Sequential(*enc)
        self.codebook = nn.Parameter(torch.randn(config.codebook_size, config.code_dim) * 0.1)  # (K, D)
        widths = list(reversed(config.channels))
        dec: list[nn.Module] = [nn.Conv2d(config.code_dim, widths[0], 3, padding=1), nn.ReLU()]
        outs = [*widths[1:], config.in_channels]
        for i, (a, b) in enumerate(zip(widths, outs)):
            dec += _up_block(a, b, last=i == len(widths) - 1)
        self.decoder = nn.Sequential(*dec)

    @torch.no_grad()
    def init_codebook(self, images: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Set the codebook to randomly chosen encoder outputs of ``images`` (a data-dependent start:
        every entry begins near something the encoder produces, so fewer are dead from step one)."""
        z = self.encoder(images).permute(0, 2, 3, 1).reshape(-1, self.config.code_dim)
        pick = torch.randperm(len(z), generator=generator)[: self.config.codebook_size]
        self.codebook[: len(pick)] = z[pick]

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> codes ``(B, grid, grid)``."""
        return quantize(self.encoder(images), self.codebook)[1]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, grid, grid)`` -> images ``(B, C, H, W)``."""
        return self.decoder(self.codebook[codes].permute(0, 3, 1, 2))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """``(reconstruction (B, C, H, W), codes (B, grid, grid), losses)``."""
        z_q, codes, losses = quantize(self.encoder(images), self.codebook)
        return self.decoder(z_q), codes, losses


def vqvae_loss(model: VQVAE, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The Trainer's loss: ``mse(recon, x) + codebook + beta * commitment``; batch ``{"images": ...}``.

    Reports each term and the share of the codebook the batch uses.
    """
    images = batch["images"]
    recon, codes, losses = model(images)
    reconstruction = F.mse_loss(recon, images)
    loss = reconstruction + losses["codebook"] + model.config.beta * losses["commitment"]
    used = 1 - dead_codes(codes, model.config.codebook_size) / model.config.codebook_size
    return loss, {
        "reconstruction": reconstruction.detach(),
        "codebook": losses["codebook"].detach(),
        "commitment": losses["commitment"].detach(),
        "codes_used": torch.tensor(used),
    }
