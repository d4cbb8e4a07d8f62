"""Next-token prediction data: a long stream of token ids cut into (input, target) windows (chapters 06-07).

A window of ``block_size + 1`` tokens gives ``block_size`` training examples at once: the input is
tokens ``[i, i + T)`` and the target is the same window shifted by one, ``[i + 1, i + T + 1)``.
The offline corpus is Python's own documentation (``pydoc_data.topics``), which ships with Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["NextTokenDataset", "lm_loaders", "pydoc_corpus", "split_ids"]


def pydoc_corpus(max_chars: int | None = None) -> str:
    """Python's documentation topics (about 465,000 characters), joined in a fixed order.

    ``max_chars`` keeps only the beginning. The text ships with every Python install, so it needs
    no download.
    """
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[key].strip() for key in sorted(topics))
    return text if max_chars is None else text[:max_chars]


def split_ids(
    ids: torch.Tensor | Sequence[int], val_fraction: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``1 - val_fraction`` of the stream for training, the rest held out (a contiguous
    split, so held-out windows never overlap training text)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    ids = torch.as_tensor(ids, dtype=torch.long)
    cut = int(len(ids) * (1.0 - val_fraction))
    return ids[:cut], ids[cut:]


class NextTokenDataset(Dataset):
    """Windows ``(x, y)`` of a 1-D id stream, ``y`` being ``x`` shifted left by one.

    Args:
        ids: the token id stream ``(N,)``.
        block_size: window length T.
        stride: distance between window starts (1: every position; ``block_size``: disjoint windows,
            the usual choice for evaluation).
    """

    def __init__(self, ids: torch.Tensor | Sequence[int], block_size: int, stride: int = 1) -> None:
        self.ids = torch.as_tensor(ids, dtype=torch.long)
        if block_size < 1 or stride < 1:
            raise ValueError(f"block_size and stride must be >= 1, got {block_size}, {stride}")
        if len(self.ids) < block_size + 1:
            raise ValueError(
                f"the stream has {len(self.ids)} tokens; a window needs block_size + 1 = {block_size + 1}"
            )
        self.block_size, self.stride = block_size, stride

    def __len__(self) -> int:
        return (len(self.ids) - self.block_size - 1) // self.stride + 1

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        start = index * self.stride
        chunk = self.ids[start : start + self.block_size + 1]
        return chunk[:-1], chunk[1:]  # (T,), (T,)


def lm_loaders(
    ids: torch.Tensor | Sequence[int],
    block_size: int,
    batch_size: int,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[DataLoader, DataLoader]:
    """Train loader (random windows at every offset, shuffled with ``seed``) and held-out loader
    (disjoint windows in order, so the held-out loss is the same number every time)."""
    train_ids, val_ids = split_ids(ids, val_fraction)
    generator = torch.Generator().manual_seed(seed)
    train = DataLoader(NextTokenDataset(train_ids, block_size), batch_size, shuffle=True, generator=generator)
    val = DataLoader(NextTokenDataset(val_ids, block_size, stride=block_size), batch_size, shuffle=False)
    return train, val
