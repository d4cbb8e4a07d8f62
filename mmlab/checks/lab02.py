"""Checks for lab 02 (word embeddings): skip-gram pairs, the negative-sampling loss, cosine
nearest neighbours. Each compares the learner's function with the reference in
:mod:`mmlab.models.sequence` and names the classic mistakes."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from mmlab.checks.framework import CheckFailed, call, describe, expect_close, expect_true, lab_check
from mmlab.models.sequence import nearest_neighbours, negative_sampling_loss, skipgram_pairs

__all__ = ["check_nearest_neighbours", "check_negative_sampling_loss", "check_skipgram_pairs"]

CENTRE_AS_CONTEXT = "the centre word counted as its own context: skip offset 0 (j != i)"
WINDOW_TOO_SMALL = "a window off by one (one too small): include positions i - window and i + window"
WINDOW_TOO_LARGE = (
    "a window off by one (one too large): stop at i + window, inclusive (range(..., i + window + 1))"
)
SIGN_FLIPPED = (
    "the sigmoid sign flipped for the negatives: use log sigma(-u_k . v_c), not log sigma(+u_k . v_c)"
)
PAIRS_REVERSED = (
    "pairs written (context, centre), or listed in the wrong order (by context word; for this symmetric "
    "window both give the same list): each pair is (centre, context), centre positions left to right"
)
ONE_SIDE = (
    "context taken from only one side of the centre: the window reaches `window` words to the left AND to "
    "the right"
)
WRAPS_AROUND = (
    "a window that wraps around: a negative index such as ids[-1] reads the END of the text; start the "
    "window at max(0, i - window)"
)
SAME_ID_DROPPED = (
    "pairs dropped where the context word is the same word as the centre: skip the centre *position* "
    "(j != i), not every word equal to it; a repeated word is a real context"
)
NOT_NORMALISED = "cosine without normalisation: divide each row (and the query) by its length first"


def _pairs_tensor(pairs, case: str) -> torch.Tensor:
    """The learner's pairs as a (P, 2) integer tensor, with a clear message when that is impossible."""
    try:
        items = [tuple(int(x) for x in p) for p in pairs]
    except (TypeError, ValueError):
        raise CheckFailed(
            f"your pairs for {case} should be a list of (centre, context) id pairs, got {describe(pairs)}"
        ) from None
    if any(len(p) != 2 for p in items):
        raise CheckFailed(f"every pair for {case} should have two ids (centre, context), got {items[:5]}")
    return torch.tensor(items, dtype=torch.long).view(-1, 2)


def _pairs_where(ids: list[int], window: int, keep: Callable[[int, int], bool]) -> torch.Tensor:
    """Pairs (ids[i], ids[j]) for j from i - window to i + window (negative j wrapping, like Python's
    indexing) where ``keep(i, j)``: builds the wrong answers that pick other context positions."""
    out = [
        (ids[i], ids[j])
        for i in range(len(ids))
        for j in range(i - window, min(len(ids), i + window + 1))
        if j != i and keep(i, j)
    ]
    return torch.tensor(out, dtype=torch.long).view(-1, 2)


def _pairs_with_offsets(ids: list[int], low: int, high: int, skip_zero: bool) -> torch.Tensor:
    """Pairs for offsets in [-high, high] with |offset| >= low: builds the common wrong answers."""
    out = []
    for i in range(len(ids)):
        for j in range(max(0, i - high), min(len(ids), i + high + 1)):
            if (j == i and skip_zero) or (j != i and abs(j - i) < low):
                continue
            out.append((ids[i], ids[j]))
    return torch.tensor(out, dtype=torch.long).view(-1, 2)


@lab_check("check_skipgram_pairs")
def check_skipgram_pairs(skipgram_pairs_fn: Callable) -> None:
    """``skipgram_pairs(token_ids, window)`` -> list of (centre, context) pairs, in order."""
    ids = [11, 12, 13, 14, 15, 16, 17]  # distinct ids, so each mistake gives a different list
    for window in (1, 2, 3):
        case = f"token_ids={ids}, window={window}"
        got = _pairs_tensor(call(skipgram_pairs_fn, list(ids), window, case=case), case)
        expected = torch.tensor(skipgram_pairs(ids, window))
        mistakes = {
            CENTRE_AS_CONTEXT: _pairs_with_offsets(ids, 0, window, skip_zero=False),
            WINDOW_TOO_SMALL: _pairs_with_offsets(ids, 1, window - 1, skip_zero=True),
            WINDOW_TOO_LARGE: _pairs_with_offsets(ids, 1, window + 1, skip_zero=True),
            ONE_SIDE: _pairs_where(ids, window, lambda i, j: j > i),
            f"{ONE_SIDE} (you kept only the left side)": _pairs_where(ids, window, lambda i, j: 0 <= j < i),
            WRAPS_AROUND: _pairs_where(ids, window, lambda i, j: True),
        }
        if (
            got.shape == expected.shape
            and not torch.equal(got, expected)
            and torch.equal(got.flip(1), expected)
        ):
            raise CheckFailed(
                f"your pairs for {case} are {PAIRS_REVERSED}.\n  expected: {expected.tolist()[:4]} ...\n"
                f"  got:      {got.tolist()[:4]} ..."
            )
        if got.shape == expected.shape and not torch.equal(got, expected):
            if sorted(map(tuple, got.tolist())) == sorted(map(tuple, expected.tolist())):
                raise CheckFailed(
                    f"your pairs for {case} are the right pairs in the wrong order: go through the centre "
                    f"positions left to right, and for each centre its context positions left to right.\n"
                    f"  expected: {expected.tolist()[:8]} ...\n  got:      {got.tolist()[:8]} ..."
                )
        expect_close(got, expected, what="pairs", case=case, mistakes=mistakes, atol=0, rtol=0)
    # edges: a window wider than the text, a one-word text, a repeated id
    for token_ids, window in (([4, 5, 6], 10), ([4], 2), ([7, 7, 8], 1)):
        case = f"token_ids={token_ids}, window={window}"
        got = _pairs_tensor(call(skipgram_pairs_fn, list(token_ids), window, case=case), case)
        expected = torch.tensor(skipgram_pairs(token_ids, window), dtype=torch.long).view(-1, 2)
        mistakes = {CENTRE_AS_CONTEXT: _pairs_with_offsets(token_ids, 0, window, skip_zero=False)}
        if len(set(token_ids)) < len(token_ids):
            mistakes[SAME_ID_DROPPED] = expected[expected[:, 0] != expected[:, 1]]
        expect_close(got, expected, what="pairs", case=case, mistakes=mistakes, atol=0, rtol=0)


@lab_check("check_negative_sampling_loss")
def check_negative_sampling_loss(loss_fn: Callable) -> None:
    """``negative_sampling_loss(centre[B, d], context[B, d], negatives[B, K, d])`` -> mean loss."""
    gen = torch.Generator().manual_seed(2)
    centre, context, negatives = (torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen),
                                  torch.randn(6, 3, 4, generator=gen))  # fmt: skip
    case = "B=6, K=3, d=4"
    pos = (centre * context).sum(-1)  # (B,)
    neg = torch.einsum("bkd,bd->bk", negatives, centre)  # (B, K)
    expected = negative_sampling_loss(centre, context, negatives)
    got = call(loss_fn, centre, context, negatives, case=case)
    expect_close(
        got,
        expected,
        what="loss",
        case=case,
        mistakes={
            SIGN_FLIPPED: (F.softplus(-pos) + F.softplus(-neg).sum(-1)).mean(),
            "the negatives' sigmoid sign flipped AND the positive's too: -log sigma(x) for x = u_o . v_c "
            "is softplus(-x)": (F.softplus(pos) + F.softplus(-neg).sum(-1)).mean(),
            "the mean over the negatives instead of their sum (each of the K words adds its own term)": (
                F.softplus(-pos) + F.softplus(neg).mean(-1)
            ).mean(),
            "the sum over the batch instead of the mean": (F.softplus(-pos) + F.softplus(neg).sum(-1)).sum(),
            "the per-example losses, not reduced to their mean (return a scalar)": F.softplus(-pos)
            + F.softplus(neg).sum(-1),
            "the loss without its minus sign (a loss is -log of a probability, so it is >= 0)": -expected,
            "the negatives scored against the context vector: a negative word k replaces the context, so "
            "its score is u_k . v_c with the CENTRE vector": (
                F.softplus(-pos) + F.softplus(torch.einsum("bkd,bd->bk", negatives, context)).sum(-1)
            ).mean(),
            "sigmoids without the log: the loss is -(log sigma(u_o . v_c) + sum_k log sigma(-u_k . v_c)), "
            "use F.logsigmoid": -(torch.sigmoid(pos) + torch.sigmoid(-neg).sum(-1)).mean(),
        },
    )
    # gradients flow to all three inputs
    leaves = [t.clone().requires_grad_() for t in (centre, context, negatives)]
    out = call(loss_fn, *leaves, case=case)
    if isinstance(out, torch.Tensor) and out.requires_grad:
        out.backward()
    expect_true(
        all(t.grad is not None for t in leaves),
        "no gradient reached one of centre/context/negatives: keep every step in torch (no .item(), "
        ".detach() or numpy inside the loss)",
    )
    # numerically stable for large scores: log(sigmoid(x)) underflows to log(0) = -inf
    big = [100 * t for t in (centre, context, negatives)]
    expect_close(
        call(loss_fn, *big, case="scores of size 1000"),
        negative_sampling_loss(*big),
        what="loss",
        case="inputs scaled by 100 (scores near +-1000)",
        rtol=1e-4,
        atol=1e-3,
    )


@lab_check("check_nearest_neighbours")
def check_nearest_neighbours(nn_fn: Callable) -> None:
    """``nearest_neighbours(query[d], matrix[V, d], k)`` -> indices of the k most cosine-similar rows."""
    gen = torch.Generator().manual_seed(3)
    # Rows of very different lengths, so ranking by dot product differs from ranking by cosine.
    matrix = torch.randn(12, 5, generator=gen) * torch.linspace(0.2, 5.0, 12)[:, None]
    query = torch.randn(5, generator=gen)
    for k in (1, 4, 12):
        case = f"query (5,), matrix (12, 5), k={k}"
        got = call(nn_fn, query, matrix, k, case=case)
        if isinstance(got, torch.Tensor) and got.is_floating_point() and not torch.equal(got, got.round()):
            raise CheckFailed(
                f"your result for {case} holds similarities ({describe(got)}), not row indices: topk returns "
                "(values, indices); return .indices"
            )
        if not isinstance(got, torch.Tensor):
            try:
                got = torch.as_tensor(got, dtype=torch.long)
            except (TypeError, ValueError):
                raise CheckFailed(
                    f"return the indices as a tensor or list of ints for {case}, got {got!r}"
                ) from None
        got = got.long().flatten()
        expected = nearest_neighbours(query, matrix, k)
        dots = matrix @ query
        mistakes = {
            NOT_NORMALISED: dots.topk(k).indices,
            "the right rows, worst first: best first please (descending similarity)": expected.flip(0),
            "the k LEAST similar rows: sort in descending order (topk, or argsort(descending=True))": (
                F.normalize(matrix, dim=1) @ F.normalize(query, dim=0)
            ).argsort()[:k],
            "each column normalised (F.normalize(matrix, dim=0)) instead of each row: normalise every word "
            "vector, dim=1": (F.normalize(matrix, dim=0) @ F.normalize(query, dim=0)).topk(k).indices,
            "the first result dropped (k + 1 results, then [1:]): the query is not a row of this matrix, so "
            "keep the best match": nearest_neighbours(query, matrix, min(k + 1, len(matrix)))[1:]
            if k < len(matrix)
            else None,
            "the nearest rows by Euclidean distance, not by cosine similarity": (
                (matrix - query).norm(dim=1).argsort()[:k]
            ),
        }
        expect_close(got, expected, what="indices", case=case, mistakes=mistakes, atol=0, rtol=0)
    # a row equal to the query, scaled up, must come first (cosine ignores length)
    scaled = torch.cat([matrix, 0.01 * query[None]])  # index 12: tiny but perfectly aligned
    got = torch.as_tensor(call(nn_fn, query, scaled, 1, case="a short row parallel to the query")).long()
    expect_true(
        got.flatten().tolist() == [12],
        f"a short row pointing exactly along the query has cosine 1, so it is the nearest neighbour; "
        f"got {got.flatten().tolist()} (is your similarity a dot product? {NOT_NORMALISED})",
    )
