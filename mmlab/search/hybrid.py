"""Hybrid search: fusing lexical (BM25) and dense scores (chapter 16a).

BM25 scores are unbounded sums of idf weights; cosine similarities lie in [-1, 1]. Before adding them,
each query's scores are min-max scaled to [0, 1] over the documents, then mixed:
``alpha * dense + (1 - alpha) * lexical``. Reciprocal rank fusion ignores the scores altogether and adds
``1 / (c + rank)`` from each ranking (Cormack et al. 2009, c = 60).
"""

from __future__ import annotations

import numpy as np

__all__ = ["fuse_scores", "min_max_scale", "reciprocal_rank_fusion"]


def min_max_scale(scores: np.ndarray) -> np.ndarray:
    """Each row of ``scores`` (Q, N) scaled to [0, 1]; a constant row becomes all zeros."""
    s = np.asarray(scores, dtype=np.float64)
    low, high = s.min(axis=1, keepdims=True), s.max(axis=1, keepdims=True)
    return np.where(high > low, (s - low) / np.where(high > low, high - low, 1.0), 0.0)


def fuse_scores(dense: np.ndarray, lexical: np.ndarray, alpha: float) -> np.ndarray:
    """``alpha * minmax(dense) + (1 - alpha) * minmax(lexical)``, both (Q, N): alpha 1 is dense alone."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if np.shape(dense) != np.shape(lexical):
        raise ValueError(
            f"dense and lexical scores differ in shape: {np.shape(dense)} vs {np.shape(lexical)}"
        )
    return alpha * min_max_scale(dense) + (1 - alpha) * min_max_scale(lexical)


def reciprocal_rank_fusion(*scores: np.ndarray, c: float = 60.0) -> np.ndarray:
    """Sum over rankings of ``1 / (c + rank)`` (rank 1 = best), from score matrices (Q, N) each."""
    total = np.zeros(np.shape(scores[0]))
    for s in scores:
        ranks = np.argsort(np.argsort(-np.asarray(s), axis=1, kind="stable"), axis=1) + 1  # (Q, N)
        total += 1.0 / (c + ranks)
    return total
