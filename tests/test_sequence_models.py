"""Tests for mmlab.models.sequence: word2vec pieces against references, and the three classifiers."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mmlab.models.bow import BoWClassifier, BoWConfig
from mmlab.models.sequence import (
    CNNClassifier,
    RNNClassifier,
    RNNConfig,
    SkipGram,
    SkipGramConfig,
    TextCNNConfig,
    most_similar,
    nearest_neighbours,
    negative_sampling_loss,
    sequence_classification_loss,
    skipgram_loss,
    skipgram_pairs,
    subsample_frequent,
    unigram_noise,
)
from mmlab.train.trainer import TrainConfig, Trainer


# ----------------------------------------------------------------------------- word2vec
def test_skipgram_pairs_order_and_edges():
    assert skipgram_pairs([10, 11, 12], 1) == [(10, 11), (11, 10), (11, 12), (12, 11)]
    # a repeated id at another position is a real context; offset 0 never is
    assert skipgram_pairs([5, 5], 2) == [(5, 5), (5, 5)]
    assert skipgram_pairs([1], 3) == [] and skipgram_pairs([], 1) == []
    ids = list(range(20))
    pairs = skipgram_pairs(ids, 3)
    naive = [(c, o) for c in ids for o in ids if 0 < abs(c - o) <= 3]  # reference by brute force
    assert pairs == naive
    with pytest.raises(ValueError):
        skipgram_pairs(ids, 0)


def test_negative_sampling_loss_matches_bce_reference():
    torch.manual_seed(0)
    v, u, neg = torch.randn(8, 6), torch.randn(8, 6), torch.randn(8, 4, 6)
    pos_logit = (v * u).sum(-1)  # (B,)
    neg_logit = torch.einsum("bkd,bd->bk", neg, v)  # (B, K)
    # Reference: binary cross-entropy with label 1 for the context word and 0 for each noise word.
    reference = F.binary_cross_entropy_with_logits(pos_logit, torch.ones(8), reduction="none") + (
        F.binary_cross_entropy_with_logits(neg_logit, torch.zeros(8, 4), reduction="none").sum(-1)
    )
    torch.testing.assert_close(negative_sampling_loss(v, u, neg), reference.mean(), atol=1e-6, rtol=1e-6)
    # stable for large scores, where log(sigmoid(x)) would give inf
    big = negative_sampling_loss(100 * v, 100 * u, 100 * neg)
    assert torch.isfinite(big)
    with pytest.raises(ValueError):
        negative_sampling_loss(v, u, torch.randn(8, 6))


def test_nearest_neighbours_matches_cosine_similarity_reference():
    torch.manual_seed(0)
    matrix = torch.randn(30, 5) * torch.rand(30, 1) * 10  # very different norms
    query = torch.randn(5)
    reference = F.cosine_similarity(matrix, query[None], dim=1).argsort(descending=True)[:4]
    assert nearest_neighbours(query, matrix, 4).tolist() == reference.tolist()
    with pytest.raises(ValueError):
        nearest_neighbours(query, matrix, 0)


def test_most_similar_excludes_the_word():
    from mmlab.data.text import Vocab

    vocab = Vocab.build([["a", "b", "c"]])
    vectors = torch.tensor([[0.0, 0], [0, 0], [1, 0], [1, 0.1], [1, 1]])
    result = most_similar("a", vocab, vectors, k=2)
    assert [w for w, _ in result] == ["b", "c"] and result[0][1] > 0.99


def test_unigram_noise_and_subsampling():
    noise = unigram_noise(torch.tensor([0.0, 16.0, 1.0]))
    torch.testing.assert_close(noise, torch.tensor([0.0, 8.0, 1.0]) / 9.0)
    counts = torch.tensor([0.0, 1000.0, 10.0])
    ids = [1] * 1000 + [2] * 10
    kept = subsample_frequent(ids, counts, threshold=1e-2, seed=0)
    assert kept.count(2) == 10  # rare words are always kept
    assert 50 < kept.count(1) < 150  # frequent: kept with probability sqrt(0.01 / 0.99) ~ 0.1


def test_skipgram_loss_decreases_on_a_toy_corpus():
    # Five topics of four words that never mix: words 2-5 co-occur, words 6-9 co-occur, ...
    torch.manual_seed(0)
    stream = []
    for i in range(600):
        topic = torch.arange(4) + 2 + 4 * (i % 5)
        stream += topic[torch.randperm(4)].tolist()
    pairs = torch.tensor(skipgram_pairs(stream, 1))
    counts = torch.bincount(torch.tensor(stream), minlength=22).float()
    model = SkipGram(SkipGramConfig(vocab_size=22, dim=8, negatives=3), unigram_noise(counts))
    first = skipgram_loss(model, (pairs[:256],)).item()
    assert first == pytest.approx(4 * torch.log(torch.tensor(2.0)).item(), abs=1e-5)  # zero context vectors
    loader = DataLoader(TensorDataset(pairs), batch_size=64, shuffle=True)
    history = Trainer(
        model, skipgram_loss, loader, None, TrainConfig(max_steps=300, lr=0.05, progress=False)
    ).fit()
    last = history.train[-1]["loss"]
    assert last < 0.7 * first, (first, last)
    sims = F.normalize(model.vectors, dim=1) @ F.normalize(model.vectors, dim=1).T
    topic = (torch.arange(22) - 2) // 4  # topic of each word id (ids 0, 1 are the special tokens)
    same = (topic[:, None] == topic[None, :]) & ~torch.eye(22, dtype=torch.bool)
    words = torch.arange(22) >= 2
    across = (topic[:, None] != topic[None, :]) & words[:, None] & words[None, :]
    same = same & words[:, None]
    assert sims[same].mean() > sims[across].mean() + 0.3  # same topic closer than across topics


# ----------------------------------------------------------------------------- classifiers
V = 20


def _models():
    return [
        BoWClassifier(BoWConfig(V, embed_dim=8)),
        CNNClassifier(TextCNNConfig(V, dim=8, channels=6, kernel_sizes=(3, 5))),
        RNNClassifier(RNNConfig(V, dim=8, hidden=7, cell="lstm")),
        RNNClassifier(RNNConfig(V, dim=8, hidden=7, cell="gru")),
        RNNClassifier(RNNConfig(V, dim=8, hidden=7, cell="lstm", bidirectional=True, num_layers=2)),
    ]


@pytest.mark.parametrize("model", _models(), ids=lambda m: type(m).__name__)
def test_padding_never_changes_a_prediction(model):
    model.eval()
    torch.manual_seed(1)
    seqs = [torch.randint(2, V, (n,)) for n in (5, 2, 9, 1)]
    batch = nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=0)  # (4, 9)
    more_padding = torch.cat([batch, torch.zeros(4, 6, dtype=torch.long)], dim=1)  # (4, 15)
    lengths = torch.tensor([5, 2, 9, 1])
    with torch.no_grad():
        alone = torch.cat([model(s[None]) for s in seqs])  # each sequence unpadded, batch of one
        padded = model(batch, lengths)
        padded_more = model(more_padding, lengths)
        inferred = model(batch)  # lengths inferred from the padding id
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded_more, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(inferred, alone, atol=1e-5, rtol=1e-5)


def test_packed_and_unpacked_lstm_agree_on_unpadded_input():
    packed = RNNClassifier(RNNConfig(V, dim=8, hidden=7, packed=True))
    unpacked = RNNClassifier(RNNConfig(V, dim=8, hidden=7, packed=False))
    unpacked.load_state_dict(packed.state_dict())
    ids = torch.randint(2, V, (3, 6))  # all full length: no padding
    torch.testing.assert_close(packed(ids), unpacked(ids), atol=1e-6, rtol=1e-6)
    # and both equal a hand-run nn.LSTM's last hidden state through the head (reference)
    _, (h_n, _) = packed.rnn(packed.embed(ids))
    torch.testing.assert_close(packed(ids), packed.head(h_n[-1]), atol=1e-6, rtol=1e-6)


def test_unpacked_lstm_reads_the_padding():
    model = RNNClassifier(RNNConfig(V, dim=8, hidden=7, packed=False))
    ids = torch.tensor([[3, 4, 5, 0, 0, 0]])
    assert not torch.allclose(model(ids), model(ids[:, :3]), atol=1e-4)


def test_bow_is_the_mean_of_word_vectors():
    model = BoWClassifier(BoWConfig(V, embed_dim=8))
    ids = torch.tensor([[3, 4, 4, 0]])
    mean = model.embed.weight[[3, 4, 4]].mean(0)  # reference: mean of the embedding rows
    torch.testing.assert_close(model(ids)[0], model.head(mean), atol=1e-6, rtol=1e-6)


def test_classifier_errors_and_loss():
    model = CNNClassifier(TextCNNConfig(V, dim=8, channels=4))
    with pytest.raises(ValueError, match="odd"):
        TextCNNConfig(V, kernel_sizes=(2,))
    with pytest.raises(ValueError, match="cell"):
        RNNConfig(V, cell="rnn")
    with pytest.raises(ValueError, match="at least one real token"):
        model(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.ones(3, dtype=torch.long))
    batch = {
        "ids": torch.randint(2, V, (4, 5)),
        "lengths": torch.full((4,), 5),
        "labels": torch.tensor([0, 1, 0, 1]),
    }
    loss, metrics = sequence_classification_loss(model, batch)
    assert loss.dim() == 0 and 0.0 <= float(metrics["accuracy"]) <= 1.0
