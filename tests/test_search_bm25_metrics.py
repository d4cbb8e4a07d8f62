"""Chapter 16a's BM25 against rank_bm25, its ranking metrics against scikit-learn, fusion and the
approximate indexes against exact search."""

import math

import numpy as np
import pytest
from rank_bm25 import BM25Okapi
from sklearn.metrics import ndcg_score

from mmlab.data.text import tokenize
from mmlab.search.bm25 import BM25, bm25_idf
from mmlab.search.corpus import QUERIES, labelled_queries, pydoc_passages
from mmlab.search.dense import DenseIndex, HNSWIndex, IVFIndex, overlap_at_k, synthetic_vectors
from mmlab.search.hybrid import fuse_scores, min_max_scale, reciprocal_rank_fusion
from mmlab.search.metrics import mean_reciprocal_rank, ndcg_at, recall_at


@pytest.fixture(scope="module")
def passages():
    return pydoc_passages()


def test_bm25_matches_rank_bm25(passages):
    docs = [tokenize(p.text) for p in passages]
    queries = [tokenize(q) for q, _ in QUERIES[:20]] + [["list", "list", "append"], ["zzz_unknown"]]
    reference = BM25Okapi(docs, k1=1.2, b=0.6)
    ours = BM25(docs, k1=1.2, b=0.6, idf="robertson")
    # rank_bm25 floors negative idf values (words in most documents); ours keeps them: compare the
    # idf of every other word, then the scores with rank_bm25's idf table put into ours
    positive = {w: i for w, i in ours.vocab.items() if ours.idf[i] > 0}
    assert len(positive) > 1000
    for word, i in positive.items():
        assert math.isclose(ours.idf[i], reference.idf[word], rel_tol=1e-12)
    floored = BM25(docs, k1=1.2, b=0.6, idf="robertson")
    ratio = np.array([reference.idf[w] for w in sorted(ours.vocab, key=ours.vocab.get)]) / ours.idf
    weights = ours.weights.tocoo()
    weights.data = weights.data * ratio[weights.col]
    floored.weights = weights.tocsc()
    for q in queries:
        np.testing.assert_allclose(floored.scores(q), reference.get_scores(q), rtol=1e-10, atol=1e-12)


def test_bm25_by_hand_idf_and_length_normalisation():
    docs = [["cat", "sat"], ["cat", "cat", "dog", "dog", "dog", "dog"], ["bird"]]
    bm = BM25(docs, k1=1.5, b=0.75)
    idf_cat = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    avg = 3.0
    by_hand = [idf_cat * f * 2.5 / (f + 1.5 * (0.25 + 0.75 * n / avg)) for f, n in ((1, 2), (2, 6))]
    np.testing.assert_allclose(bm.scores(["cat"]), [*by_hand, 0.0])
    assert bm.scores(["unknown"]).tolist() == [0.0, 0.0, 0.0]
    # b = 0: no length normalisation, so two occurrences beat one whatever the length
    s = BM25(docs, b=0.0).scores(["cat"])
    assert s[1] > s[0]
    assert (bm25_idf(3, np.array([1, 2, 3])) > 0).all()
    assert bm25_idf(3, np.array([3]), "robertson")[0] < 0
    scores, ids = bm.search([["dog"], ["cat"]], k=2)
    assert ids[0, 0] == 1 and ids[1].tolist() == [0, 1] and scores.shape == (2, 2)
    with pytest.raises(ValueError, match="idf variant"):
        BM25(docs, idf="tfidf")
    with pytest.raises(ValueError, match="0 <= b <= 1"):
        BM25(docs, b=2)


def test_metrics_by_hand_and_ndcg_against_sklearn():
    ranked = np.array([[3, 1, 2, 0], [0, 1, 2, 3], [2, 3, 0, 1]])
    relevant = [{1}, {2, 3}, set()]  # the third query has nothing relevant: skipped
    assert recall_at(ranked, relevant, 1) == 0.0
    assert recall_at(ranked, relevant, 2) == pytest.approx((1 + 0) / 2)
    assert recall_at(ranked, relevant, 4) == 1.0
    assert mean_reciprocal_rank(ranked, relevant) == pytest.approx((1 / 2 + 1 / 3) / 2)
    rng = np.random.default_rng(0)
    for k in (1, 3, 10):
        scores = rng.standard_normal((30, 25))
        truth = (rng.random((30, 25)) < 0.15).astype(float)
        truth[truth.sum(1) == 0, 0] = 1.0
        order = np.argsort(-scores, axis=1)
        rel = [set(np.flatnonzero(row)) for row in truth]
        assert ndcg_at(order, rel, k) == pytest.approx(ndcg_score(truth, scores, k=k), abs=1e-12)


def test_min_max_fusion_and_rrf():
    dense = np.array([[0.2, 0.9, 0.5], [0.1, 0.1, 0.1]])
    lexical = np.array([[10.0, 0.0, 5.0], [0.0, 3.0, 1.0]])
    np.testing.assert_allclose(min_max_scale(dense), [[0, 1, 3 / 7], [0, 0, 0]])
    np.testing.assert_allclose(fuse_scores(dense, lexical, 1.0), min_max_scale(dense))
    np.testing.assert_allclose(fuse_scores(dense, lexical, 0.5)[0], [0.5, 0.5, 0.5 * 3 / 7 + 0.25])
    rrf = reciprocal_rank_fusion(dense, lexical, c=60)
    np.testing.assert_allclose(rrf[0], [1 / 63 + 1 / 61, 1 / 61 + 1 / 63, 1 / 62 + 1 / 62])
    with pytest.raises(ValueError, match="alpha"):
        fuse_scores(dense, lexical, 1.5)


def test_every_query_has_its_section(passages):
    queries, targets = labelled_queries(passages)
    assert len(queries) == len(QUERIES) >= 60 and len(passages) > 150
    assert all(passages[t].title == title for t, (_, title) in zip(targets, QUERIES))
    assert len({p.title for p in passages}) == len(passages)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_agree_with_exact_search(kind):
    vectors = synthetic_vectors(5100, 64, seed=0)
    data, queries = vectors[:5000], vectors[5000:]
    exact = DenseIndex(64)
    exact.add(data)
    approx = HNSWIndex(64, ef_search=128) if kind == "hnsw" else IVFIndex(64, n_lists=32, nprobe=32)
    approx.add(data)
    _, truth = exact.search(queries, 10)
    _, found = approx.search(queries, 10)
    assert overlap_at_k(found, truth, 10) > 0.97  # IVF with every cell probed is exact
    assert overlap_at_k(truth, truth, 10) == 1.0
    np.testing.assert_allclose(np.linalg.norm(data, axis=1), 1.0, atol=1e-5)
    few = IVFIndex(64, n_lists=8, nprobe=1)
    few.add(data)
    assert overlap_at_k(few.search(queries, 10)[1], truth, 10) < 0.99  # one cell of eight misses some
    with pytest.raises(ValueError, match="at least that many"):
        IVFIndex(64, n_lists=32).add(data[:10])
