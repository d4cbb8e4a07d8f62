"""Speech models over log-mel frames (chapter 14): a CTC recogniser (convolution + the course's
Transformer) and command classifiers that treat the spectrogram as an image (chapter 09's CNN and
ViT).

The recogniser follows the shape of modern acoustic models (Conformer, Whisper's encoder) at toy
size: two 1-D convolutions over time mix neighbouring frames and halve the frame rate, the
Transformer lets every frame see the whole utterance, and a linear layer gives one distribution per
frame over the characters and the CTC blank.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmlab.models.attention import padding_mask
from mmlab.models.transformer import Transformer, TransformerConfig
from mmlab.models.vision import CNNConfig, CNNEncoder, ImageClassifier, ViT, ViTConfig

__all__ = [
    "CTCRecogniser",
    "RecogniserConfig",
    "SpectrogramViT",
    "command_classifier",
    "command_vit",
    "frame_mask",
]


@dataclass
class RecogniserConfig:
    """Attributes: n_mels: input bands. vocab_size: characters + the blank. d_model, n_heads,
    n_layers, d_ff, dropout, fast: the Transformer. stride: frame-rate reduction of the convolutions.
    max_frames: the longest input (in log-mel frames) the positions cover."""

    n_mels: int = 40
    vocab_size: int = 29
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.1
    stride: int = 2
    max_frames: int = 1024
    fast: bool = True  # F.scaled_dot_product_attention (same function as chapter 03's, faster)


def frame_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) True on real frames."""
    return torch.arange(T, device=lengths.device) < lengths[:, None]


class CTCRecogniser(nn.Module):
    """log-mel (B, n_mels, T) -> per-frame log probabilities (B, T', V), T' = ceil(T / stride)."""

    def __init__(self, config: RecogniserConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.conv1 = nn.Conv1d(config.n_mels, d, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d, d, kernel_size=3, stride=config.stride, padding=1)
        self.encoder = Transformer(
            TransformerConfig(
                d_model=d,
                n_heads=config.n_heads,
                n_layers=config.n_layers,
                d_ff=config.d_ff,
                max_len=config.max_frames // config.stride + 1,
                positions="sinusoidal",
                dropout=config.dropout,
                fast=config.fast,
            )
        )
        self.head = nn.Linear(d, config.vocab_size)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return (lengths - 1) // self.config.stride + 1

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the log probabilities (B, T', V) and the valid output lengths (B,)."""
        x = F.gelu(self.conv1(features))  # (B, d, T)
        x = x * frame_mask(lengths, x.size(-1))[:, None]  # padding stays zero: a batch changes nothing
        x = F.gelu(self.conv2(x)).transpose(1, 2)  # (B, T', d)
        out_lengths = self.output_lengths(lengths)
        x = self.encoder(x, mask=padding_mask(frame_mask(out_lengths, x.size(1))))  # (B, T', d)
        return self.head(x).log_softmax(-1), out_lengths  # (B, T', V)


def command_classifier(
    n_classes: int, channels: tuple[int, ...] = (16, 32, 32), d: int = 64
) -> ImageClassifier:
    """Chapter 09's CNN on the spectrogram as a one-channel image (B, 1, n_mels, T): strided 3x3
    convolutions, then max pooling to a 4 x 4 grid (any length of audio fits), a linear layer."""
    config = CNNConfig(in_channels=1, channels=channels, strides=(2,) * len(channels), d_out=d, out_grid=4)
    return ImageClassifier(CNNEncoder(config), d, n_classes)


class SpectrogramViT(nn.Module):
    """Chapter 09's ViT on a spectrogram (B, 1, n_mels, T) -> (B, d), the idea of the Audio
    Spectrogram Transformer (Gong et al. 2021). A ViT wants a square image of a fixed size, so the
    time axis is first padded (or cut) to ``frames`` (every utterance starts at the same place on
    the same canvas, whatever the batch's padding), then the canvas is average-pooled to
    ``config.image_size`` squared and cut into patches."""

    def __init__(self, config: ViTConfig, frames: int) -> None:
        super().__init__()
        self.frames = frames
        self.vit = ViT(config)

    def forward(self, spectrograms: torch.Tensor) -> torch.Tensor:
        T = spectrograms.size(-1)
        x = F.pad(spectrograms, (0, self.frames - T)) if T < self.frames else spectrograms[..., : self.frames]
        size = self.vit.config.image_size
        x = F.adaptive_avg_pool2d(x, (size, size))  # (B, 1, size, size)
        return self.vit(x)  # (B, d)


def command_vit(
    n_classes: int,
    frames: int = 192,
    image_size: int = 40,
    patch_size: int = 10,
    d: int = 64,
    n_heads: int = 4,
    n_layers: int = 2,
) -> ImageClassifier:
    """Chapter 09's ViT (a [CLS] token, learned positions) on the spectrogram as a one-channel image
    (:class:`SpectrogramViT`), then a linear layer: the Transformer twin of :func:`command_classifier`."""
    config = ViTConfig(
        image_size=image_size, patch_size=patch_size, in_channels=1, d_model=d, n_heads=n_heads,
        n_layers=n_layers, d_ff=2 * d,
    )  # fmt: skip
    return ImageClassifier(SpectrogramViT(config, frames), d, n_classes)
