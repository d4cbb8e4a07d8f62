"""Chapter 16a's recommendation: generated interactions, baselines against libraries or by hand, the
two-tower model and its in-batch softmax (CLIP's loss)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.decomposition import TruncatedSVD
from sklearn.metrics.pairwise import cosine_similarity

from mmlab.models.clip import clip_loss
from mmlab.models.two_tower import TwoTower, TwoTowerConfig, in_batch_softmax, two_tower_loss
from mmlab.recipes.recommend import TwoTowerSettings, build_two_tower, pair_tensors, recommend_data
from mmlab.search.recommenders import (
    content_scores,
    cooccurrence_scores,
    evaluate,
    interaction_matrix,
    popularity_scores,
    svd_scores,
    top_items,
)

SMALL = TwoTowerSettings(n_users=300, n_items=120, n_cold=20)


@pytest.fixture(scope="module")
def data():
    return recommend_data(SMALL, seed=0)


def test_interactions_split_by_time_with_cold_items_only_after(data):
    catalogue, inter = data
    assert catalogue.n_items == 120 and len(set(catalogue.texts)) > 100
    assert inter.train[:, 1].max() < catalogue.n_warm  # no new release before the split
    assert sum(map(len, inter.test_cold)) > 0 and sum(map(len, inter.test_warm)) > 0
    assert all(i >= catalogue.n_warm for s in inter.test_cold for i in s)
    x = interaction_matrix(inter.train, inter.n_users, catalogue.n_items)
    for u in range(inter.n_users):  # nothing held out was already consumed
        assert not (set(x[u].indices) & inter.test_warm[u])
    counts = np.sort(np.asarray(x.sum(0)).ravel()[: catalogue.n_warm])[::-1]
    assert counts[:10].sum() > 3 * counts[-10:].sum()  # popularity skew
    again = recommend_data(SMALL, seed=0)[1]
    np.testing.assert_array_equal(again.train, inter.train)
    assert not np.array_equal(recommend_data(SMALL, seed=1)[1].train[:50], inter.train[:50])


def test_baselines_by_hand_and_against_scikit_learn():
    pairs = np.array([[0, 0], [0, 1], [1, 1], [1, 2], [2, 0], [2, 1], [2, 3], [0, 0]])
    x = interaction_matrix(pairs, 3, 4)
    assert x.toarray().max() == 1.0 and x.sum() == 7
    np.testing.assert_array_equal(popularity_scores(x)[1], [2, 3, 1, 1])
    sim = cosine_similarity(x.toarray().T)
    np.fill_diagonal(sim, 0)
    np.testing.assert_allclose(cooccurrence_scores(x), x.toarray() @ sim)
    np.testing.assert_allclose(svd_scores(x, 3), x.toarray(), atol=1e-10)  # full rank: X itself
    svd = TruncatedSVD(2, algorithm="arpack").fit(x)
    v = svd.components_.T
    np.testing.assert_allclose(svd_scores(x, 2), x.toarray() @ v @ v.T, atol=1e-10)
    vectors = np.random.default_rng(0).standard_normal((4, 5))
    profile = x.toarray() @ (vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    np.testing.assert_allclose(content_scores(x, vectors), cosine_similarity(profile, vectors))


def test_top_items_skips_seen_and_non_candidates_and_evaluate():
    x = interaction_matrix(np.array([[0, 0], [1, 3]]), 2, 5)
    scores = np.array([[5.0, 4, 3, 2, 1], [1.0, 2, 3, 4, 5]])
    candidates = np.array([True, True, True, True, False])
    np.testing.assert_array_equal(top_items(scores, x, candidates, 2), [[1, 2], [2, 1]])
    result = evaluate(scores, x, [{2}, {0}], candidates, k=2)
    assert result["recall@2"] == pytest.approx(0.5)
    assert result["ndcg@2"] == pytest.approx((1 / np.log2(3)) / 2)


def test_in_batch_softmax_is_half_of_clip_loss_and_by_hand():
    g = torch.Generator().manual_seed(0)
    u = F.normalize(torch.randn(6, 8, generator=g), dim=-1)
    v = F.normalize(torch.randn(6, 8, generator=g), dim=-1)
    both = (in_batch_softmax(u, v, 10.0) + in_batch_softmax(v, u, 10.0)) / 2
    torch.testing.assert_close(both, clip_loss(u, v, 10.0))
    log_q = torch.randn(6, generator=g)
    logits = 10.0 * u @ v.T - log_q
    by_hand = -(logits.diag() - logits.logsumexp(1)).mean()
    torch.testing.assert_close(in_batch_softmax(u, v, 10.0, log_q), by_hand)


def test_two_tower_cold_items_are_scored_by_text_alone(data):
    catalogue, inter = data
    text = torch.randn(catalogue.n_items, 384)
    model = build_two_tower(SMALL, catalogue, inter, text.numpy())
    with torch.no_grad():
        model.item_id.weight[catalogue.n_warm :] = 100.0  # an untrained id embedding must not count
    model.eval()
    cold = torch.arange(catalogue.n_warm, catalogue.n_items)
    expected = F.normalize(model.text_proj(text[cold]), dim=-1)
    torch.testing.assert_close(model.items(cold), expected)
    scores = model.score_matrix()
    assert scores.shape == (inter.n_users, catalogue.n_items) and scores.abs().max() <= 1 + 1e-5
    assert torch.isclose(model.log_q.exp().sum(), torch.tensor(1.0))
    batch = {k: t[:64] for k, t in pair_tensors(inter).items()}
    loss, metrics = two_tower_loss(model.train(), batch)
    assert loss.item() > 0 and 0 <= metrics["accuracy"] <= 1
    with pytest.raises(ValueError, match="item_text must be"):
        TwoTower(TwoTowerConfig(3, 4), torch.zeros(4, 10), torch.ones(4, dtype=torch.bool))


def test_two_tower_learns_tastes_beyond_popularity(data):
    from mmlab.recipes.base import dict_loader
    from mmlab.train.trainer import TrainConfig, Trainer

    catalogue, inter = data
    torch.manual_seed(0)
    genre_text = np.eye(8)[catalogue.genre] @ np.random.default_rng(0).standard_normal((8, 384))
    model = build_two_tower(SMALL, catalogue, inter, genre_text.astype(np.float32))
    loader = dict_loader(pair_tensors(inter), 256, shuffle=True)
    Trainer(
        model, two_tower_loss, loader, None, TrainConfig(max_steps=150, lr=1e-2, progress=False, device="cpu")
    ).fit()
    x = interaction_matrix(inter.train, inter.n_users, catalogue.n_items)
    warm = np.arange(catalogue.n_items) < catalogue.n_warm
    ours = evaluate(model.score_matrix().numpy(), x, inter.test_cold, ~warm)
    popular = evaluate(popularity_scores(x), x, inter.test_cold, ~warm)
    assert ours["recall@10"] > popular["recall@10"] + 0.1
