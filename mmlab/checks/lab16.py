"""Checks for lab 16: BM25 scoring, recall@k and NDCG@k, and the two-tower in-batch softmax loss.

Each check compares the learner's function with the course's (:mod:`mmlab.search.bm25`,
:mod:`mmlab.search.metrics`, :mod:`mmlab.models.two_tower`) and names the common mistakes: the wrong
idf, no length normalisation or saturation, precision or hit rate for recall, NDCG without the log
discount or its ideal, embeddings left unnormalised when cosine is meant, the positive on the wrong
diagonal, the temperature multiplied in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mmlab.checks.framework import (
    CheckFailed,
    call,
    expect_close,
    expect_scalar_loss_with_gradients,
    lab_check,
)
from mmlab.models.two_tower import in_batch_softmax
from mmlab.search.bm25 import BM25
from mmlab.search.metrics import ndcg_at, recall_at

__all__ = ["check_bm25_scores", "check_in_batch_softmax", "check_ndcg_at_k", "check_recall_at_k"]

IDF_NO_ONE = (
    "idf = ln((N - n + 0.5) / (n + 0.5)) without the 1 +: that idf turns negative for words in more "
    "than half of the documents; use ln(1 + (N - n + 0.5) / (n + 0.5))"
)
IDF_CLASSIC = "the tf-idf idf ln(N / n): BM25's idf is ln(1 + (N - n + 0.5) / (n + 0.5))"
NO_IDF = "no idf at all: multiply each word's term by idf(word), so rare words count more"
NO_LENGTH_NORM = (
    "no length normalisation: the denominator is f + k1 * (1 - b + b * |d| / avg_len), "
    "not f + k1 (long documents must be discounted)"
)
LENGTH_NOT_AVERAGED = (
    "the document length |d| not divided by the average length: the factor is (1 - b + b * |d| / avg_len)"
)
NO_SATURATION = (
    "the raw count f times idf, without saturation: use f * (k1 + 1) / (f + k1 * (1 - b + b * |d| / avg_len))"
)
NO_K1_PLUS_1 = "the numerator f without the factor (k1 + 1): f * (k1 + 1) / (f + ...)"
PRECISION = "precision@k (hits / k): recall@k divides the hits by the number of relevant items"
CAPPED = "hits / min(k, number relevant): recall@k divides by the number of relevant items"
HIT_RATE = "the hit rate (1 if any relevant item is in the top k): recall@k counts every relevant item found"
NO_CUTOFF = "the hits in the whole ranked list: only the first k items count"
NO_LOG_DISCOUNT = (
    "DCG without the log discount (every hit counts 1 wherever it is): divide the hit at rank r by "
    "log2(r + 1), so hits near the top count more"
)
RANK_DISCOUNT = "the discount 1 / r: NDCG's discount is 1 / log2(r + 1)"
NO_IDEAL = "DCG not divided by the ideal DCG (all relevant items first): NDCG = DCG / IDCG"
IDEAL_UNCAPPED = (
    "an ideal DCG over all relevant items even past k: the ideal ranking also has only k places, "
    "so sum its discounts over min(k, number relevant) ranks"
)
LOG_OFF_BY_ONE = (
    "log2(r) for rank r = 1, 2, ...: the first rank divides by log2(1) = 0; use log2(r + 1) "
    "(or log2(i + 2) for 0-based positions i)"
)
UNNORMALISED = (
    "raw dot products of unnormalised embeddings: cosine similarity is meant, so scale both to unit "
    "length first (F.normalize(x, dim=-1))"
)
NORMALISED_DIM0 = "embeddings normalised along dim=0 (over the batch): normalise each vector, dim=-1"
WRONG_DIAGONAL = (
    "the positive on the wrong diagonal: user i's own item is item i, so the targets are "
    "torch.arange(B) (the main diagonal of the B x B logits), not the anti-diagonal"
)
ZERO_LABELS = "every target 0 (the first item): user i's positive is item i, targets torch.arange(B)"
TEMP_MULTIPLIED = "the similarities multiplied by the temperature: divide by it (logits = cos / temperature)"
NO_TEMPERATURE = "the similarities without the temperature: divide them by temperature"
ITEM_TO_USER = (
    "the item-to-user direction (cross-entropy over the columns): here each user (row) picks their item"
)
BOTH_DIRECTIONS = (
    "both directions averaged, as CLIP does: this exercise asks for the user-to-item softmax only (the rows)"
)
SUMMED = "the cross-entropies summed over the batch: take their mean"


def _as_tensor(value: Any) -> Any:
    """Numbers and NumPy arrays as float64 tensors (the checks accept them); anything else unchanged."""
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=torch.float64)
    if isinstance(value, np.ndarray):
        return torch.as_tensor(value, dtype=torch.float64)
    if isinstance(value, torch.Tensor):
        return value.double()
    return value


# ----------------------------------------------------------------------------- BM25


def _bm25_variant(query, docs, k1, b, idf="lucene", length="avg", numerator="full") -> torch.Tensor:
    n_docs = len(docs)
    avg = sum(map(len, docs)) / n_docs
    out = []
    for d in docs:
        total = 0.0
        for w in query:
            f = d.count(w)
            n = sum(w in x for x in docs)
            if n == 0:
                continue
            weight = {
                "lucene": math.log(1 + (n_docs - n + 0.5) / (n + 0.5)),
                "no_one": math.log((n_docs - n + 0.5) / (n + 0.5)),
                "classic": math.log(n_docs / n),
                "none": 1.0,
            }[idf]
            scale = {"avg": 1 - b + b * len(d) / avg, "none": 1.0, "raw": 1 - b + b * len(d)}[length]
            term = {
                "full": f * (k1 + 1) / (f + k1 * scale),
                "no_k1": f / (f + k1 * scale),
                "raw": float(f),
            }[numerator]
            total += weight * term
        out.append(total)
    return torch.tensor(out, dtype=torch.float64)


@lab_check("check_bm25_scores")
def check_bm25_scores(student_bm25: Callable) -> None:
    """``bm25_scores(query, docs, k1, b) -> (N,)`` against :class:`mmlab.search.bm25.BM25`."""
    docs = [
        "a list is a mutable sequence and a list can grow".split(),
        "a tuple is an immutable sequence".split(),
        "the for statement loops over a sequence".split(),
        "break leaves the loop early".split(),
        "a dict maps keys to values and a dict is mutable and a dict can grow and shrink".split(),
        "sequence sequence sequence of items".split(),
    ]
    cases = [
        ("query 'mutable sequence', k1=1.5, b=0.75", "mutable sequence".split(), 1.5, 0.75),
        ("query 'dict grow loop', k1=1.2, b=1.0", "dict grow loop".split(), 1.2, 1.0),
        ("query 'sequence', k1=2.0, b=0.5", ["sequence"], 2.0, 0.5),
        ("query 'unknownword tuple', k1=1.5, b=0.75", "unknownword tuple".split(), 1.5, 0.75),
    ]
    for case, query, k1, b in cases:
        got = _as_tensor(call(student_bm25, query, docs, k1, b, case=case))
        expected = torch.as_tensor(BM25(docs, k1, b).scores(query), dtype=torch.float64)
        mistakes = {
            IDF_NO_ONE: _bm25_variant(query, docs, k1, b, idf="no_one"),
            IDF_CLASSIC: _bm25_variant(query, docs, k1, b, idf="classic"),
            NO_IDF: _bm25_variant(query, docs, k1, b, idf="none"),
            NO_LENGTH_NORM: _bm25_variant(query, docs, k1, b, length="none"),
            LENGTH_NOT_AVERAGED: _bm25_variant(query, docs, k1, b, length="raw"),
            NO_SATURATION: _bm25_variant(query, docs, k1, b, numerator="raw"),
            NO_K1_PLUS_1: _bm25_variant(query, docs, k1, b, numerator="no_k1"),
        }
        expect_close(got, expected, what="scores", case=case, mistakes=mistakes, atol=1e-6)


# ----------------------------------------------------------------------------- ranking metrics

_RANKED = [[4, 1, 7, 0, 9, 2], [3, 5, 8, 6, 0, 1], [2, 0, 1, 3, 4, 5], [9, 8, 7, 6, 5, 4]]
_RELEVANT = [{1, 9, 11}, {6}, {2, 0, 1, 5}, {3, 4, 9, 12, 13}]


def _metric_cases():
    yield "4 queries, k=3", _RANKED, _RELEVANT, 3
    yield "4 queries, k=5", _RANKED, _RELEVANT, 5
    yield "4 queries, k=1", _RANKED, _RELEVANT, 1


def _hits(ranked, relevant, k):
    return [[item in rel for item in row[:k]] for row, rel in zip(ranked, relevant)]


def _mean(values) -> torch.Tensor:
    return torch.tensor(sum(values) / len(values), dtype=torch.float64)


@lab_check("check_recall_at_k")
def check_recall_at_k(student_recall: Callable) -> None:
    """``recall_at_k(ranked, relevant, k) -> float``: the mean over queries of |top-k ∩ relevant| / |relevant|."""
    for case, ranked, relevant, k in _metric_cases():
        got = _as_tensor(
            call(student_recall, [list(r) for r in ranked], [set(r) for r in relevant], k, case=case)
        )
        expected = torch.tensor(recall_at(np.array(ranked), relevant, k), dtype=torch.float64)
        hits = _hits(ranked, relevant, k)
        mistakes = {
            PRECISION: _mean([sum(h) / k for h in hits]),
            CAPPED: _mean([sum(h) / min(k, len(r)) for h, r in zip(hits, relevant)]),
            HIT_RATE: _mean([float(any(h)) for h in hits]),
            NO_CUTOFF: _mean([sum(i in r for i in row) / len(r) for row, r in zip(ranked, relevant)]),
        }
        expect_close(got, expected, what="recall@k", case=case, mistakes=mistakes)


def _dcg(hits, discount) -> float:
    return sum(h * discount(i) for i, h in enumerate(hits))


@lab_check("check_ndcg_at_k")
def check_ndcg_at_k(student_ndcg: Callable) -> None:
    """``ndcg_at_k(ranked, relevant, k) -> float`` with binary relevance and the log2(rank + 1) discount."""
    log = lambda i: 1 / math.log2(i + 2)  # 0-based position i = rank i + 1
    for case, ranked, relevant, k in _metric_cases():
        got = _as_tensor(
            call(student_ndcg, [list(r) for r in ranked], [set(r) for r in relevant], k, case=case)
        )
        if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
            raise CheckFailed(f"on {case}: your NDCG is not finite ({got}). It looks like {LOG_OFF_BY_ONE}")
        expected = torch.tensor(ndcg_at(np.array(ranked), relevant, k), dtype=torch.float64)
        hits = _hits(ranked, relevant, k)
        ideal = [[1] * min(k, len(r)) for r in relevant]
        mistakes = {
            NO_LOG_DISCOUNT: _mean([sum(h) / len(i) for h, i in zip(hits, ideal)]),
            RANK_DISCOUNT: _mean(
                [_dcg(h, lambda j: 1 / (j + 1)) / _dcg(i, lambda j: 1 / (j + 1)) for h, i in zip(hits, ideal)]
            ),
            NO_IDEAL: _mean([_dcg(h, log) for h in hits]),
            IDEAL_UNCAPPED: _mean([_dcg(h, log) / _dcg([1] * len(r), log) for h, r in zip(hits, relevant)]),
        }
        expect_close(got, expected, what="NDCG@k", case=case, mistakes=mistakes)


# ----------------------------------------------------------------------------- the in-batch softmax


def _softmax_mistakes(u: torch.Tensor, v: torch.Tensor, t: float) -> dict[str, torch.Tensor]:
    B = len(u)
    un, vn = F.normalize(u, dim=-1), F.normalize(v, dim=-1)
    cos = un @ vn.T
    labels = torch.arange(B)
    return {
        UNNORMALISED: F.cross_entropy(u @ v.T / t, labels),
        NORMALISED_DIM0: F.cross_entropy(F.normalize(u, dim=0) @ F.normalize(v, dim=0).T / t, labels),
        WRONG_DIAGONAL: F.cross_entropy(cos / t, labels.flip(0)),
        ZERO_LABELS: F.cross_entropy(cos / t, torch.zeros(B, dtype=torch.long)),
        TEMP_MULTIPLIED: F.cross_entropy(cos * t, labels),
        NO_TEMPERATURE: F.cross_entropy(cos, labels),
        ITEM_TO_USER: F.cross_entropy(cos.T / t, labels),
        BOTH_DIRECTIONS: (F.cross_entropy(cos / t, labels) + F.cross_entropy(cos.T / t, labels)) / 2,
        SUMMED: F.cross_entropy(cos / t, labels, reduction="sum"),
    }


@lab_check("check_in_batch_softmax")
def check_in_batch_softmax(student_loss: Callable) -> None:
    """``in_batch_softmax(user_emb (B, d), item_emb (B, d), temperature)``: user i picks item i among the
    batch's items by cosine / temperature (inputs unnormalised)."""
    g = torch.Generator().manual_seed(16)
    cases = []
    for B, d, t in ((5, 8, 0.1), (7, 16, 0.05), (4, 6, 0.5)):
        u = torch.randn(B, d, generator=g) * torch.linspace(0.3, 4.0, B)[:, None]  # lengths differ
        v = (u + 1.5 * torch.randn(B, d, generator=g)) * torch.linspace(3.0, 0.5, B)[:, None]
        cases.append((f"B={B}, d={d}, temperature={t}", u, v, t))
    for case, u, v, t in cases:
        got = call(student_loss, u, v, t, case=case)
        expected = in_batch_softmax(F.normalize(u, dim=-1), F.normalize(v, dim=-1), 1 / t)
        expect_close(got, expected, what="loss", case=case, mistakes=_softmax_mistakes(u, v, t))
    u, v = cases[0][1], cases[0][2]
    expect_scalar_loss_with_gradients(student_loss, u, v, 0.1, names=("user_emb", "item_emb"))
