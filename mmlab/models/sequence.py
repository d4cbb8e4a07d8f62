"""Word vectors and the text encoders that came before attention (chapter 02; chapter 03 reuses the LSTM).

* word2vec: :func:`skipgram_pairs`, :func:`negative_sampling_loss`, :class:`SkipGram`, and
  :func:`nearest_neighbours` to look at what it learned;
* classifiers that read a padded batch ``ids`` (B, T) with ``lengths`` (B,) and return logits (B, C):
  :class:`CNNClassifier` (n-gram filters, max over time) and :class:`RNNClassifier` (an LSTM or GRU
  over packed sequences); the bag of words they are compared with (mean of word vectors, order lost)
  is :class:`mmlab.models.bow.BoWClassifier`, which reads the same batches.

Padding never changes a prediction: the bag averages real tokens only, the CNN zeroes padded word
vectors and max-pools over real positions only, and the RNN stops at each sequence's length
because the batch is packed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from mmlab.models.parameters import count_parameters  # re-exported: the chapters import it from here

__all__ = [
    "CNNClassifier",
    "TextCNNConfig",
    "RNNClassifier",
    "RNNConfig",
    "SkipGram",
    "SkipGramConfig",
    "sequence_classification_loss",
    "count_parameters",
    "most_similar",
    "nearest_neighbours",
    "negative_sampling_loss",
    "skipgram_loss",
    "skipgram_pairs",
    "subsample_frequent",
    "unigram_noise",
]


# ----------------------------------------------------------------------------- word2vec
def skipgram_pairs(token_ids: Sequence[int], window: int) -> list[tuple[int, int]]:
    """(centre, context) id pairs: every word with each neighbour at most ``window`` positions away.

    In order: by centre position, then by context position; a word is never its own context
    (offset 0 is skipped), but the same id at another position is a context like any other.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    ids = [int(i) for i in token_ids]
    pairs = []
    for i, centre in enumerate(ids):
        for j in range(max(0, i - window), min(len(ids), i + window + 1)):
            if j != i:
                pairs.append((centre, ids[j]))
    return pairs


def negative_sampling_loss(
    centre: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor
) -> torch.Tensor:
    """Skip-gram negative-sampling loss, averaged over the batch.

    ``-log sigma(u_o . v_c) - sum_k log sigma(-u_k . v_c)`` with ``log sigma`` computed stably.

    Args:
        centre: centre-word vectors v_c, (B, d).
        context: vectors u_o of the observed context words, (B, d).
        negatives: vectors u_k of K sampled noise words per example, (B, K, d).
    """
    if centre.dim() != 2 or context.shape != centre.shape:
        raise ValueError(
            f"centre and context must both be (B, d), got {tuple(centre.shape)}, {tuple(context.shape)}"
        )
    if negatives.dim() != 3 or negatives.shape[0] != centre.shape[0] or negatives.shape[2] != centre.shape[1]:
        raise ValueError(f"negatives must be (B, K, d) = ({centre.shape[0]}, K, {centre.shape[1]}), "
                         f"got {tuple(negatives.shape)}")  # fmt: skip
    positive = (centre * context).sum(-1)  # (B,)
    negative = torch.bmm(negatives, centre.unsqueeze(-1)).squeeze(-1)  # (B, K)
    # log sigma(x) = -softplus(-x): exact and finite for large |x|, unlike log(sigmoid(x)).
    return (F.softplus(-positive) + F.softplus(negative).sum(-1)).mean()


def unigram_noise(counts: torch.Tensor, power: float = 0.75) -> torch.Tensor:
    """The noise distribution P(w) proportional to count(w)^power (word2vec's 3/4 flattens it)."""
    counts = torch.as_tensor(counts, dtype=torch.float)
    if (counts < 0).any() or counts.sum() <= 0:
        raise ValueError("counts must be non-negative with a positive total")
    weights = counts.pow(power)
    return weights / weights.sum()


def subsample_frequent(
    token_ids: Sequence[int], counts: torch.Tensor, threshold: float = 1e-3, seed: int = 0
) -> list[int]:
    """Drop frequent words at random (Mikolov et al., 2013): keep a word of frequency f with
    probability min(1, sqrt(threshold / f)), so "the" stops dominating the pairs."""
    counts = torch.as_tensor(counts, dtype=torch.float)
    freq = counts / counts.sum()
    keep = torch.clamp(torch.sqrt(threshold / freq.clamp_min(1e-12)), max=1.0)  # (V,)
    ids = torch.as_tensor(list(token_ids), dtype=torch.long)
    draw = torch.rand(len(ids), generator=torch.Generator().manual_seed(seed))
    return ids[draw < keep[ids]].tolist()


@dataclass
class SkipGramConfig:
    """vocab_size: words V; dim: vector size d; negatives: noise words K per pair."""

    vocab_size: int
    dim: int = 64
    negatives: int = 5


class SkipGram(nn.Module):
    """Two tables: ``centre`` vectors v (the word vectors we keep) and ``context`` vectors u."""

    def __init__(self, config: SkipGramConfig, noise: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        self.centre = nn.Embedding(config.vocab_size, config.dim)
        self.context = nn.Embedding(config.vocab_size, config.dim)
        # word2vec's initialisation: small random centre vectors, zero context vectors, so every
        # score starts at 0 and the loss at (1 + K) log 2.
        nn.init.uniform_(self.centre.weight, -0.5 / config.dim, 0.5 / config.dim)
        nn.init.zeros_(self.context.weight)
        if noise is None:
            noise = torch.ones(config.vocab_size)
        if noise.shape != (config.vocab_size,):
            raise ValueError(f"noise must have shape ({config.vocab_size},), got {tuple(noise.shape)}")
        self.register_buffer("noise", noise / noise.sum(), persistent=False)

    def sample_negatives(self, batch: int) -> torch.Tensor:
        """K noise word ids per example, (B, K), drawn from the noise distribution."""
        flat = torch.multinomial(self.noise, batch * self.config.negatives, replacement=True)
        return flat.view(batch, self.config.negatives)

    def forward(
        self, centre_ids: torch.Tensor, context_ids: torch.Tensor, negative_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The negative-sampling loss of a batch of (centre, context) pairs, (B,) ids each."""
        if negative_ids is None:
            negative_ids = self.sample_negatives(centre_ids.shape[0])
        v = self.centre(centre_ids)  # (B, d)
        u = self.context(context_ids)  # (B, d)
        u_neg = self.context(negative_ids)  # (B, K, d)
        return negative_sampling_loss(v, u, u_neg)

    @property
    def vectors(self) -> torch.Tensor:
        """The learned word vectors, (V, d)."""
        return self.centre.weight.detach()


def skipgram_loss(model: SkipGram, batch) -> torch.Tensor:
    """Trainer loss function for batches of (centre, context) pairs, (B, 2) (or a 1-tuple of it)."""
    pairs = batch[0] if isinstance(batch, (list, tuple)) else batch  # (B, 2)
    return model(pairs[:, 0], pairs[:, 1])


def nearest_neighbours(query: torch.Tensor, matrix: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` rows of ``matrix`` (V, d) most cosine-similar to ``query`` (d,), best first."""
    if query.dim() != 1 or matrix.dim() != 2 or matrix.shape[1] != query.shape[0]:
        raise ValueError(
            f"need query (d,) and matrix (V, d), got {tuple(query.shape)} and {tuple(matrix.shape)}"
        )
    if not 1 <= k <= matrix.shape[0]:
        raise ValueError(f"k must be between 1 and {matrix.shape[0]}, got {k}")
    sims = F.normalize(matrix, dim=1) @ F.normalize(query, dim=0)  # (V,)
    return sims.topk(k).indices


def most_similar(word: str, vocab, vectors: torch.Tensor, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` words closest to ``word`` by cosine similarity (the word itself excluded)."""
    if word not in vocab:
        raise KeyError(f"{word!r} is not in the vocabulary")
    index = vocab[word]
    top = nearest_neighbours(vectors[index], vectors, k + 1).tolist()
    top = [i for i in top if i != index][:k]
    sims = F.normalize(vectors[top], dim=1) @ F.normalize(vectors[index], dim=0)
    return [(vocab.itos[i], float(s)) for i, s in zip(top, sims)]


# ----------------------------------------------------------------------------- classifiers
def _lengths(ids: torch.Tensor, lengths: torch.Tensor | None, pad_id: int) -> torch.Tensor:
    if ids.dim() != 2:
        raise ValueError(f"ids must be (B, T), got shape {tuple(ids.shape)}")
    if lengths is None:
        lengths = (ids != pad_id).sum(1)
    if (lengths < 1).any():
        raise ValueError("every sequence needs at least one real token (a length of 0 was found)")
    return lengths


def _mask(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T) True at real tokens, False at padding."""
    return torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths.to(ids.device)[:, None]


@dataclass
class TextCNNConfig:
    """kernel_sizes: odd widths of the n-gram filters; channels: filters per width."""

    vocab_size: int
    dim: int = 64
    channels: int = 64
    kernel_sizes: tuple[int, ...] = (3,)
    num_classes: int = 2
    pad_id: int = 0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not self.kernel_sizes or any(k < 1 or k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(
                f"kernel_sizes must be odd positive widths (keeps length T), got {self.kernel_sizes}"
            )


class CNNClassifier(nn.Module):
    """1-D convolutions over word vectors (n-gram detectors), max over time, one linear layer."""

    def __init__(self, config: TextCNNConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.dim, padding_idx=config.pad_id)
        self.convs = nn.ModuleList(
            nn.Conv1d(config.dim, config.channels, k, padding=k // 2) for k in config.kernel_sizes
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.channels * len(config.kernel_sizes), config.num_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        lengths = _lengths(ids, lengths, self.config.pad_id)
        mask = _mask(ids, lengths)  # (B, T)
        # Zeroed padding vectors equal the convolution's own zero padding at the sequence end, so a
        # real position sees the same window whether or not the batch was padded.
        x = (self.embed(ids) * mask[..., None]).transpose(1, 2)  # (B, dim, T)
        pooled = []
        for conv in self.convs:
            h = F.relu(conv(x))  # (B, channels, T)
            h = h.masked_fill(~mask[:, None, :], float("-inf"))  # padded positions never win the max
            pooled.append(h.max(dim=2).values)  # (B, channels)
        return self.head(self.dropout(torch.cat(pooled, dim=1)))  # (B, C)


@dataclass
class RNNConfig:
    """cell: "lstm" or "gru"; hidden: state size; packed: run on packed sequences (True) or on the
    padded batch as it is (False: the final state has read the padding; shown on purpose in the
    chapter)."""

    vocab_size: int
    dim: int = 64
    hidden: int = 64
    num_layers: int = 1
    cell: Literal["lstm", "gru"] = "lstm"
    bidirectional: bool = False
    num_classes: int = 2
    pad_id: int = 0
    packed: bool = True

    def __post_init__(self) -> None:
        if self.cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', got {self.cell!r}")


class RNNClassifier(nn.Module):
    """An LSTM or GRU reads the words left to right; its last hidden state feeds a linear layer."""

    def __init__(self, config: RNNConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.dim, padding_idx=config.pad_id)
        rnn = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.rnn = rnn(
            config.dim, config.hidden, config.num_layers, batch_first=True, bidirectional=config.bidirectional
        )
        self.head = nn.Linear(config.hidden * (2 if config.bidirectional else 1), config.num_classes)

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The sentence vector: the top layer's final hidden state(s), (B, hidden * directions)."""
        lengths = _lengths(ids, lengths, self.config.pad_id)
        x = self.embed(ids)  # (B, T, dim)
        if self.config.packed:
            # Packing tells the RNN each length, so it stops at the last real token (and the
            # backward direction starts there) instead of running through the padding.
            x = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(x)
        h_n = state[0] if self.config.cell == "lstm" else state  # (layers * directions, B, hidden)
        if self.config.bidirectional:
            return torch.cat([h_n[-2], h_n[-1]], dim=1)  # (B, 2 * hidden)
        return h_n[-1]  # (B, hidden)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.encode(ids, lengths))  # (B, C)


def sequence_classification_loss(model: nn.Module, batch: dict[str, torch.Tensor]):
    """Trainer loss function for batches from :func:`mmlab.data.text.make_loader`."""
    logits = model(batch["ids"], batch["lengths"])  # (B, C)
    loss = F.cross_entropy(logits, batch["labels"])
    accuracy = (logits.argmax(-1) == batch["labels"]).float().mean()
    return loss, {"accuracy": accuracy}
