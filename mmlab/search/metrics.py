"""Ranking metrics of search and recommendation (chapter 16a; lab 16 writes them by hand).

Every function takes ``ranked``, an (n_queries, K) array of item ids best first, and ``relevant``,
one collection of relevant ids per query. Queries with no relevant item are skipped (they cannot be
scored); each function returns the mean over the remaining queries.

* recall@k: the share of a query's relevant items found in its top ``k``;
* MRR: the mean of 1 / (rank of the first relevant item), 0 when none is in ``ranked``;
* NDCG@k: discounted cumulative gain :math:`\\sum_{r=1}^{k} \\mathrm{rel}_r / \\log_2(r + 1)` divided by its
  best possible value (all relevant items first), with binary relevance.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

__all__ = ["mean_reciprocal_rank", "ndcg_at", "recall_at"]


def _hits(ranked: np.ndarray, relevant: Sequence[Collection[int]], k: int | None) -> tuple[np.ndarray, list]:
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or len(ranked) != len(relevant):
        raise ValueError(f"ranked must be (n_queries, K) with one row per query, got {ranked.shape}")
    if k is not None and k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    top = ranked if k is None else ranked[:, :k]
    keep = [i for i, r in enumerate(relevant) if len(r) > 0]
    hits = np.array([[item in set(relevant[i]) for item in top[i]] for i in keep], dtype=bool)
    return hits.reshape(len(keep), top.shape[1]), [relevant[i] for i in keep]


def recall_at(ranked: np.ndarray, relevant: Sequence[Collection[int]], k: int) -> float:
    """Mean over queries of |top-k ∩ relevant| / |relevant|."""
    hits, rel = _hits(ranked, relevant, k)
    if not rel:
        return float("nan")
    return float(np.mean(hits.sum(1) / np.array([len(set(r)) for r in rel])))


def mean_reciprocal_rank(ranked: np.ndarray, relevant: Sequence[Collection[int]]) -> float:
    """Mean over queries of 1 / rank of the first relevant item in ``ranked`` (0 if none)."""
    hits, rel = _hits(ranked, relevant, None)
    if not rel:
        return float("nan")
    first = hits.argmax(1)
    return float(np.mean(np.where(hits.any(1), 1.0 / (first + 1), 0.0)))


def ndcg_at(ranked: np.ndarray, relevant: Sequence[Collection[int]], k: int) -> float:
    """Mean over queries of DCG@k / ideal DCG@k with binary relevance and the log2(rank + 1) discount."""
    hits, rel = _hits(ranked, relevant, k)
    if not rel:
        return float("nan")
    discount = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))  # (K,): 1, 0.63, 0.5, ...
    dcg = (hits * discount).sum(1)
    ideal = np.array([discount[: min(len(set(r)), hits.shape[1])].sum() for r in rel])
    return float(np.mean(dcg / ideal))
