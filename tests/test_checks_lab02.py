"""Lab 02 checks: right answers pass, each named mistake gets its own message, and an unfinished
exercise reports "not implemented yet"."""

import pytest
import torch
import torch.nn.functional as F

from mmlab.checks.framework import CheckFailed
from mmlab.checks.lab02 import check_nearest_neighbours, check_negative_sampling_loss, check_skipgram_pairs


# ----------------------------------------------------------------------------- right answers
def skipgram_pairs(token_ids, window):
    return [
        (c, token_ids[j])
        for i, c in enumerate(token_ids)
        for j in range(max(0, i - window), min(len(token_ids), i + window + 1))
        if j != i
    ]


def ns_loss(centre, context, negatives):
    pos = (centre * context).sum(-1)
    neg = (negatives @ centre.unsqueeze(-1)).squeeze(-1)
    return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()


def nearest(query, matrix, k):
    return F.cosine_similarity(matrix, query[None], dim=1).topk(k).indices


def not_implemented(*args):
    raise NotImplementedError


def test_right_answers_pass(capsys):
    assert check_skipgram_pairs(skipgram_pairs)
    assert check_negative_sampling_loss(ns_loss)
    assert check_nearest_neighbours(nearest)
    assert check_nearest_neighbours(lambda q, m, k: nearest(q, m, k).tolist())  # a list is fine
    assert "checks passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "check", [check_skipgram_pairs, check_negative_sampling_loss, check_nearest_neighbours]
)
def test_not_implemented_prints_one_line(check, capsys):
    assert not check(not_implemented)
    out = capsys.readouterr().out
    assert "not implemented yet" in out and out.count("\n") == 1


# ----------------------------------------------------------------------------- skip-gram pairs
def _window_pairs(token_ids, window, include_centre=False):
    return [
        (c, token_ids[j])
        for i, c in enumerate(token_ids)
        for j in range(max(0, i - window), min(len(token_ids), i + window + 1))
        if include_centre or j != i
    ]


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda ids, w: _window_pairs(ids, w, include_centre=True), "centre word counted as its own context"),
        (lambda ids, w: _window_pairs(ids, w - 1), "off by one (one too small)"),
        (lambda ids, w: _window_pairs(ids, w + 1), "off by one (one too large)"),
        (lambda ids, w: sorted(skipgram_pairs(ids, w), key=lambda p: p[1]), "wrong order"),
        (lambda ids, w: [(1, 2, 3)], "should have two ids"),
        (lambda ids, w: 5, "should be a list of (centre, context) id pairs"),
    ],
    ids=["centre", "too small", "too large", "order", "triples", "not a list"],
)
def test_skipgram_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_skipgram_pairs(wrong)


def test_skipgram_dedup_mistake_is_caught():
    # dropping repeated ids ("the same id at another position") fails on the repeated-id case
    def dedup(ids, w):
        return [p for p in skipgram_pairs(ids, w) if p[0] != p[1]]

    with pytest.raises(CheckFailed, match=r"token_ids=\[7, 7, 8\].*same word as the centre"):
        check_skipgram_pairs(dedup)


# ----------------------------------------------------------------------------- negative sampling loss
def _parts(centre, context, negatives):
    pos = (centre * context).sum(-1)
    neg = (negatives @ centre.unsqueeze(-1)).squeeze(-1)
    return pos, neg


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda c, o, n: (lambda p, q: -(F.logsigmoid(p) + F.logsigmoid(q).sum(-1)).mean())(*_parts(c, o, n)),
         "sigmoid sign flipped for the negatives"),
        (lambda c, o, n: (lambda p, q: -(F.logsigmoid(p) + F.logsigmoid(-q).mean(-1)).mean())(*_parts(c, o, n)),
         "mean over the negatives instead of their sum"),
        (lambda c, o, n: (lambda p, q: -(F.logsigmoid(p) + F.logsigmoid(-q).sum(-1)).sum())(*_parts(c, o, n)),
         "sum over the batch instead of the mean"),
        (lambda c, o, n: (lambda p, q: -(F.logsigmoid(p) + F.logsigmoid(-q).sum(-1)))(*_parts(c, o, n)),
         "not reduced to their mean"),
        (lambda c, o, n: -ns_loss(c, o, n), "without its minus sign"),
        (lambda c, o, n: (lambda p, q: -(torch.log(torch.sigmoid(p)) + torch.log(torch.sigmoid(-q)).sum(-1)).mean())(
            *_parts(c, o, n)), "not numerically stable"),
        (lambda c, o, n: torch.tensor(ns_loss(c, o, n).item()), "no gradient reached"),
    ],
    ids=["sign", "mean over K", "batch sum", "no reduction", "minus sign", "unstable", "no grad"],
)  # fmt: skip
def test_negative_sampling_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_negative_sampling_loss(wrong)


def test_loss_that_raises_says_where():
    with pytest.raises(CheckFailed, match="raised RuntimeError on B=6, K=3, d=4"):
        check_negative_sampling_loss(lambda c, o, n: (c @ o).sum())


# ----------------------------------------------------------------------------- nearest neighbours
@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda q, m, k: (m @ q).topk(k).indices, "cosine without normalisation"),
        (lambda q, m, k: (m @ (q / q.norm())).topk(k).indices, "cosine without normalisation"),
        (lambda q, m, k: nearest(q, m, k).flip(0), "worst first"),
        (lambda q, m, k: F.cosine_similarity(m, q[None], dim=1).argsort()[:k], "LEAST similar"),
        (lambda q, m, k: (m - q).norm(dim=1).argsort()[:k], "Euclidean distance"),
        (lambda q, m, k: "not indices", "return the indices"),
    ],
    ids=["dot product", "query only normalised", "worst first", "least", "euclidean", "a string"],
)
def test_nearest_neighbour_mistakes_are_named(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_nearest_neighbours(wrong)


# ----------------------------------------------------------------------------- more typical mistakes
def _wraps_around(token_ids, window):
    n = len(token_ids)
    return [
        (c, token_ids[j])  # a negative j wraps around to the end of the list
        for i, c in enumerate(token_ids)
        for j in range(i - window, min(n, i + window + 1))
        if j != i
    ]


def _ns_parts_with_context(c, o, n):
    pos = (c * o).sum(-1)
    neg = (n @ o.unsqueeze(-1)).squeeze(-1)
    return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()


def _ns_no_log(c, o, n):
    pos, neg = _parts(c, o, n)
    return -(torch.sigmoid(pos) + torch.sigmoid(-neg).sum(-1)).mean()


MORE_MISTAKES = [
    (check_skipgram_pairs, lambda ids, w: [(b, a) for a, b in skipgram_pairs(ids, w)], "(context, centre)"),
    (
        check_skipgram_pairs,
        lambda ids, w: [p for p, (i, j) in zip(skipgram_pairs(ids, w), _offsets(ids, w)) if j > i],
        "only one side",
    ),
    (check_skipgram_pairs, _wraps_around, "wraps around"),
    (check_negative_sampling_loss, _ns_parts_with_context, "against the context vector"),
    (check_negative_sampling_loss, _ns_no_log, "without the log"),
    (
        check_nearest_neighbours,
        lambda q, m, k: F.cosine_similarity(m, q[None], dim=1).topk(k).values,
        "similarities",
    ),
    (
        check_nearest_neighbours,
        lambda q, m, k: (F.normalize(m, dim=0) @ F.normalize(q, dim=0)).topk(k).indices,
        "each column",
    ),
    (check_nearest_neighbours, lambda q, m, k: nearest(q, m, k + 1)[1:], "first result dropped"),
]


def _offsets(ids, window):
    return [
        (i, j)
        for i in range(len(ids))
        for j in range(max(0, i - window), min(len(ids), i + window + 1))
        if j != i
    ]


@pytest.mark.parametrize(("check", "wrong", "message"), MORE_MISTAKES)
def test_more_mistakes_are_named(check, wrong, message):
    with pytest.raises(CheckFailed) as err:
        check(wrong)
    assert message in str(err.value), str(err.value)
