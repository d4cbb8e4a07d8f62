"""Decoding a sequence from a model, one token at a time: greedy, sampling and beam search (chapter 13).

The functions work on a *decoding state*: anything with ``step(tokens (N, t)) -> logits (N, V)``
(run the new tokens, return the next-token logits of the last position, caches kept inside) and
``reorder(index (M,))`` (keep, repeat or permute rows, as beam search needs). Two states exist:
:class:`mmlab.models.seq2seq.Seq2SeqState` (an encoder-decoder) and :class:`GPTState` (a
decoder-only model reading a prompt).

Beam search keeps the ``k`` best partial sequences by their summed log-probability. Each step it
extends every beam by every token, takes the best ``2k`` candidates *across all beams*, moves those
that end with ``</s>`` (among the top ``k``) to the finished list, scored
``sum log p / length ** length_penalty``, and continues with the ``k`` best unfinished ones. It
stops when ``k`` hypotheses are finished and (``early_stopping=True``) at once, or (``False``)
when no running beam can beat the worst finished one. These are the rules of ``transformers``'
``generate(num_beams=k)``, and the tests check that both give the same sequences.
"""

from __future__ import annotations

from typing import Literal, Protocol

import torch

from mmlab.models.attention import KVCache
from mmlab.sampling import sample_next

__all__ = ["DecodingState", "GPTState", "Hypothesis", "beam_search", "generate"]


class DecodingState(Protocol):
    def step(self, tokens: torch.Tensor) -> torch.Tensor: ...

    def reorder(self, index: torch.Tensor) -> None: ...


class GPTState:
    """A decoder-only model (:class:`~mmlab.models.gpt.GPT`) continuing prompts ``(N, P)`` of equal
    length: all but the last prompt token are run once here (the prefill); the last one is the
    start token given to :func:`generate` or :func:`beam_search`."""

    def __init__(self, model: torch.nn.Module, prompt: torch.Tensor) -> None:
        self.model = model
        self.caches = [KVCache() for _ in range(model.config.n_layer)]
        if prompt.size(1) > 1:
            model(prompt[:, :-1], kv_caches=self.caches)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens, kv_caches=self.caches)[:, -1]  # (N, V)

    def reorder(self, index: torch.Tensor) -> None:
        for cache in self.caches:
            if cache.k is not None:
                cache.k, cache.v = cache.k.index_select(0, index), cache.v.index_select(0, index)


@torch.no_grad()
def generate(
    state: DecodingState,
    start: torch.Tensor,
    eos_id: int,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Greedy (``temperature=0``) or sampled decoding from start tokens ``(N,)``; returns each row's
    tokens up to (not including) ``</s>``."""
    tokens = start[:, None]  # (N, 1)
    out = [[] for _ in range(start.size(0))]
    finished = torch.zeros(start.size(0), dtype=torch.bool)
    for _ in range(max_new_tokens):
        logits = state.step(tokens)  # (N, V)
        tokens = sample_next(logits, temperature, top_k, top_p, generator)  # (N, 1)
        for i, token in enumerate(tokens[:, 0].tolist()):
            if not finished[i]:
                if token == eos_id:
                    finished[i] = True
                else:
                    out[i].append(token)
        if bool(finished.all()):
            break
    return out


class Hypothesis(tuple):
    """A finished beam: ``(score, tokens)`` with the score length-normalised."""

    @property
    def score(self) -> float:
        return self[0]

    @property
    def tokens(self) -> list[int]:
        return self[1]


@torch.no_grad()
def beam_search(
    state: DecodingState,
    start: torch.Tensor,
    eos_id: int,
    max_new_tokens: int,
    num_beams: int = 4,
    length_penalty: float = 1.0,
    early_stopping: bool | Literal["never"] = False,
) -> list[list[Hypothesis]]:
    """Beam search from start tokens ``(N,)``; the state is expanded to ``N * num_beams`` rows.

    Returns, per input row, the finished hypotheses best first (at most ``num_beams``); each holds
    the generated tokens with the final ``</s>`` removed. A hypothesis still running at
    ``max_new_tokens`` counts as finished there (as in ``transformers``).
    """
    N, k = start.size(0), num_beams
    state.reorder(torch.arange(N).repeat_interleave(k))
    sequences = start.repeat_interleave(k)[:, None]  # (N * k, 1): start token, then generated ones
    scores = torch.full((N, k), -1.0e9)
    scores[:, 0] = 0.0  # all beams start identical: only the first may expand at step 1
    finished: list[list[Hypothesis]] = [[] for _ in range(N)]
    done = [False] * N
    for step in range(max_new_tokens):
        logits = state.step(sequences[:, -1:])  # (N * k, V)
        V = logits.size(-1)
        log_probs = logits.float().log_softmax(-1).view(N, k, V) + scores[..., None]  # sum of log-probs
        top, index = log_probs.view(N, k * V).topk(2 * k, dim=-1)  # (N, 2k): best across all beams
        beam, token = index // V, index % V
        stops = (token == eos_id) | (step == max_new_tokens - 1)
        length = step + 1  # generated tokens, </s> included
        for n in range(N):
            if done[n]:
                continue
            for r in range(k):  # only the top k candidates may finish
                if stops[n, r]:
                    seq = sequences[n * k + beam[n, r], 1:].tolist()
                    if token[n, r] != eos_id:
                        seq.append(int(token[n, r]))
                    finished[n].append(Hypothesis((float(top[n, r]) / length**length_penalty, seq)))
            finished[n] = sorted(finished[n], key=lambda h: -h.score)[:k]
        running, pick = (top - 1.0e9 * stops.float()).topk(k, dim=-1)  # (N, k) best unfinished
        rows = (beam.gather(1, pick) + torch.arange(N)[:, None] * k).view(-1)  # (N * k,)
        sequences = torch.cat([sequences[rows], token.gather(1, pick).view(-1, 1)], dim=1)
        scores = running
        state.reorder(rows)
        for n in range(N):
            if done[n] or len(finished[n]) < k:
                continue
            if early_stopping is True:
                done[n] = True
                continue
            best_length = max_new_tokens if early_stopping == "never" and length_penalty > 0 else length
            best_possible = float(running[n, 0]) / best_length**length_penalty
            done[n] = best_possible <= finished[n][-1].score
        if all(done) or bool(stops.all()):
            break
    return finished
