"""BM25, the lexical baseline of search (chapter 16a; lab 16 writes its scoring by hand).

For a query of words :math:`q_1 .. q_m` and a document :math:`d` of length :math:`|d|` words,

.. math::  \\mathrm{score}(q, d) = \\sum_{i} \\mathrm{idf}(q_i)\\,
    \\frac{f(q_i, d)\\,(k_1 + 1)}{f(q_i, d) + k_1 (1 - b + b\\,|d| / \\overline{|d|})}

with :math:`f` the count of the word in the document, :math:`\\overline{|d|}` the mean document length,
:math:`k_1` the saturation of repeated words and :math:`b` the strength of the length normalisation.
Two idf variants: ``"lucene"`` :math:`\\ln(1 + (N - n + 0.5)/(n + 0.5))` (always positive; Lucene,
Elasticsearch, bm25s) and ``"robertson"`` :math:`\\ln((N - n + 0.5)/(n + 0.5))` (negative for words in
more than half of the documents; rank_bm25's BM25Okapi floors those at a small positive value).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import sparse

__all__ = ["BM25", "bm25_idf"]


def bm25_idf(n_docs: int, doc_freq: np.ndarray, variant: str = "lucene") -> np.ndarray:
    """idf of words found in ``doc_freq`` of ``n_docs`` documents (elementwise)."""
    n = np.asarray(doc_freq, dtype=np.float64)
    ratio = (n_docs - n + 0.5) / (n + 0.5)
    if variant == "lucene":
        return np.log1p(ratio)
    if variant == "robertson":
        return np.log(ratio)
    raise ValueError(f"unknown idf variant {variant!r}; choose 'lucene' or 'robertson'")


class BM25:
    """An Okapi BM25 index over tokenised documents (lists of words).

    Args:
        documents: one list of words per document (e.g. ``mmlab.data.text.tokenize(text)``).
        k1: term-frequency saturation (1.2-2.0 is usual). b: length normalisation, 0 (none) to 1 (full).
        idf: ``"lucene"`` or ``"robertson"`` (see the module docstring).
    """

    def __init__(
        self, documents: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75, idf: str = "lucene"
    ) -> None:
        if not documents:
            raise ValueError("BM25 needs at least one document")
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"need k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.k1, self.b = k1, b
        self.vocab: dict[str, int] = {}
        rows, cols, counts = [], [], []
        for d, words in enumerate(documents):
            for word, count in Counter(words).items():
                rows.append(d)
                cols.append(self.vocab.setdefault(word, len(self.vocab)))
                counts.append(count)
        shape = (len(documents), len(self.vocab))
        tf = sparse.csc_matrix((np.asarray(counts, np.float64), (rows, cols)), shape=shape)  # (N, V)
        self.doc_len = np.array([len(words) for words in documents], dtype=np.float64)  # (N,)
        self.avg_len = float(self.doc_len.mean())
        self.idf = bm25_idf(len(documents), np.diff(tf.indptr), idf)  # (V,): df = non-zeros per column
        # The per-(document, word) weight, computed once: idf * f (k1 + 1) / (f + k1 (1 - b + b |d| / avg)).
        norm = k1 * (1 - b + b * self.doc_len / max(self.avg_len, 1e-9))  # (N,)
        weights = tf.tocoo()
        weights.data = self.idf[weights.col] * weights.data * (k1 + 1) / (weights.data + norm[weights.row])
        self.weights = weights.tocsc()  # (N, V)

    def __len__(self) -> int:
        return len(self.doc_len)

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """BM25 scores (N,) of every document for one tokenised query (a repeated word counts twice)."""
        ids = [self.vocab[w] for w in query if w in self.vocab]
        if not ids:
            return np.zeros(len(self))
        counts = np.bincount(ids, minlength=len(self.vocab))
        return np.asarray(self.weights @ counts, dtype=np.float64).ravel()

    def score_matrix(self, queries: Sequence[Sequence[str]]) -> np.ndarray:
        """Scores (n_queries, N) of every document for every query."""
        return np.stack([self.scores(q) for q in queries]) if queries else np.zeros((0, len(self)))

    def search(self, queries: Sequence[Sequence[str]], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best documents per query: ``(scores, ids)``, each (n_queries, min(k, N)), best first
        (ties broken by the lower id)."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        s = self.score_matrix(queries)
        ids = np.argsort(-s, axis=1, kind="stable")[:, : min(k, len(self))]
        return np.take_along_axis(s, ids, 1), ids
