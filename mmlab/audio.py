"""Audio features written out: framing, the short-time Fourier transform, the mel filter bank and
log-mel spectrograms (chapter 14; its lab writes the filter bank itself).

A waveform is one number per sample (22,050 a second here). Speech changes over tens of
milliseconds, so it is cut into overlapping **frames** (``n_fft`` samples every ``hop`` samples),
each multiplied by a Hann **window** (so its edges fade to zero) and turned into frequencies by a
Fourier transform: the **STFT**, a (frequency x time) picture. Hearing resolves low frequencies
finely and high ones coarsely; the **mel scale** ``m = 2595 log10(1 + f / 700)`` models that, and
a bank of triangular filters evenly spaced in mel pools the STFT's power into ``n_mels`` bands.
The log of that (loudness is heard on a log scale, too) is the **log-mel spectrogram**, the input of
nearly every speech model (Whisper uses 80 bands every 10 ms).

The tests check every step against ``librosa`` (and the STFT also against ``torch.stft``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "FeatureConfig",
    "frame",
    "hann_window",
    "hz_to_mel",
    "log_mel",
    "mel_filter_bank",
    "mel_to_hz",
    "power_spectrogram",
    "spec_augment",
    "stft",
]


def frame(signal: torch.Tensor, n_fft: int, hop: int, center: bool = True) -> torch.Tensor:
    """(..., N) -> (..., frames, n_fft): overlapping slices every ``hop`` samples. With ``center``,
    ``n_fft // 2`` zeros pad each end, so frame ``t`` is centred on sample ``t * hop``."""
    if center:
        signal = F.pad(signal, (n_fft // 2, n_fft // 2))
    if signal.size(-1) < n_fft:
        raise ValueError(f"a signal of {signal.size(-1)} samples is shorter than one frame ({n_fft})")
    return signal.unfold(-1, n_fft, hop)


def hann_window(n: int) -> torch.Tensor:
    """The periodic Hann window ``0.5 - 0.5 cos(2 pi k / n)`` (what STFTs use: it overlaps-adds to a constant)."""
    k = torch.arange(n, dtype=torch.float32)
    return 0.5 - 0.5 * torch.cos(2 * math.pi * k / n)


def stft(signal: torch.Tensor, n_fft: int = 512, hop: int = 256) -> torch.Tensor:
    """(..., N) -> (..., n_fft // 2 + 1, frames) complex: the windowed frames' discrete Fourier transforms."""
    frames = frame(signal, n_fft, hop) * hann_window(n_fft).to(signal.device)  # (..., T, n_fft)
    return torch.fft.rfft(frames, dim=-1).transpose(-1, -2)  # (..., n_fft // 2 + 1, T)


def power_spectrogram(signal: torch.Tensor, n_fft: int = 512, hop: int = 256) -> torch.Tensor:
    """|STFT|^2: (..., n_fft // 2 + 1, frames)."""
    return stft(signal, n_fft, hop).abs() ** 2


def hz_to_mel(f: torch.Tensor | float) -> torch.Tensor:
    """The mel scale (HTK's formula): equal steps in mel sound like equal steps in pitch."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)


def mel_to_hz(m: torch.Tensor | float) -> torch.Tensor:
    return 700.0 * (10.0 ** (torch.as_tensor(m, dtype=torch.float64) / 2595.0) - 1.0)


def mel_filter_bank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1): triangular filters with centres evenly spaced in mel.

    Filter ``m`` rises from 0 at edge ``m`` to 1 at edge ``m + 1`` and falls back to 0 at edge
    ``m + 2``, where the ``n_mels + 2`` edges are evenly spaced on the mel scale from ``f_min`` to
    ``f_max`` and converted back to Hz. Multiplying it by a power spectrogram (frequency on the
    first axis) pools the bins into mel bands.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2))
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)  # Hz of each STFT bin
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (n_mels, 1) each
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()  # (n_mels, F)


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel settings: a 512-sample (23 ms) window every 256 samples (11.6 ms), 40 mel bands."""

    sample_rate: int = 22050
    n_fft: int = 512
    hop: int = 256
    n_mels: int = 40
    f_min: float = 0.0
    f_max: float | None = 8000.0  # eSpeak NG puts little energy above this
    floor: float = 1e-6  # log(power + floor): silence does not go to minus infinity

    def frames(self, n_samples: int) -> int:
        return n_samples // self.hop + 1


def log_mel(signal: torch.Tensor, config: FeatureConfig | None = None, log: bool = True) -> torch.Tensor:
    """(..., N) samples -> (..., n_mels, frames): ``log(mel_filter_bank @ |STFT|^2 + floor)``
    (``log=False``: the mel power without the log, chapter 14's failure on purpose)."""
    config = config or FeatureConfig()
    power = power_spectrogram(signal, config.n_fft, config.hop)  # (..., F, T)
    bank = mel_filter_bank(config.sample_rate, config.n_fft, config.n_mels, config.f_min, config.f_max)
    mel = bank.to(power.device) @ power  # (n_mels, F) @ (..., F, T) -> (..., n_mels, T)
    return torch.log(mel + config.floor) if log else mel


def spec_augment(
    features: torch.Tensor,
    lengths: torch.Tensor,
    freq_masks: int = 2,
    freq_width: int = 6,
    time_masks: int = 2,
    time_width: int = 12,
) -> torch.Tensor:
    """SpecAugment's masking (Park et al. 2019): zero ``freq_masks`` random bands of up to
    ``freq_width`` mel channels and ``time_masks`` random stretches of up to ``time_width`` frames
    in each example of ``features`` (B, n_mels, T). A model then cannot lean on any one band or
    moment, which helps it generalise to voices it never heard. Draws from the global torch RNG."""
    B, n_mels, T = features.shape
    keep = torch.ones_like(features, dtype=torch.bool)
    bands = torch.arange(n_mels, device=features.device)
    frames = torch.arange(T, device=features.device)
    for _ in range(freq_masks):
        width = torch.randint(0, freq_width + 1, (B, 1), device=features.device)
        start = (torch.rand(B, 1, device=features.device) * (n_mels - width + 1)).long()
        keep &= ~((bands >= start) & (bands < start + width))[:, :, None]
    for _ in range(time_masks):
        width = torch.randint(0, time_width + 1, (B, 1), device=features.device)
        start = (
            torch.rand(B, 1, device=features.device) * (lengths[:, None] - width + 1).clamp(min=1)
        ).long()
        keep &= ~((frames >= start) & (frames < start + width))[:, None, :]
    return features * keep
