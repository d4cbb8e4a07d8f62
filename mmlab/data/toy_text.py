"""A generated topic-classification sentence set, offline and instant (chapter 01).

Each sentence is a template with two topic words, e.g. "everyone talked about the goal after the
referee" (sports). Four topics: sports, food, weather, tech. Some words belong to two topics
("chip" is food and tech, "cloud" is weather and tech), so a sentence whose two words are both
ambiguous cannot always be told apart: the best possible accuracy is below 1.

The held-out split uses *different templates* from the training split, so a classifier must rely
on the topic words, not on memorised sentence frames. Tokenisation is lower-case whitespace
splitting; :class:`TopicVocab` maps words to ids with 0 = padding and 1 = unknown.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch.utils.data import TensorDataset

__all__ = ["TOPICS", "ToyTextData", "TopicVocab", "load_topics", "make_topic_sentences"]

TOPICS: dict[str, list[str]] = {
    "sports": "match goal team coach league player stadium referee season penalty".split(),
    "food": "recipe soup bread chef dinner flavor kitchen spice dessert salad".split(),
    "weather": "rain storm forecast wind snow sunshine thunder fog humidity frost".split(),
    "tech": "software laptop server code battery network browser robot database app".split(),
}
# Words that belong to two topics: the source of honest, unavoidable errors.
SHARED: dict[str, tuple[str, str]] = {
    "chip": ("food", "tech"),
    "cloud": ("weather", "tech"),
    "heat": ("weather", "sports"),
    "fan": ("sports", "tech"),
    "cooler": ("weather", "food"),
    "record": ("sports", "tech"),
}

TRAIN_TEMPLATES = [
    "the {a} and the {b} were in the news today",
    "everyone talked about the {a} after the {b}",
    "i read a long story about the {a} and the {b}",
    "my friend loves the {a} but not the {b}",
    "yesterday the {a} changed because of the {b}",
    "we argued about the {a} and the {b} all night",
]
TEST_TEMPLATES = [
    "a short report covered the {a} near the {b}",
    "nobody expected the {a} to beat the {b}",
    "what do you think of the {a} with the {b}",
    "she posted a photo of the {a} beside the {b}",
]


def _topic_words(topic: str) -> list[str]:
    return TOPICS[topic] + [word for word, topics in SHARED.items() if topic in topics]


def make_topic_sentences(
    n: int, split: Literal["train", "test"] = "train", seed: int = 0
) -> tuple[list[str], list[int]]:
    """``n`` sentences and their topic labels (indices into ``list(TOPICS)``), balanced by topic.

    ``split="test"`` draws from templates that never occur in ``"train"``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    templates = TRAIN_TEMPLATES if split == "train" else TEST_TEMPLATES
    names = list(TOPICS)
    rng = random.Random(f"{seed}-{split}")  # different splits never share a random stream
    texts, labels = [], []
    for i in range(n):
        label = i % len(names)
        a, b = rng.sample(_topic_words(names[label]), 2)
        texts.append(rng.choice(templates).format(a=a, b=b))
        labels.append(label)
    order = list(range(n))
    rng.shuffle(order)
    return [texts[i] for i in order], [labels[i] for i in order]


class TopicVocab:
    """Word <-> id mapping with padding (id 0) and unknown (id 1)."""

    PAD, UNK = "<pad>", "<unk>"

    def __init__(self, words: Sequence[str]) -> None:
        self.itos = [self.PAD, self.UNK, *[w for w in words if w not in (self.PAD, self.UNK)]]
        self.stoi = {word: index for index, word in enumerate(self.itos)}
        self.pad_id, self.unk_id = 0, 1

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> TopicVocab:
        """Every word seen at least ``min_count`` times, most frequent first."""
        counts = Counter(word for text in texts for word in text.lower().split())
        return cls([word for word, count in counts.most_common() if count >= min_count])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """Ids of the words of ``text`` (unknown words map to ``unk_id``)."""
        return [self.stoi.get(word, self.unk_id) for word in text.lower().split()]

    def encode_batch(self, texts: Sequence[str], max_len: int | None = None) -> torch.Tensor:
        """A ``(N, T)`` LongTensor of ids, right-padded with ``pad_id`` (and cut at ``max_len``)."""
        encoded = [self.encode(text)[:max_len] for text in texts]
        length = max((len(ids) for ids in encoded), default=0)
        out = torch.full((len(encoded), max(length, 1)), self.pad_id, dtype=torch.long)
        for row, ids in enumerate(encoded):
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Words of ``ids``, padding left out."""
        return " ".join(self.itos[int(i)] for i in ids if int(i) != self.pad_id)


@dataclass
class ToyTextData:
    """Both splits as texts, labels and ready-to-load tensors, plus the vocabulary (built on train)."""

    classes: list[str]
    vocab: TopicVocab
    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]
    train: TensorDataset  # (ids (N, T), labels (N,))
    test: TensorDataset


def load_topics(n_train: int = 2000, n_test: int = 800, seed: int = 0) -> ToyTextData:
    """The topic sentence set: ``n_train`` training and ``n_test`` held-out sentences."""
    train_texts, train_labels = make_topic_sentences(n_train, "train", seed)
    test_texts, test_labels = make_topic_sentences(n_test, "test", seed)
    vocab = TopicVocab.build(train_texts)
    return ToyTextData(
        classes=list(TOPICS),
        vocab=vocab,
        train_texts=train_texts,
        train_labels=train_labels,
        test_texts=test_texts,
        test_labels=test_labels,
        train=TensorDataset(vocab.encode_batch(train_texts), torch.tensor(train_labels)),
        test=TensorDataset(vocab.encode_batch(test_texts), torch.tensor(test_labels)),
    )
