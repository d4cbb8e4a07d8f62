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

Exact search compares a query with every vector: O(N d) per query. The approximate indexes here
(:class:`HNSWIndex`, a graph walked greedily; :class:`IVFIndex`, k-means cells of which only the nearest
``nprobe`` are scanned) look at a small part of the collection and may miss some true neighbours;
:func:`overlap_at_k` measures how many they keep (recall@k against exact search).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch

__all__ = [
    "MAX_LENGTH",
    "DenseIndex",
    "HNSWIndex",
    "IVFIndex",
    "embed_texts",
    "load_encoder",
    "mean_pool",
    "overlap_at_k",
    "synthetic_vectors",
]

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


class HNSWIndex(DenseIndex):
    """Approximate inner-product search on a hierarchical navigable small-world graph (FAISS
    ``IndexHNSWFlat``). ``m``: neighbours per node; ``ef_search``: candidates kept while walking the
    graph (larger: slower and closer to exact). No training step; ids as :class:`DenseIndex`."""

    def __init__(self, dim: int, m: int = 32, ef_construction: int = 64, ef_search: int = 64) -> None:
        import faiss

        super().__init__(dim)
        self.index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = ef_construction
        self.index.hnsw.efSearch = ef_search


class IVFIndex(DenseIndex):
    """Approximate inner-product search over an inverted file (FAISS ``IndexIVFFlat``): the vectors are
    grouped into ``n_lists`` k-means cells, and a query scans only its ``nprobe`` nearest cells. The
    first :meth:`add` trains the cells on the vectors it is given (at least ``n_lists`` of them)."""

    def __init__(self, dim: int, n_lists: int = 64, nprobe: int = 8) -> None:
        import faiss

        super().__init__(dim)
        self.quantizer = faiss.IndexFlatIP(dim)  # kept referenced: the IVF index does not own it
        self.index = faiss.IndexIVFFlat(self.quantizer, dim, n_lists, faiss.METRIC_INNER_PRODUCT)
        self.index.nprobe = nprobe
        self.index.cp.seed = 0  # k-means starts from a fixed draw: the same cells every run

    def add(self, vectors: np.ndarray) -> None:
        v = _as_matrix(vectors, self.dim, "vectors")
        if not self.index.is_trained:
            if len(v) < self.index.nlist:
                raise ValueError(
                    f"the first add trains {self.index.nlist} cells: it needs at least that many vectors"
                )
            self.index.train(v)
        self.index.add(v)


def overlap_at_k(approx_ids: np.ndarray, exact_ids: np.ndarray, k: int) -> float:
    """Recall@k of an approximate search against exact search: the mean share of each query's true top
    ``k`` (``exact_ids[:, :k]``) that the approximate top ``k`` also contains."""
    a, e = np.asarray(approx_ids)[:, :k], np.asarray(exact_ids)[:, :k]
    if a.shape != e.shape:
        raise ValueError(f"approx_ids and exact_ids disagree in shape: {a.shape} vs {e.shape}")
    return float(np.mean([len(set(x) & set(y)) / len(y) for x, y in zip(a.tolist(), e.tolist())]))


def synthetic_vectors(
    n: int, dim: int = 384, n_clusters: int = 100, intrinsic_dim: int = 32, spread: float = 1.0, seed: int = 0
) -> np.ndarray:
    """``n`` unit vectors (n, dim) float32 for index scale tests, shaped like real embeddings: points
    around ``n_clusters`` centres in a random ``intrinsic_dim``-dimensional subspace (noise of relative
    size ``spread``), mapped into ``dim`` dimensions and scaled to length one. Draw the collection and
    its queries in one call and split them: another seed gives another subspace."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((intrinsic_dim, dim)).astype(np.float32)
    centres = rng.standard_normal((n_clusters, intrinsic_dim)).astype(np.float32)
    z = centres[rng.integers(0, n_clusters, n)] + spread * rng.standard_normal((n, intrinsic_dim)).astype(
        np.float32
    )
    v = z @ basis
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
