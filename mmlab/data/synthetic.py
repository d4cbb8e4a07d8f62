"""Generated algorithmic tasks: small, offline, and impossible without attention (chapter 03).

Each task is a batch of token sequences with a per-position target (same length as the input), so
one Transformer encoder with a linear head per position solves all of them:

* ``sort``: output position i holds the i-th smallest input character ("dcab" -> "abcd");
* ``reverse``: output position i holds input position ``length - 1 - i`` ("abcd" -> "dcba").

Both need each output to look at *other* positions; ``reverse`` needs positions, ``sort`` needs
content comparisons (and positions, to know which rank to output). Sequences have random lengths
and are right-padded with ``pad_id`` = 0; targets at padding positions are ``IGNORE`` (-100, what
``F.cross_entropy`` skips).

A :class:`LetterTokenizer` turns text into ids and back, so demos can take typed input.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

import torch
from torch.utils.data import TensorDataset

__all__ = ["IGNORE", "LetterTokenizer", "SequenceTask", "make_task", "task_targets"]

IGNORE = -100  # target value F.cross_entropy ignores (padding positions)
Task = Literal["sort", "reverse"]


class LetterTokenizer:
    """One id per character of ``alphabet``; id 0 is padding.

    Example::

        tok = LetterTokenizer("abc")
        tok.encode("cab")  # [3, 1, 2]
        tok.decode([3, 1, 2])  # "cab"
    """

    pad_token = "·"

    def __init__(self, alphabet: str = string.ascii_lowercase) -> None:
        if len(set(alphabet)) != len(alphabet) or not alphabet:
            raise ValueError(f"alphabet must be non-empty with distinct characters, got {alphabet!r}")
        self.alphabet = alphabet
        self.pad_id = 0
        self._ids = {ch: i + 1 for i, ch in enumerate(alphabet)}

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet) + 1

    def __len__(self) -> int:
        return self.vocab_size

    def tokenize(self, text: str) -> list[str]:
        """The characters of ``text`` (each one token)."""
        return list(text)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text``; raises ValueError naming any character not in the alphabet."""
        unknown = list(dict.fromkeys(ch for ch in text if ch not in self._ids))  # in order, no repeats
        if unknown:
            listed = ", ".join(repr(ch) for ch in unknown)
            raise ValueError(f"{listed} not in the alphabet {self.alphabet!r}")
        return [self._ids[ch] for ch in text]

    def decode(self, ids: list[int] | torch.Tensor) -> str:
        """Characters of ``ids``; padding is dropped."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return "".join(self.alphabet[i - 1] for i in ids if 0 < i <= len(self.alphabet))


def task_targets(ids: torch.Tensor, lengths: torch.Tensor, task: Task) -> torch.Tensor:
    """Targets ``(B, T)`` of ``task`` for right-padded ``ids`` ``(B, T)``; padding gets IGNORE."""
    B, T = ids.shape
    positions = torch.arange(T).expand(B, T)  # (B, T)
    real = positions < lengths[:, None]  # (B, T) True on real tokens
    if task == "sort":
        big = torch.iinfo(ids.dtype).max
        targets = torch.where(real, ids, big).sort(dim=1).values  # padding sorts to the end
    elif task == "reverse":
        source = (lengths[:, None] - 1 - positions).clamp(min=0)  # (B, T) index to read from
        targets = ids.gather(1, source)
    else:
        raise ValueError(f"unknown task {task!r}: choose 'sort' or 'reverse'")
    return targets.masked_fill(~real, IGNORE)


@dataclass
class SequenceTask:
    """A generated data set: ``ids`` and ``targets`` ``(N, max_len)``, ``attention_mask`` (1 = real)."""

    ids: torch.Tensor
    targets: torch.Tensor
    attention_mask: torch.Tensor

    def dataset(self) -> TensorDataset:
        """A ``TensorDataset`` of (ids, attention_mask, targets), ready for a DataLoader."""
        return TensorDataset(self.ids, self.attention_mask, self.targets)

    def __len__(self) -> int:
        return self.ids.size(0)


def make_task(
    task: Task,
    n: int,
    vocab_size: int,
    min_len: int = 2,
    max_len: int = 8,
    seed: int = 0,
) -> SequenceTask:
    """``n`` random sequences of ids in ``[1, vocab_size)`` with lengths in ``[min_len, max_len]``.

    The generator has its own seed, so the same arguments always give the same data.
    """
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be at least 2 (padding + one token), got {vocab_size}")
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(min_len, max_len + 1, (n,), generator=generator)  # (N,)
    ids = torch.randint(1, vocab_size, (n, max_len), generator=generator)  # (N, T)
    attention_mask = (torch.arange(max_len)[None, :] < lengths[:, None]).long()  # (N, T)
    ids = ids * attention_mask  # padding id 0 after each sequence's end
    return SequenceTask(ids, task_targets(ids, lengths, task), attention_mask)
