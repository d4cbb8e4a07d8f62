"""Lab 16 checks: the right answers pass, each common mistake gets its own message, unfinished work says so."""

import math

import pytest
import torch
import torch.nn.functional as F
from check_support import assert_passes_and_unfinished_says_so, expect_message

from mmlab.checks import lab16


def bm25(query, docs, k1, b, mistake=None):
    n_docs, avg = len(docs), sum(map(len, docs)) / len(docs)
    scores = []
    for d in docs:
        total = 0.0
        for w in query:
            n = sum(w in x for x in docs)
            if n == 0:
                continue
            f = d.count(w)
            idf = {
                "idf_no_one": math.log((n_docs - n + 0.5) / (n + 0.5)),
                "idf_classic": math.log(n_docs / n),
                "no_idf": 1.0,
            }.get(mistake, math.log(1 + (n_docs - n + 0.5) / (n + 0.5)))
            norm = {"no_length": 1.0, "raw_length": 1 - b + b * len(d)}.get(mistake, 1 - b + b * len(d) / avg)
            numerator = f if mistake == "no_k1" else f * (k1 + 1)
            term = f if mistake == "raw_count" else numerator / (f + k1 * norm)
            total += idf * term
        scores.append(total)
    return torch.tensor(scores)


def recall(ranked, relevant, k, mistake=None):
    values = []
    for row, rel in zip(ranked, relevant):
        found = len(set(row if mistake == "no_cutoff" else row[:k]) & rel)
        values.append(
            {"precision": found / k, "capped": found / min(k, len(rel)), "hit_rate": float(found > 0)}.get(
                mistake, found / len(rel)
            )
        )
    return sum(values) / len(values)


def ndcg(ranked, relevant, k, mistake=None):
    def discount(i):
        if mistake == "no_log":
            return 1.0
        if mistake == "rank":
            return 1 / (i + 1)
        if mistake == "off_by_one":
            return 1 / math.log2(i + 1) if i > 0 else math.inf
        return 1 / math.log2(i + 2)

    values = []
    for row, rel in zip(ranked, relevant):
        dcg = sum(discount(i) for i, item in enumerate(row[:k]) if item in rel)
        n_ideal = len(rel) if mistake == "uncapped" else min(k, len(rel))
        ideal = sum(discount(i) for i in range(n_ideal))
        values.append(dcg if mistake == "no_ideal" else dcg / ideal)
    return sum(values) / len(values)


def in_batch_softmax(u, v, t, mistake=None):
    if mistake != "unnormalised":
        dim = 0 if mistake == "dim0" else -1
        u, v = F.normalize(u, dim=dim), F.normalize(v, dim=dim)
    logits = u @ v.T
    logits = {"multiplied": logits * t, "no_temperature": logits}.get(mistake, logits / t)
    B = len(u)
    labels = {"anti_diagonal": torch.arange(B).flip(0), "zeros": torch.zeros(B, dtype=torch.long)}.get(
        mistake, torch.arange(B)
    )
    if mistake == "columns":
        return F.cross_entropy(logits.T, labels)
    if mistake == "both":
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    return F.cross_entropy(logits, labels, reduction="sum" if mistake == "summed" else "mean")


@pytest.mark.parametrize(
    ("check", "fn"),
    [
        (lab16.check_bm25_scores, bm25),
        (lab16.check_recall_at_k, recall),
        (lab16.check_ndcg_at_k, ndcg),
        (lab16.check_in_batch_softmax, in_batch_softmax),
    ],
)
def test_right_answers_pass_and_unfinished_says_so(check, fn, capsys):
    assert_passes_and_unfinished_says_so(check, fn, capsys)


def test_numpy_and_tensor_answers_are_accepted(capsys):
    import numpy as np

    assert lab16.check_bm25_scores(lambda q, d, k1, b: bm25(q, d, k1, b).numpy())
    assert lab16.check_recall_at_k(lambda r, rel, k: np.float32(recall(r, rel, k)))
    assert lab16.check_ndcg_at_k(lambda r, rel, k: torch.tensor(ndcg(r, rel, k)))


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("idf_no_one", "without the 1 +"),
        ("idf_classic", "the tf-idf idf"),
        ("no_idf", "no idf at all"),
        ("no_length", "no length normalisation"),
        ("raw_length", "not divided by the average length"),
        ("raw_count", "without saturation"),
        ("no_k1", "without the factor (k1 + 1)"),
    ],
)
def test_bm25_mistakes_are_named(mistake, message):
    expect_message(lab16.check_bm25_scores, lambda q, d, k1, b: bm25(q, d, k1, b, mistake), message)


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("precision", "precision@k"),
        ("capped", "min(k, number relevant)"),
        ("hit_rate", "the hit rate"),
        ("no_cutoff", "the whole ranked list"),
    ],
)
def test_recall_mistakes_are_named(mistake, message):
    expect_message(lab16.check_recall_at_k, lambda r, rel, k: recall(r, rel, k, mistake), message)


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("no_log", "without the log discount"),
        ("rank", "the discount 1 / r"),
        ("no_ideal", "not divided by the ideal DCG"),
        ("uncapped", "past k"),
        ("off_by_one", "log2(1) = 0"),
    ],
)
def test_ndcg_mistakes_are_named(mistake, message):
    expect_message(lab16.check_ndcg_at_k, lambda r, rel, k: ndcg(r, rel, k, mistake), message)


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("unnormalised", "unnormalised embeddings"),
        ("dim0", "along dim=0"),
        ("anti_diagonal", "the wrong diagonal"),
        ("zeros", "every target 0"),
        ("multiplied", "multiplied by the temperature"),
        ("no_temperature", "without the temperature"),
        ("columns", "item-to-user direction"),
        ("both", "both directions averaged"),
        ("summed", "summed over the batch"),
    ],
)
def test_in_batch_softmax_mistakes_are_named(mistake, message):
    expect_message(lab16.check_in_batch_softmax, lambda u, v, t: in_batch_softmax(u, v, t, mistake), message)


def test_in_batch_softmax_must_keep_gradients():
    expect_message(
        lab16.check_in_batch_softmax, lambda u, v, t: in_batch_softmax(u, v, t).detach(), "gradients"
    )
