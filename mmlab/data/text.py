"""Word-level text: a tokenizer, a vocabulary, offline corpora and generated sentence sets (chapters 02 and 05).

Everything here runs offline. The default corpus is Python's own documentation
(``pydoc_data.topics``, shipped with CPython); the classification data are generated from
templates with a fixed seed, so every run sees the same sentences. Online users can pass a hub
data set id to :func:`load_corpus` instead.

Typical use::

    text = load_corpus("pydoc")
    vocab = Vocab.build([tokenize(text)], min_count=5)
    ids = vocab.encode(tokenize("a list is mutable"))
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

__all__ = [
    "PAD",
    "UNK",
    "SentimentSplit",
    "Vocab",
    "collate_classification",
    "load_corpus",
    "make_loader",
    "make_negation_distance_set",
    "make_sentiment_set",
    "pad_batch",
    "tokenize",
]

PAD = "<pad>"
UNK = "<unk>"

_WORD = re.compile(r"[a-z_][a-z0-9_]*|[0-9]+")
_WORD_OR_PUNCT = re.compile(r"[a-z_][a-z0-9_]*|[0-9]+|[^\sa-z0-9_]")


def tokenize(text: str, lowercase: bool = True, punctuation: bool = False) -> list[str]:
    """Split text into word tokens: identifiers (``__init__``, ``int``) and numbers.

    Args:
        text: the text.
        lowercase: lower-case first (the corpora here are small, so "List" and "list" share counts).
        punctuation: keep each punctuation character as its own token.
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a str, got {type(text).__name__}")
    if lowercase:
        text = text.lower()
    pattern = _WORD_OR_PUNCT if punctuation else _WORD
    if not lowercase:
        pattern = re.compile(pattern.pattern.replace("a-z", "a-zA-Z"))
    return pattern.findall(text)


class Vocab:
    """A word <-> id table with a padding token (id 0) and an unknown token (id 1).

    Words are ordered by decreasing count (ties alphabetically), so ids are reproducible.
    Unknown words map to ``unk_id``; ``pad_id`` fills short sequences in a batch.
    """

    def __init__(self, words: Sequence[str], counts: dict[str, int] | None = None) -> None:
        words = list(words)
        if words[:2] != [PAD, UNK]:
            raise ValueError(f"a Vocab's first two words must be {PAD!r} and {UNK!r}, got {words[:2]}")
        if len(set(words)) != len(words):
            raise ValueError("a Vocab's words must be unique")
        self.itos: list[str] = words
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(words)}
        self.counts: dict[str, int] = dict(counts or {})

    pad_id = 0
    unk_id = 1

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None
    ) -> Vocab:
        """Count tokens and keep those seen at least ``min_count`` times (at most ``max_size`` words,
        the two special tokens included)."""
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}")
        if isinstance(token_lists, str) or (
            isinstance(token_lists, (list, tuple)) and token_lists and isinstance(token_lists[0], str)
        ):
            raise TypeError(
                "Vocab.build expects a list of token lists, e.g. [tokenize(text)], not a single list"
            )
        counter: Counter[str] = Counter()
        for tokens in token_lists:
            counter.update(tokens)
        for special in (PAD, UNK):
            counter.pop(special, None)
        kept = sorted((w for w, c in counter.items() if c >= min_count), key=lambda w: (-counter[w], w))
        if max_size is not None:
            kept = kept[: max(0, max_size - 2)]
        return cls([PAD, UNK, *kept], {w: counter[w] for w in kept})

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def __getitem__(self, word: str) -> int:
        return self.stoi.get(word, self.unk_id)

    def __repr__(self) -> str:
        preview = ", ".join(self.itos[2:8])
        return f"Vocab({len(self)} words: {PAD}, {UNK}, {preview}, ...)"

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token ids; unknown words become ``unk_id``."""
        if isinstance(tokens, str):
            raise TypeError("encode expects a list of tokens; call tokenize(text) first")
        return [self.stoi.get(t, self.unk_id) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words of ``ids`` (padding included, so lengths are kept)."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self):
                raise IndexError(f"id {i} is outside the vocabulary (size {len(self)})")
            out.append(self.itos[i])
        return out

    def count_tensor(self) -> torch.Tensor:
        """Counts aligned with ids (0 for the special tokens): the input of a noise distribution."""
        return torch.tensor([float(self.counts.get(w, 0)) for w in self.itos])

    def save(self, path: str | Path) -> None:
        """Write the vocabulary (words in id order, with counts) as JSON."""
        data = {"words": self.itos, "counts": [self.counts.get(w, 0) for w in self.itos]}
        Path(path).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a vocabulary written by :meth:`save`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "words" not in data:
            raise ValueError(f"{path} is not a saved Vocab (no 'words' key)")
        counts = {w: c for w, c in zip(data["words"], data.get("counts", [])) if c}
        return cls(data["words"], counts)


# ----------------------------------------------------------------------------- corpora
def load_corpus(name_or_path: str | Path = "pydoc", split: str = "train", text_field: str = "text") -> str:
    """Return a corpus as one string.

    Args:
        name_or_path: ``"pydoc"`` (the offline default), a path to a local text file, or a
            Hugging Face hub data set id (e.g. ``"wikitext"``), loaded with ``datasets``; the
            hub needs the internet and the ``datasets`` package.
        split: the data set split (hub ids only).
        text_field: the column holding the text (hub ids only).
    """
    if not isinstance(name_or_path, (str, Path)) or str(name_or_path).strip() == "":
        raise ValueError(f"name_or_path must be 'pydoc', a file path or a hub id, got {name_or_path!r}")
    if str(name_or_path) == "pydoc":
        from mmlab.data.lm import pydoc_corpus

        return pydoc_corpus()
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path.read_text(encoding="utf-8")
    if path.suffix in {".txt", ".md", ".text"} or str(name_or_path).startswith((".", "/", "~")):
        raise FileNotFoundError(f"no such text file: {path}")
    return _load_hub_corpus(str(name_or_path), split, text_field)


def _load_hub_corpus(dataset_id: str, split: str, text_field: str) -> str:
    try:
        import datasets
    except ImportError as err:  # pragma: no cover - datasets is a dependency
        raise ImportError("loading a hub corpus needs the `datasets` package: pip install datasets") from err
    try:
        data = datasets.load_dataset(dataset_id, split=split)
    except Exception as err:
        raise RuntimeError(
            f"could not load the hub data set {dataset_id!r} (split {split!r}): {type(err).__name__}: {err}\n"
            "Loading from the hub needs the internet (and HF_HUB_OFFLINE unset). Offline, use "
            "load_corpus('pydoc') or the path of a local text file."
        ) from err
    if text_field not in data.column_names:
        raise KeyError(f"{dataset_id!r} has no column {text_field!r}; its columns are {data.column_names}")
    return "\n".join(str(t) for t in data[text_field])


# ----------------------------------------------------------------------------- generated sentiment set
# Sentiment words, negators and intensifiers are SHARED by both splits: a word never seen in
# training is <unk> to every model here, so no model could classify by it. What differs is the
# sentence around them: templates, nouns and filler words of the held-out split never occur in
# training, so a model that memorised templates or nouns gains nothing on it.
POSITIVE = ["good", "great", "excellent", "wonderful", "brilliant", "enjoyable", "superb", "lovely"]
NEGATIVE = ["bad", "awful", "terrible", "boring", "dull", "poor", "dreadful", "weak"]
NEGATORS = ["not", "never"]
INTENSIFIERS = ["very", "really", "truly", "quite"]

_TRAIN_NOUNS = ["film", "movie", "book", "show", "album", "play", "novel", "game", "series", "song"]
_TRAIN_FILLERS = ["honestly", "overall", "frankly", "today", "again", "somehow"]
_TRAIN_TEMPLATES = [
    "the {noun} was {phrase}",
    "this {noun} is {phrase}",
    "i think the {noun} is {phrase} {filler}",
    "{filler} the {noun} was {phrase}",
    "my friends said the {noun} was {phrase}",
    "what a {noun} , it was {phrase}",
]
_HELDOUT_NOUNS = ["restaurant", "hotel", "concert", "lecture", "museum", "podcast", "trip", "meal"]
_HELDOUT_FILLERS = ["apparently", "lately", "basically", "anyway"]
_HELDOUT_TEMPLATES = [
    "the {noun} , i think , was {phrase}",
    "it was {phrase} , this {noun} {filler}",
    "my friends found the {noun} {phrase}",
    "{filler} i said this {noun} seemed {phrase}",
]


@dataclass
class SentimentSplit:
    """Texts, labels (1 positive, 0 negative) and whether each sentence is negated."""

    texts: list[str]
    labels: list[int]
    negated: list[bool]

    def __len__(self) -> int:
        return len(self.texts)


def _sentiment_sentences(
    n: int,
    templates: list[str],
    nouns: list[str],
    fillers: list[str],
    negation_rate: float,
    rng: random.Random,
) -> SentimentSplit:
    texts, labels, negated = [], [], []
    for i in range(n):
        positive_word = i % 2 == 0  # balanced by construction: half positive words, half negative
        neg = rng.random() < negation_rate
        word = rng.choice(POSITIVE if positive_word else NEGATIVE)
        parts = []
        if neg:
            parts.append(rng.choice(NEGATORS))
        if rng.random() < 0.5:
            parts.append(rng.choice(INTENSIFIERS))
        parts.append(word)
        text = rng.choice(templates).format(
            noun=rng.choice(nouns), filler=rng.choice(fillers), phrase=" ".join(parts)
        )
        texts.append(text)
        labels.append(int(positive_word != neg))  # a negator flips the word's polarity
        negated.append(neg)
    order = list(range(n))
    rng.shuffle(order)
    return SentimentSplit([texts[i] for i in order], [labels[i] for i in order], [negated[i] for i in order])


def make_sentiment_set(
    n_train: int = 4000, n_test: int = 1000, negation_rate: float = 0.4, seed: int = 0
) -> tuple[SentimentSplit, SentimentSplit]:
    """Generated sentiment sentences: a training split and a held-out split.

    The label is the polarity of the one sentiment word, flipped when a negator ("not", "never")
    precedes it ("the film was not very good" is negative). The held-out split uses templates,
    nouns and filler words that never occur in training; the sentiment words, negators and
    intensifiers are shared (a word unseen in training carries no information to any model).

    Returns:
        (train, test), each balanced between the two polarities of the sentiment word.
    """
    if not 0.0 <= negation_rate <= 1.0:
        raise ValueError(f"negation_rate must be in [0, 1], got {negation_rate}")
    if n_train < 2 or n_test < 2:
        raise ValueError("n_train and n_test must be at least 2")
    rng = random.Random(seed)
    train = _sentiment_sentences(n_train, _TRAIN_TEMPLATES, _TRAIN_NOUNS, _TRAIN_FILLERS, negation_rate, rng)
    test = _sentiment_sentences(
        n_test, _HELDOUT_TEMPLATES, _HELDOUT_NOUNS, _HELDOUT_FILLERS, negation_rate, rng
    )
    return train, test


# Neutral words that separate the negator from the sentiment word in the long-range task.
_DISTANCE_FILLERS = [
    "the", "a", "story", "and", "of", "in", "with", "some", "people", "was", "its", "for", "on",
    "then", "time", "by", "at", "one", "from", "that",
]  # fmt: skip
_NEUTRAL_OPENERS = ["so", "well"]


def make_negation_distance_set(
    n: int, distances: Sequence[int], seed: int = 0
) -> tuple[list[str], list[int], list[int]]:
    """Sentences where a negator sits ``d`` words before the final sentiment word.

    Each sentence is ``opener f_1 ... f_{d-1} word``: the opener is a negator ("not", "never") or a
    neutral word ("so", "well") with equal probability, the ``f_i`` are random neutral fillers and
    the last token is a sentiment word. The label is the word's polarity, flipped by a negator, so
    a reader going left to right must carry one bit across ``d - 1`` fillers.

    Returns:
        (texts, labels, distances), balanced over labels and spread evenly over ``distances``.
    """
    if not distances or min(distances) < 1:
        raise ValueError(f"distances must be a non-empty list of integers >= 1, got {list(distances)}")
    rng = random.Random(seed)
    texts, labels, dists = [], [], []
    for i in range(n):
        d = distances[i % len(distances)]
        positive_word = (i // len(distances)) % 2 == 0
        neg = rng.random() < 0.5
        opener = rng.choice(NEGATORS if neg else _NEUTRAL_OPENERS)
        fillers = [rng.choice(_DISTANCE_FILLERS) for _ in range(d - 1)]
        word = rng.choice(POSITIVE if positive_word else NEGATIVE)
        texts.append(" ".join([opener, *fillers, word]))
        labels.append(int(positive_word != neg))
        dists.append(d)
    order = list(range(n))
    rng.shuffle(order)
    return [texts[i] for i in order], [labels[i] for i in order], [dists[i] for i in order]


# ----------------------------------------------------------------------------- batching
def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists into ``ids`` (B, T) and return their ``lengths`` (B,)."""
    if len(sequences) == 0:
        raise ValueError("pad_batch needs at least one sequence")
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    if int(lengths.min()) == 0:
        raise ValueError("pad_batch got an empty sequence; every text needs at least one token")
    ids = torch.full((len(sequences), int(lengths.max())), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return ids, lengths


def collate_classification(
    examples: Sequence[tuple[list[int], int]], pad_id: int = 0
) -> dict[str, torch.Tensor]:
    """(ids, label) pairs -> {"ids": (B, T), "lengths": (B,), "labels": (B,)}."""
    ids, lengths = pad_batch([e[0] for e in examples], pad_id)
    return {
        "ids": ids,
        "lengths": lengths,
        "labels": torch.tensor([e[1] for e in examples], dtype=torch.long),
    }


def make_loader(
    texts: Sequence[str],
    labels: Sequence[int],
    vocab: Vocab,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int = 0,
    unk_rate: float = 0.0,
) -> DataLoader:
    """A DataLoader of padded batches (see :func:`collate_classification`) for text classification.

    Args:
        unk_rate: word dropout for training: each token becomes ``<unk>`` with this probability,
            drawn anew for every batch. Without it a model never sees ``<unk>`` in training (every
            training word is in the vocabulary), so its ``<unk>`` vector stays random and unseen
            words at test time act as noise.
    """
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if not 0.0 <= unk_rate < 1.0:
        raise ValueError(f"unk_rate must be in [0, 1), got {unk_rate}")
    examples = [(vocab.encode(tokenize(t, punctuation=True)), int(y)) for t, y in zip(texts, labels)]
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    dropout_rng = torch.Generator().manual_seed(seed + 1)

    def collate(batch: Sequence[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
        out = collate_classification(batch, vocab.pad_id)
        if unk_rate > 0:
            drop = torch.rand(out["ids"].shape, generator=dropout_rng) < unk_rate
            out["ids"] = out["ids"].masked_fill(drop & (out["ids"] != vocab.pad_id), vocab.unk_id)
        return out

    return DataLoader(
        examples, batch_size=batch_size, shuffle=shuffle, generator=generator, collate_fn=collate
    )
