"""BERT's pretraining data: masked language modelling (MLM) and next sentence prediction (NSP).

* :func:`mask_tokens`: choose 15% of the non-special tokens; of those, 80% become ``[MASK]``, 10% a
  random token and 10% stay as they are. Labels hold the original id at chosen positions and -100
  (ignored by ``F.cross_entropy``) everywhere else, so the loss is taken on the chosen 15% only.
* :func:`make_nsp_pairs`: sentence pairs (A, B) where B is the true next sentence half of the time
  and a sentence from another document otherwise.
* :class:`MLMCollator`: pads encoded pairs into a batch and masks it, fresh randomness per batch.
* :func:`pydoc_documents`: the offline corpus (Python's documentation) as documents of sentences.

Label convention for NSP (that of ``transformers``): 0 = B follows A, 1 = B is a random sentence.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

import torch

__all__ = [
    "IGNORE_INDEX",
    "IS_NEXT",
    "NOT_NEXT",
    "MLMCollator",
    "encode_pairs",
    "make_nsp_pairs",
    "mask_tokens",
    "pydoc_documents",
    "split_sentences",
]

IGNORE_INDEX = -100
IS_NEXT, NOT_NEXT = 0, 1


def mask_tokens(
    input_ids: torch.Tensor,
    special_mask: torch.Tensor,
    vocab_size: int,
    mask_id: int,
    p: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking rule. Returns ``(inputs, labels)``, both ``(B, T)``; ``input_ids`` is not changed.

    Args:
        input_ids: ``(B, T)`` token ids.
        special_mask: ``(B, T)``, True at special tokens ([CLS], [SEP], [PAD]): never chosen.
        vocab_size: random replacements are drawn uniformly from ``[0, vocab_size)``.
        mask_id: id of ``[MASK]``.
        p: probability that a non-special token is chosen for prediction.
        generator: random source, for reproducible masks.
    """
    if input_ids.shape != special_mask.shape:
        raise ValueError(
            f"input_ids {tuple(input_ids.shape)} and special_mask {tuple(special_mask.shape)} differ"
        )
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability, got {p}")
    probability = torch.full(input_ids.shape, p).masked_fill(special_mask.bool().cpu(), 0.0)
    chosen = torch.bernoulli(probability, generator=generator).bool().to(input_ids.device)  # (B, T)
    labels = input_ids.masked_fill(~chosen, IGNORE_INDEX)
    # One uniform draw per position splits the chosen ones 80 / 10 / 10.
    u = torch.rand(input_ids.shape, generator=generator).to(input_ids.device)
    to_mask = chosen & (u < 0.8)
    to_random = chosen & (u >= 0.8) & (u < 0.9)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator).to(input_ids.device)
    inputs = torch.where(to_mask, torch.full_like(input_ids, mask_id), input_ids)
    inputs = torch.where(to_random, random_ids, inputs)
    return inputs, labels


# ---------------------------------------------------------------------- sentences and pairs
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")


def split_sentences(text: str, min_words: int = 4, max_words: int = 40) -> list[str]:
    """Sentences of ``text``: split at blank lines and at ``. ! ?`` before a capital; pieces with
    fewer than ``min_words`` words are dropped, longer than ``max_words`` are cut."""
    sentences = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        for sentence in _SENTENCE_END.split(paragraph):
            words = sentence.split()
            if len(words) >= min_words:
                sentences.append(" ".join(words[:max_words]))
    return sentences


def pydoc_documents(min_sentences: int = 2) -> list[list[str]]:
    """Python's documentation topics (``pydoc_data.topics``, offline) as documents of sentences,
    in sorted topic order. Topics with fewer than ``min_sentences`` sentences are skipped."""
    from pydoc_data.topics import topics

    documents = [split_sentences(topics[key]) for key in sorted(topics)]
    return [doc for doc in documents if len(doc) >= min_sentences]


def make_nsp_pairs(
    documents: Sequence[Sequence[str]], p_next: float = 0.5, seed: int = 0, sentences_per_segment: int = 1
) -> list[tuple[str, str, int]]:
    """(A, B, label) pairs: A is a segment of ``sentences_per_segment`` consecutive sentences.

    With probability ``p_next`` B is the segment right after A (label ``IS_NEXT`` = 0); otherwise B is
    a segment of the same length from a *different* document (label ``NOT_NEXT`` = 1). Segments
    step through each document without overlap.
    """
    if len(documents) < 2:
        raise ValueError("NSP needs at least two documents (random B segments come from another one)")
    if not 0.0 <= p_next <= 1.0:
        raise ValueError(f"p_next must be a probability, got {p_next}")
    if sentences_per_segment < 1:
        raise ValueError(f"sentences_per_segment must be at least 1, got {sentences_per_segment}")
    n = sentences_per_segment
    segments = [[" ".join(doc[i : i + n]) for i in range(0, len(doc), n)] for doc in documents]
    rng = random.Random(seed)
    pairs = []
    for index, doc in enumerate(segments):
        for i in range(len(doc) - 1):
            if rng.random() < p_next:
                pairs.append((doc[i], doc[i + 1], IS_NEXT))
            else:
                other = rng.randrange(len(segments) - 1)
                other += other >= index  # any document but this one
                pairs.append((doc[i], rng.choice(segments[other]), NOT_NEXT))
    return pairs


def encode_pairs(tokenizer: Any, pairs: Sequence[tuple[str, str, int]], max_len: int = 64) -> list[dict]:
    """Tokenize (A, B, label) pairs as ``[CLS] A [SEP] B [SEP]`` of at most ``max_len`` tokens (the
    longer segment is cut first) -> dicts of input_ids, token_type_ids, next_sentence_label."""
    if not pairs:
        raise ValueError("no pairs to encode")
    a, b, labels = zip(*pairs)
    encoded = tokenizer(list(a), list(b), truncation="longest_first", max_length=max_len)
    return [
        {"input_ids": ids, "token_type_ids": types, "next_sentence_label": label}
        for ids, types, label in zip(encoded["input_ids"], encoded["token_type_ids"], labels)
    ]


class MLMCollator:
    """Pad encoded examples into a batch and apply :func:`mask_tokens` (new masks every call).

    Returns a dict of ``input_ids``, ``token_type_ids``, ``attention_mask``, ``labels`` (all
    ``(B, T)``) and, when the examples have it, ``next_sentence_label`` ``(B,)``.
    """

    def __init__(self, tokenizer: Any, p: float = 0.15, seed: int = 0) -> None:
        self.pad_id = tokenizer.pad_token_id
        self.mask_id = tokenizer.mask_token_id
        self.vocab_size = len(tokenizer)
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)))
        self.p = p
        self.generator = torch.Generator().manual_seed(seed)

    def pad(self, examples: Sequence[dict]) -> dict[str, torch.Tensor]:
        """Right-pad ``input_ids`` and ``token_type_ids``; build ``attention_mask``."""
        T = max(len(e["input_ids"]) for e in examples)
        ids = torch.full((len(examples), T), self.pad_id, dtype=torch.long)
        types = torch.zeros((len(examples), T), dtype=torch.long)
        attention = torch.zeros((len(examples), T), dtype=torch.long)
        for row, e in enumerate(examples):
            n = len(e["input_ids"])
            ids[row, :n] = torch.tensor(e["input_ids"])
            types[row, :n] = torch.tensor(e.get("token_type_ids", [0] * n))
            attention[row, :n] = 1
        batch = {"input_ids": ids, "token_type_ids": types, "attention_mask": attention}
        if "next_sentence_label" in examples[0]:
            batch["next_sentence_label"] = torch.tensor([e["next_sentence_label"] for e in examples])
        return batch

    def __call__(self, examples: Sequence[dict]) -> dict[str, torch.Tensor]:
        batch = self.pad(examples)
        special = torch.isin(batch["input_ids"], self.special_ids)  # [CLS], [SEP], [PAD], ...
        batch["input_ids"], batch["labels"] = mask_tokens(
            batch["input_ids"], special, self.vocab_size, self.mask_id, self.p, self.generator
        )
        return batch
