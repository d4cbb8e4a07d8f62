"""Chapter 13's helpers: train a translator or a summariser (encoder-decoder or decoder-only) through
its recipe (:mod:`mmlab.recipes.seq2seq`, the ``translate`` and ``summarise`` jobs of
``python -m mmlab.train``), decode it, and score it.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mmlab.data.translation import Pair, TranslationVocab, named_objects
from mmlab.decoding import GPTState, beam_search, generate
from mmlab.device import get_device, seed_everything
from mmlab.models.gpt import GPT
from mmlab.models.seq2seq import Seq2Seq
from mmlab.recipes.registry import build_job
from mmlab.text_metrics import bleu, chrf, exact_match_rate
from mmlab.train.trainer import Trainer

__all__ = [
    "alignment_rate",
    "evaluate_translation",
    "objects_right",
    "output_log_probs",
    "summary_baselines",
    "timed",
    "train_model",
    "translate",
    "translate_decoder_only",
]


@torch.no_grad()
def translate(
    model: Seq2Seq,
    vocab: TranslationVocab,
    sources: Sequence[str],
    num_beams: int = 1,
    max_new_tokens: int = 20,
    length_penalty: float = 1.0,
    use_mask: bool = True,
) -> list[str]:
    """Translate a batch of sentences: greedy when ``num_beams == 1``, else beam search.
    ``use_mask=False`` lets cross-attention (and the encoder) see the source padding: the failure
    shown in the chapter."""
    model.eval()
    src = vocab.pad_batch(list(sources))
    mask = model.source_mask(src) if use_mask else torch.ones_like(src, dtype=torch.bool)
    state = model.start(src, mask)
    start = torch.full((len(sources),), vocab.bos_id)
    if num_beams == 1:
        return [vocab.decode(t) for t in generate(state, start, vocab.eos_id, max_new_tokens)]
    hyps = beam_search(state, start, vocab.eos_id, max_new_tokens, num_beams, length_penalty)
    return [vocab.decode(h[0].tokens) for h in hyps]


@torch.no_grad()
def translate_decoder_only(
    model: GPT, vocab: TranslationVocab, sources: Sequence[str], max_new_tokens: int = 20
) -> list[str]:
    """Greedy translation by a decoder-only model reading ``source <sep>``; sentences of equal length
    share a batch (a GPT without a padding mask cannot batch prompts of different lengths)."""
    model.eval()
    out: list[str] = [""] * len(sources)
    by_length: dict[int, list[int]] = {}
    for i, s in enumerate(sources):
        by_length.setdefault(len(s.split()), []).append(i)
    for rows in by_length.values():
        prompt = torch.tensor([vocab.encode(sources[i]) + [vocab.sep_id] for i in rows])  # (n, P)
        tokens = generate(GPTState(model, prompt), prompt[:, -1], vocab.eos_id, max_new_tokens)
        for i, t in zip(rows, tokens):
            out[i] = vocab.decode(t)
    return out


def evaluate_translation(hypotheses: Sequence[str], pairs: Sequence[Pair]) -> dict[str, float]:
    """BLEU, chrF and exact match of ``hypotheses`` against the pairs' targets."""
    refs = [p.target for p in pairs]
    return {
        "bleu": bleu(hypotheses, refs),
        "chrf": chrf(hypotheses, refs),
        "exact": exact_match_rate(hypotheses, refs),
    }


@torch.no_grad()
def alignment_rate(model: Seq2Seq, vocab: TranslationVocab, pairs: Sequence[Pair]) -> list[float]:
    """Per decoder layer: how often the source position with the largest cross-attention (mean over
    heads) is the source word aligned with the target word being predicted (nouns, colours, sizes)."""
    model.eval()
    src = vocab.pad_batch([p.source for p in pairs])
    tgt = vocab.pad_batch([p.target for p in pairs], eos=True)
    tgt_in = torch.cat([torch.full_like(tgt[:, :1], vocab.bos_id), tgt[:, :-1]], dim=1)
    maps = model.cross_attention(src, tgt_in)  # per layer (B, nh, T, S)
    rates = []
    for layer_map in maps:
        strongest = layer_map.mean(1).argmax(-1)  # (B, T): query t predicts target word t
        hits = [int(strongest[b, t]) == s for b, p in enumerate(pairs) for t, s in p.alignment]
        rates.append(sum(hits) / len(hits))
    return rates


@torch.no_grad()
def output_log_probs(
    model: Seq2Seq,
    vocab: TranslationVocab,
    sources: Sequence[str],
    outputs: Sequence[str],
    length_penalty: float = 0.0,
) -> list[float]:
    """The model's log-probability of each output (``</s>`` included) divided by ``length ** length_penalty``:
    with the same penalty, the score beam search maximises."""
    model.eval()
    src = vocab.pad_batch(list(sources))
    tgt = vocab.pad_batch(list(outputs), eos=True)
    tgt_in = torch.cat([torch.full_like(tgt[:, :1], vocab.bos_id), tgt[:, :-1]], dim=1)
    log_probs = model(src, tgt_in).log_softmax(-1).gather(-1, tgt[..., None])[..., 0]  # (B, T)
    real = tgt != vocab.pad_id
    return ((log_probs * real).sum(-1) / real.sum(-1) ** length_penalty).tolist()


def summary_baselines(pairs: Sequence[Pair], seed: int = 0) -> dict[str, list[str]]:
    """Three summaries that read no meaning: the paragraph's first sentence ("lead sentence"), as many
    random words of the paragraph (in paragraph order) as the reference has ("random words"), and the
    reference's form filled with the first two objects of the paragraph ("first two objects": right
    whenever the table's objects happen to come first)."""
    rng = random.Random(seed)
    out: dict[str, list[str]] = {"lead sentence": [], "random words": [], "first two objects": []}
    for p in pairs:
        words = p.source.split()
        out["lead sentence"].append(" ".join(words[: words.index(".")]) if "." in words else p.source)
        n = len(p.target.split())
        out["random words"].append(" ".join(words[i] for i in sorted(rng.sample(range(len(words)), n))))
        first, second = named_objects(p.source)[:2]
        out["first two objects"].append(f"the {first} and the {second} are on the table")
    return out


def objects_right(summaries: Sequence[str], pairs: Sequence[Pair]) -> float:
    """Fraction of summaries naming exactly the reference's objects, in its order: the content that
    ROUGE's word overlap cannot see (a fixed sentence of the right form scores high ROUGE)."""
    return sum(named_objects(h) == named_objects(p.target) for h, p in zip(summaries, pairs)) / len(pairs)


def train_model(
    job: str, scale: str = "cpu", seed: int = 0, **overrides: Any
) -> tuple[nn.Module, Any, float]:
    """Train ``job`` ("translate" or "summarise") at ``scale`` from ``seed`` on the best device;
    returns the model (in eval mode), the training history and the seconds it took."""
    seed_everything(seed)
    built = build_job(job, scale, overrides)
    config = dataclasses.replace(built.config, device=str(get_device()))
    trainer = Trainer(built.model, built.loss_fn, built.train_loader, None, config)
    start = time.perf_counter()
    history = trainer.fit()
    seconds = time.perf_counter() - start
    return built.model.cpu().eval(), history, seconds


def timed(fn, *args, repeats: int = 3, **kwargs) -> tuple[Any, float]:
    """``fn(*args, **kwargs)`` and its best wall time over ``repeats`` runs, in seconds."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return result, best
