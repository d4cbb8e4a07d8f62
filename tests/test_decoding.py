"""Greedy, sampling and beam search on a toy model whose distributions are known exactly."""

import itertools
import math

import torch

from mmlab.decoding import beam_search, generate

V, EOS = 4, 0  # a tiny vocabulary: token 0 ends the sequence


class TableState:
    """Next-token log-probabilities that depend on the whole prefix, through a fixed random table."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.seed, self.prefixes = seed, [[] for _ in range(n)]

    def logits(self, prefix: list[int]) -> torch.Tensor:
        g = torch.Generator().manual_seed(hash((self.seed, *prefix)) % 2**31)
        return torch.randn(V, generator=g) * 2.0

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        for row, new in zip(self.prefixes, tokens.tolist()):
            row.extend(new)
        return torch.stack([self.logits(p) for p in self.prefixes])

    def reorder(self, index: torch.Tensor) -> None:
        self.prefixes = [list(self.prefixes[i]) for i in index.tolist()]


def brute_force(seed: int, max_new: int, length_penalty: float) -> tuple[float, list[int]]:
    """The best complete sequence by sum log p / length ** penalty over every sequence."""
    table = TableState(1, seed)
    best = (-math.inf, [])
    for n in range(1, max_new + 1):
        for body in itertools.product(range(1, V), repeat=n - 1):
            for last in range(V):
                seq = [*body, last]
                if n < max_new and last != EOS:
                    continue  # unfinished and not cut at max_new: not a candidate
                logp = sum(table.logits([99, *seq[:i]]).log_softmax(-1)[t].item() for i, t in enumerate(seq))
                score = logp / n**length_penalty
                best = max(best, (score, seq[:-1] if last == EOS else seq))
    return best


def test_wide_beam_finds_the_brute_force_optimum():
    for seed, penalty in ((0, 1.0), (1, 0.0), (2, 1.0), (3, 2.0)):
        score, tokens = brute_force(seed, 4, penalty)
        hyps = beam_search(TableState(1, seed), torch.tensor([99]), EOS, 4, 64, penalty, "never")
        assert hyps[0][0].tokens == tokens and abs(hyps[0][0].score - score) < 1e-5, seed


def test_one_beam_is_greedy_and_a_narrow_beam_can_miss_the_optimum():
    misses = 0
    for seed in range(20):
        greedy = generate(TableState(1, seed), torch.tensor([99]), EOS, 4)
        assert beam_search(TableState(1, seed), torch.tensor([99]), EOS, 4, 1, 0.0)[0][0].tokens == greedy[0]
        misses += brute_force(seed, 4, 0.0)[1] != greedy[0]
    assert misses > 0  # greedy is not optimal on this table: the test above is not trivial


def test_sampling_is_reproducible_and_varies():
    draws = {
        tuple(
            generate(
                TableState(1), torch.tensor([99]), EOS, 5, 1.0, generator=torch.Generator().manual_seed(s)
            )[0]
        )
        for s in range(20)
    }
    again = generate(
        TableState(1), torch.tensor([99]), EOS, 5, 1.0, generator=torch.Generator().manual_seed(3)
    )
    assert len(draws) > 3
    assert again == generate(
        TableState(1), torch.tensor([99]), EOS, 5, 1.0, generator=torch.Generator().manual_seed(3)
    )
