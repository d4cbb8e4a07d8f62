"""Chapter 02's recipes, also read by chapter 03.

* job ``lstm``: an LSTM over packed sequences classifies generated sentiment sentences; chapter 02
  compares it with a bag of words and a 1-D CNN on the same data and budget (their sizes and
  learning rates are settings here too);
* job ``distance``: one reader (``lstm`` or ``transformer``) learns to carry a negator across
  ``distance - 1`` filler words; chapter 02 sweeps the LSTM over ``distances`` and ``seeds``, and
  chapter 03 runs its Transformer on the same sentences with the same budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mmlab.data.text import (
    SentimentSplit,
    Vocab,
    make_loader,
    make_negation_distance_set,
    make_sentiment_set,
    tokenize,
)
from mmlab.models.bow import BoWConfig
from mmlab.models.encoder import EncoderClassifier, EncoderConfig
from mmlab.models.sequence import RNNClassifier, RNNConfig, TextCNNConfig, sequence_classification_loss
from mmlab.models.transformer import TransformerConfig
from mmlab.recipes.base import Job, Recipe, Settings, trainer_config
from mmlab.train.trainer import TrainConfig

__all__ = [
    "DISTANCE_RECIPE",
    "DistanceSettings",
    "LSTMSettings",
    "RECIPE",
    "build",
    "build_distance",
    "classifier_configs",
    "distance_data",
    "distance_job",
    "distance_reader",
    "lstm_config",
    "sentiment_data",
    "sentiment_loaders",
]


@dataclass(repr=False)
class LSTMSettings(Settings, TrainConfig):
    """Chapter 02's sentiment run: the LSTM's settings, and the baselines it is compared with."""

    n_train: int = 4000
    n_test: int = 1000
    min_count: int = 2  # words seen fewer times are <unk>
    unk_rate: float = 0.1  # training words replaced by <unk> at random
    d_model: int = 32  # word vectors (all three classifiers)
    hidden: int = 64  # the LSTM's state
    num_layers: int = 1
    batch_size: int = 64
    max_steps: int = 400
    lr: float = 3e-3  # the LSTM's (and the CNN's) learning rate
    cnn_channels: int = 64  # the CNN baseline's filters per width
    cnn_kernel_sizes: tuple[int, ...] = (3,)
    bow_lr: float = 1e-2  # the bag of words' learning rate


GPU = dict(
    n_train=100000,
    n_test=10000,
    d_model=128,
    hidden=256,
    num_layers=2,
    batch_size=256,
    max_steps=5000,
    lr=1e-3,
    warmup_steps=200,
    eval_every=500,
)
MULTI_GPU = dict(batch_size=32)


def sentiment_data(s: LSTMSettings) -> tuple[SentimentSplit, SentimentSplit, Vocab]:
    """The generated sentiment sentences (train, held-out) and the vocabulary of the training split."""
    train, test = make_sentiment_set(n_train=s.n_train, n_test=s.n_test, seed=0)
    vocab = Vocab.build([tokenize(t, punctuation=True) for t in train.texts], min_count=s.min_count)
    return train, test, vocab


def sentiment_loaders(
    s: LSTMSettings, train: SentimentSplit, test: SentimentSplit, vocab: Vocab, seed: int = 0
):
    """Training batches (shuffled by ``seed``, with word dropout) and held-out batches of 256."""
    train_loader = make_loader(
        train.texts, train.labels, vocab, s.batch_size, shuffle=True, unk_rate=s.unk_rate, seed=seed
    )
    return train_loader, make_loader(test.texts, test.labels, vocab, 256)


def lstm_config(s: LSTMSettings, vocab_size: int) -> RNNConfig:
    """The LSTM these settings describe, for a vocabulary of ``vocab_size``."""
    return RNNConfig(vocab_size, s.d_model, hidden=s.hidden, num_layers=s.num_layers, cell="lstm")


def classifier_configs(s: LSTMSettings, vocab_size: int) -> dict[str, tuple[object, float]]:
    """Chapter 02's three readers of the sentiment set: name -> (model config, learning rate)."""
    widths = ", ".join(map(str, s.cnn_kernel_sizes))
    return {
        "BoW (mean + linear)": (BoWConfig(vocab_size, 2, s.d_model), s.bow_lr),
        f"CNN (width {widths})": (
            TextCNNConfig(vocab_size, s.d_model, channels=s.cnn_channels, kernel_sizes=s.cnn_kernel_sizes),
            s.lr,
        ),
        "LSTM (packed)": (lstm_config(s, vocab_size), s.lr),
    }


def build(s: LSTMSettings) -> Job:
    train, test, vocab = sentiment_data(s)
    train_loader, test_loader = sentiment_loaders(s, train, test, vocab)
    model = RNNClassifier(lstm_config(s, len(vocab)))
    return Job(model, sequence_classification_loss, train_loader, test_loader, trainer_config(s))


RECIPE = Recipe(
    "lstm",
    "02_embeddings_sequence_models",
    LSTMSettings,
    GPU,
    MULTI_GPU,
    build=build,
    aliases={"dim": "d_model"},
)


# ----------------------------------------------------------------------------- the distance task
@dataclass(repr=False)
class DistanceSettings(Settings, TrainConfig):
    """The distance task of chapters 02 and 03: both readers get the same sentences and budget."""

    reader: Literal["lstm", "transformer"] = "lstm"
    distance: int = 16  # words from the negator to the sentiment word (the job's one run)
    distances: tuple[int, ...] = (2, 4, 8, 16)  # the chapters' sweep
    seeds: tuple[int, ...] = (0, 1, 2)  # the chapters' seeds per distance
    n_train: int = 4000
    n_test: int = 1000
    d_model: int = 32  # token vectors (both readers)
    hidden: int = 32  # the LSTM's state
    n_heads: int = 2  # the Transformer's heads, layers and MLP width
    n_layers: int = 2
    d_ff: int = 64
    max_len: int = 40  # the Transformer's learned positions: the longest sentence it reads
    batch_size: int = 128
    max_steps: int = 150
    lr: float = 1e-2


DISTANCE_GPU = dict(
    n_train=20000, distances=(2, 4, 8, 16, 32, 64), distance=64, max_len=128, max_steps=1500, lr=3e-3
)


def distance_data(s: DistanceSettings, distance: int) -> tuple[list[str], list[int], list[str], list[int]]:
    """Training and held-out (texts, labels) at one ``distance``."""
    texts, labels, _ = make_negation_distance_set(s.n_train, [distance], seed=0)
    test_texts, test_labels, _ = make_negation_distance_set(s.n_test, [distance], seed=100)
    return texts, labels, test_texts, test_labels


def _masked_sentence_loss(model: nn.Module, batch: dict[str, torch.Tensor]):
    """Cross-entropy of a sequence-head encoder on ``make_loader`` batches: real tokens are its mask."""
    ids = batch["ids"]  # (B, T)
    real = torch.arange(ids.shape[1], device=ids.device) < batch["lengths"].to(ids.device)[:, None]
    logits = model(ids, real.long())  # (B, 2)
    loss = F.cross_entropy(logits, batch["labels"])
    return loss, {"accuracy": (logits.argmax(-1) == batch["labels"]).float().mean()}


def distance_reader(s: DistanceSettings, vocab_size: int):
    """The reader ``s.reader`` and its Trainer loss: an LSTM over packed sequences, or a Transformer
    encoder (learned positions up to ``s.max_len``) mean-pooled into a sentence head."""
    if s.reader == "lstm":
        config = RNNConfig(vocab_size, s.d_model, hidden=s.hidden, cell="lstm")
        return RNNClassifier(config), sequence_classification_loss
    if s.reader == "transformer":
        transformer = TransformerConfig(
            d_model=s.d_model,
            n_heads=s.n_heads,
            n_layers=s.n_layers,
            d_ff=s.d_ff,
            max_len=s.max_len,
            positions="learned",
        )
        model = EncoderClassifier(EncoderConfig(vocab_size, 2, head="sequence", transformer=transformer))
        return model, _masked_sentence_loss
    raise ValueError(f"reader must be 'lstm' or 'transformer', got {s.reader!r}")


def distance_job(s: DistanceSettings, distance: int, seed: int = 0) -> Job:
    """One reader at one ``distance``; ``seed`` orders the batches (seed the weights before calling)."""
    if s.reader == "transformer" and distance + 1 > s.max_len:
        raise ValueError(f"distance {distance} needs max_len >= {distance + 1}, got {s.max_len}")
    texts, labels, test_texts, test_labels = distance_data(s, distance)
    vocab = Vocab.build([tokenize(t) for t in texts])
    model, loss = distance_reader(s, len(vocab))
    train_loader = make_loader(texts, labels, vocab, s.batch_size, shuffle=True, seed=seed)
    test_loader = make_loader(test_texts, test_labels, vocab, s.n_test)
    return Job(model, loss, train_loader, test_loader, trainer_config(s))


def build_distance(s: DistanceSettings) -> Job:
    return distance_job(s, s.distance)


DISTANCE_RECIPE = Recipe(
    "distance",
    "02_embeddings_sequence_models",
    DistanceSettings,
    DISTANCE_GPU,
    dict(batch_size=32),
    build=build_distance,
)
