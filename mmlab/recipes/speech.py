"""Chapter 14's recipes: a CTC speech recogniser (job ``speech``) and a spoken-command classifier
(job ``speech-commands``) trained on commands synthesised offline by eSpeak NG.

Both read log-mel features normalised per utterance (zero mean, unit variance: a louder or quieter
recording shifts every log-mel value by the same amount, which this removes).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmlab.audio import FeatureConfig, log_mel, spec_augment
from mmlab.ctc import CharVocab, greedy_decode, prefix_beam_search
from mmlab.data.speech import SpeechCommands, Utterance, intent_names, make_speech_commands
from mmlab.error_rates import char_error_rate, word_error_rate
from mmlab.models.speech import CTCRecogniser, RecogniserConfig, command_classifier, command_vit, frame_mask
from mmlab.recipes.base import Job, Recipe, Settings, dict_loader, trainer_config
from mmlab.train.trainer import TrainConfig

__all__ = [
    "COMMANDS_RECIPE",
    "RECIPE",
    "CommandSettings",
    "RecogniserSettings",
    "evaluate_recogniser",
    "normalised_log_mel",
    "predict_intents",
    "speech_data",
    "speech_tensors",
    "transcribe",
]

VOCAB = CharVocab()


@dataclass(repr=False)
class _SpeechData:
    """The data settings both jobs share."""

    repeats: int = 2  # each training phrase x voice is spoken this many times (random rate and pitch)
    snr_low: float = 10.0  # added white noise, at an SNR drawn from [snr_low, snr_high] dB
    snr_high: float = 30.0
    n_mels: int = 40
    log_features: bool = True  # False: mel power without the log (the failure on purpose)
    spec_augment: bool = False  # SpecAugment masking of the training features


@dataclass(repr=False)
class RecogniserSettings(Settings, _SpeechData, TrainConfig):
    """Chapter 14's CTC recogniser."""

    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.0  # its random draws cost about a sixth of a CPU step; the GPU preset uses 0.1
    spec_augment: bool = True
    batch_size: int = 16
    max_steps: int = 300
    lr: float = 3e-3
    warmup_steps: int = 50


@dataclass(repr=False)
class CommandSettings(Settings, _SpeechData, TrainConfig):
    """Chapter 14's command classifier (12 intents: action x device): chapter 09's CNN or its ViT."""

    architecture: str = "cnn"  # "cnn" or "vit"
    channels: tuple[int, ...] = (16, 32, 32)  # the CNN
    d_model: int = 64  # the image vector (the CNN's output, the ViT's width)
    vit_frames: int = 192  # the ViT's canvas: the time axis padded or cut to this many frames,
    vit_image: int = 40  # then pooled to a vit_image x vit_image image
    patch_size: int = 10
    vit_heads: int = 4
    vit_layers: int = 2
    batch_size: int = 32
    max_steps: int = 150
    lr: float = 3e-3
    warmup_steps: int = 20


GPU = dict(
    repeats=8,
    d_model=256,
    n_heads=4,
    n_layers=6,
    d_ff=1024,
    dropout=0.1,
    batch_size=128,
    max_steps=4000,
    lr=1e-3,
)
COMMANDS_GPU = dict(repeats=8, channels=(32, 64, 128), d_model=128, batch_size=128, max_steps=2000)


@functools.lru_cache(maxsize=4)
def speech_data(repeats: int = 2, snr_low: float = 10.0, snr_high: float = 30.0) -> SpeechCommands:
    """:func:`make_speech_commands` (seed 0), kept in memory: every seed and variant trains on the same audio."""
    return make_speech_commands(repeats=repeats, snr_db=(snr_low, snr_high))


def normalised_log_mel(
    audios: list[np.ndarray], n_mels: int = 40, log: bool = True, batch: int = 128
) -> tuple[torch.Tensor, torch.Tensor]:
    """22,050 Hz float waveforms -> log-mel features (N, n_mels, T), each utterance shifted and scaled
    to zero mean and unit variance over its real frames and zero on padding, and the lengths (N,)."""
    config = FeatureConfig(n_mels=n_mels)
    lengths = torch.tensor([config.frames(len(a)) for a in audios])
    T = int(lengths.max())
    features = torch.zeros(len(audios), n_mels, T)
    for start in range(0, len(audios), batch):
        chunk = audios[start : start + batch]
        padded = torch.zeros(len(chunk), (T - 1) * config.hop)
        for i, a in enumerate(chunk):
            padded[i, : len(a)] = torch.from_numpy(np.asarray(a, dtype=np.float32)[: padded.size(1)])
        features[start : start + len(chunk)] = log_mel(padded, config, log=log)
    mask = frame_mask(lengths, T)[:, None, :]  # (N, 1, T)
    n = mask.sum((1, 2), keepdim=True) * n_mels
    mean = (features * mask).sum((1, 2), keepdim=True) / n
    std = (((features - mean) * mask) ** 2).sum((1, 2), keepdim=True).div(n).sqrt()
    return (features - mean) / (std + 1e-5) * mask, lengths


def speech_tensors(
    utterances: list[Utterance], n_mels: int = 40, log: bool = True
) -> dict[str, torch.Tensor]:
    """Utterances -> ``features`` and ``lengths`` (:func:`normalised_log_mel`), ``targets`` (N, S)
    character ids, ``target_lengths`` (N,), ``intents`` (N,) indices into :func:`intent_names`."""
    features, lengths = normalised_log_mel([u.audio for u in utterances], n_mels, log)
    targets = [VOCAB.encode(u.text) for u in utterances]
    S = max(len(t) for t in targets)
    return {
        "features": features,
        "lengths": lengths,
        "targets": torch.tensor([t + [0] * (S - len(t)) for t in targets]),
        "target_lengths": torch.tensor([len(t) for t in targets]),
        "intents": torch.tensor([u.intent for u in utterances]),
    }


@functools.lru_cache(maxsize=8)
def _split_tensors(repeats: int, snr_low: float, snr_high: float, n_mels: int, log: bool):
    data = speech_data(repeats, snr_low, snr_high)
    return tuple(speech_tensors(split, n_mels, log) for split in (data.train, data.test, data.held_out))


def split_tensors(s: RecogniserSettings | CommandSettings) -> tuple[dict[str, torch.Tensor], ...]:
    """(train, test, held_out) tensors of the settings' data, computed once per process."""
    return _split_tensors(s.repeats, s.snr_low, s.snr_high, s.n_mels, s.log_features)


class _Augmented:
    """Features with SpecAugment masks while the model trains (not while it is evaluated)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        features = batch["features"]
        return spec_augment(features, batch["lengths"]) if self.enabled and model.training else features


class CTCLoss(_Augmented):
    """``F.ctc_loss`` of the recogniser on a batch (mean over utterances of the per-character loss)."""

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]):
        T = int(batch["lengths"].max())  # frames past the batch's longest are padding: skip them
        batch = {**batch, "features": batch["features"][..., :T]}
        log_probs, out_lengths = model(super().__call__(model, batch), batch["lengths"])  # (B, T', V)
        loss = F.ctc_loss(
            log_probs.transpose(0, 1), batch["targets"], out_lengths, batch["target_lengths"], blank=0
        )
        return loss, {}


class CommandLoss(_Augmented):
    """Cross-entropy and accuracy of the classifier on the spectrogram as a one-channel image."""

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]):
        logits = model(super().__call__(model, batch)[:, None])  # (B, 12)
        labels = batch["intents"]
        return F.cross_entropy(logits, labels), {"accuracy": (logits.argmax(-1) == labels).float().mean()}


def build(s: RecogniserSettings) -> Job:
    train, test, _ = split_tensors(s)
    config = RecogniserConfig(
        n_mels=s.n_mels,
        vocab_size=len(VOCAB),
        d_model=s.d_model,
        n_heads=s.n_heads,
        n_layers=s.n_layers,
        d_ff=s.d_ff,
        dropout=s.dropout,
    )
    model = CTCRecogniser(config)
    loader = dict_loader(train, s.batch_size, shuffle=True)
    return Job(model, CTCLoss(s.spec_augment), loader, dict_loader(test, 256), trainer_config(s))


def build_commands(s: CommandSettings) -> Job:
    n_classes = len(intent_names())
    if s.architecture == "cnn":
        model = command_classifier(n_classes, tuple(s.channels), s.d_model)
    elif s.architecture == "vit":
        model = command_vit(
            n_classes, s.vit_frames, s.vit_image, s.patch_size, s.d_model, s.vit_heads, s.vit_layers
        )
    else:
        raise ValueError(f"architecture must be 'cnn' or 'vit', not {s.architecture!r}")
    train, test, _ = split_tensors(s)
    loader = dict_loader(train, s.batch_size, shuffle=True)
    return Job(model, CommandLoss(s.spec_augment), loader, dict_loader(test, 256), trainer_config(s))


@torch.no_grad()
def predict_intents(model: nn.Module, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    """The classifier's intent (index into :func:`intent_names`) for every utterance in ``tensors``."""
    model.eval()
    device = next(model.parameters()).device
    return model(tensors["features"][:, None].to(device)).argmax(-1).cpu()


@torch.no_grad()
def transcribe(model: CTCRecogniser, tensors: dict[str, torch.Tensor], beam: int | None = None) -> list[str]:
    """Greedy transcripts (``beam=None``) or prefix-beam ones of every utterance in ``tensors``."""
    model.eval()
    device = next(model.parameters()).device
    log_probs, out_lengths = model(tensors["features"].to(device), tensors["lengths"].to(device))
    texts = []
    for lp, n in zip(log_probs.cpu(), out_lengths.tolist()):
        ids = greedy_decode(lp[:n]) if beam is None else prefix_beam_search(lp[:n], beam=beam)
        texts.append(VOCAB.decode(ids))
    return texts


def evaluate_recogniser(
    model: CTCRecogniser, tensors: dict[str, torch.Tensor], references: list[str], beam: int | None = None
) -> dict[str, float]:
    """CER, WER and the fraction of utterances transcribed exactly (the whole phrase right)."""
    hypotheses = transcribe(model, tensors, beam)
    exact = sum(h == r for h, r in zip(hypotheses, references)) / len(references)
    return {
        "cer": char_error_rate(hypotheses, references),
        "wer": word_error_rate(hypotheses, references),
        "exact": exact,
    }


MULTI_GPU = dict(batch_size=64)
RECIPE = Recipe("speech", "14_speech", RecogniserSettings, GPU, MULTI_GPU, build=build)
COMMANDS_RECIPE = Recipe(
    "speech-commands", "14_speech", CommandSettings, COMMANDS_GPU, MULTI_GPU, build=build_commands
)
