"""Recommendation baselines and their evaluation (chapter 16a).

Every recommender here returns a score matrix (n_users, n_items), higher is better; :func:`evaluate`
ranks each user's candidates (items the user has not consumed in training, among the warm items or
among the new ones) and measures recall@k and NDCG@k on the held-out interactions.

* popularity: the same list for everyone, the most consumed items first;
* item-item co-occurrence: items consumed by the same users are similar (cosine of their columns of the
  interaction matrix); a user's score for an item sums its similarity to the user's items;
* matrix factorisation (PureSVD, Cremonesi et al. 2010): the rank-``f`` truncated SVD
  :math:`X \\approx U_f S_f V_f^\\top`; scores :math:`X V_f V_f^\\top` (each user's row projected on
  the top ``f`` item factors);
* content: a user's profile is the mean MiniLM embedding of the texts of their items; an item's score
  is its text's cosine with the profile. The only baseline that can rank items nobody consumed yet.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
from scipy import sparse

from mmlab.search.metrics import ndcg_at, recall_at

__all__ = [
    "content_scores",
    "cooccurrence_scores",
    "evaluate",
    "interaction_matrix",
    "popularity_scores",
    "svd_scores",
    "top_items",
]


def interaction_matrix(pairs: np.ndarray, n_users: int, n_items: int) -> sparse.csr_matrix:
    """The binary user-item matrix X (n_users, n_items) of (user, item) rows (repeats count once)."""
    x = sparse.csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n_users, n_items))
    x.data[:] = 1.0
    return x


def popularity_scores(x: sparse.csr_matrix) -> np.ndarray:
    """Every user gets each item's training count (n_users, n_items)."""
    counts = np.asarray(x.sum(0)).ravel()
    return np.broadcast_to(counts, x.shape).copy()


def cooccurrence_scores(x: sparse.csr_matrix) -> np.ndarray:
    """Sum over a user's items j of cosine(column i, column j) of X, the item itself excluded."""
    c = (x.T @ x).toarray()  # (n_items, n_items): users who consumed both
    norm = np.sqrt(np.diag(c))
    sim = c / np.maximum(np.outer(norm, norm), 1e-12)
    np.fill_diagonal(sim, 0.0)
    return np.asarray(x @ sim)


def svd_scores(x: sparse.csr_matrix, rank: int) -> np.ndarray:
    """PureSVD: X V_f V_f^T with V_f the top ``rank`` right singular vectors of X."""
    _, _, vt = np.linalg.svd(x.toarray(), full_matrices=False)
    v = vt[:rank].T  # (n_items, f)
    return np.asarray(x @ v) @ v.T


def content_scores(x: sparse.csr_matrix, item_vectors: np.ndarray) -> np.ndarray:
    """Cosine between each item's text vector and the mean text vector of the user's training items."""
    v = item_vectors / np.linalg.norm(item_vectors, axis=1, keepdims=True)
    profile = np.asarray(x @ v)  # (n_users, d)
    profile /= np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12)
    return profile @ v.T


def top_items(scores: np.ndarray, seen: sparse.csr_matrix, candidates: np.ndarray, k: int) -> np.ndarray:
    """Each user's ``k`` best candidate items (n_users, k), skipping the user's training items; ties go
    to the lower item id."""
    s = np.where(candidates[None, :], np.asarray(scores, dtype=np.float64), -np.inf)
    s[seen.nonzero()] = -np.inf
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def evaluate(
    scores: np.ndarray,
    seen: sparse.csr_matrix,
    held_out: Sequence[Collection[int]],
    candidates: np.ndarray,
    k: int = 10,
) -> dict[str, float]:
    """recall@k and NDCG@k of ``scores`` on ``held_out`` (users with no held-out item are skipped)."""
    ranked = top_items(scores, seen, candidates, k)
    return {f"recall@{k}": recall_at(ranked, held_out, k), f"ndcg@{k}": ndcg_at(ranked, held_out, k)}
