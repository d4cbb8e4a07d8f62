"""Dense retrieval: MiniLM sentence embeddings and an exact inner-product index (chapters 16a and 16b).

A sentence embedding is the mean of all-MiniLM-L6-v2's last hidden states over the real tokens
(padding masked out), scaled to unit length, exactly as sentence-transformers computes it for this
model. With unit vectors the inner product *is* the cosine similarity, so an exact inner-product
index (FAISS ``IndexFlatIP``) ranks documents by cosine.

Typical use::

    doc_vectors = embed_texts(documents)                 # (N, 384) float32, rows of norm 1
    index = DenseIndex(doc_vectors.shape[1])
    index.add(doc_vectors)
    scores, ids = index.search(embed_texts(["how do I sort a list"]), k=5)  # (1, 5), (1, 5)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch

__all__ = ["MAX_LENGTH", "DenseIndex", "embed_texts", "load_encoder", "mean_pool"]

MAX_LENGTH = 256  # all-MiniLM-L6-v2's max_seq_length in sentence-transformers: longer texts are cut


@lru_cache(maxsize=1)
def load_encoder() -> tuple[Any, Any]:
    """(model, tokenizer) of the shipped MiniLM in eval mode, loaded once per process (offline)."""
    from mmlab.pretrained import load_minilm

    model, tokenizer = load_minilm()
    return model.eval().requires_grad_(False), tokenizer


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` (B, T, d) over the positions where ``attention_mask`` (B, T) is 1 -> (B, d)."""
    m = attention_mask[..., None].to(hidden.dtype)  # (B, T, 1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)


@torch.no_grad()
def embed_texts(texts: Sequence[str], batch_size: int = 64, normalize: bool = True) -> np.ndarray:
    """MiniLM sentence embeddings of ``texts``: a float32 array (len(texts), 384).

    Args:
        texts: the strings to embed (at most ``MAX_LENGTH`` word pieces of each are read).
        batch_size: texts per forward pass. Texts are sorted by length first so a batch pads little;
            rows come back in the order given.
        normalize: scale each row to unit L2 norm (then inner product = cosine similarity).
    """
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("embed_texts expects a sequence of strings (wrap a single text in a list)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model, tokenizer = load_encoder()
    width = model.config.hidden_size
    out = np.zeros((len(texts), width), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = tokenizer(
            [texts[i] for i in rows],
            padding=True,
            truncation=True,
            max_length=MAX_LENGTH,
            return_tensors="pt",
        )
        hidden = model(**batch).last_hidden_state  # (b, T, 384)
        pooled = mean_pool(hidden, batch["attention_mask"])  # (b, 384)
        if normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        out[rows] = pooled.float().numpy()
    return out


def _as_matrix(vectors: np.ndarray, dim: int, name: str) -> np.ndarray:
    v = np.asarray(vectors)
    if v.ndim != 2 or v.shape[1] != dim:
        raise ValueError(f"{name} must have shape (n, {dim}), got {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(v, dtype=np.float32)


class DenseIndex:
    """Exact maximum-inner-product search over added vectors (FAISS ``IndexFlatIP``).

    Ids are positions in the order vectors were added (0, 1, 2, ...). For cosine similarity add and
    query unit vectors (``embed_texts`` returns them).
    """

    def __init__(self, dim: int) -> None:
        import faiss

        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.dim = dim
        self.index = faiss.IndexFlatIP(dim)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        """Append ``vectors`` (n, dim); they get ids len(self) ... len(self) + n - 1."""
        self.index.add(_as_matrix(vectors, self.dim, "vectors"))

    def search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` highest inner products for each query row.

        Returns ``(scores, ids)``, both (n_queries, min(k, len(self))): float32 scores in decreasing
        order along each row and their int64 ids.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if len(self) == 0:
            raise ValueError("the index is empty: add vectors before searching")
        q = _as_matrix(query_vectors, self.dim, "query_vectors")
        scores, ids = self.index.search(q, min(k, len(self)))
        return scores, ids.astype(np.int64)
