"""Turning next-token logits into a choice: temperature, top-k and top-p (nucleus) filtering (chapters 06-08).

All filters take logits ``(B, V)`` and return logits of the same shape with the removed entries set
to ``-inf``, so they compose (temperature, then top-k, then top-p) and the final softmax gives
exactly zero probability to what was removed.
"""

from __future__ import annotations

import torch

__all__ = ["apply_temperature", "sample_next", "top_k_filter", "top_p_filter", "validate_sampling"]


def validate_sampling(temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> None:
    """Raise ``ValueError`` with a readable message on settings that make no sense."""
    if not isinstance(temperature, (int, float)) or temperature != temperature or temperature < 0:
        raise ValueError(f"temperature must be a number >= 0 (0 means greedy), got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise ValueError(f"top_k must be a whole number >= 1 (or None for no top-k), got {top_k!r}")
    if top_p is not None and (not isinstance(top_p, (int, float)) or not 0.0 < top_p <= 1.0):
        raise ValueError(f"top_p must be in (0, 1] (or None for no top-p), got {top_p!r}")


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide the logits by ``temperature`` (> 0): below 1 sharpens the distribution, above 1 flattens it."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 here (use greedy decoding for 0), got {temperature}")
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row ``(B, V)``; set the rest to ``-inf``.

    Ties with the k-th value are kept (as in ``transformers``' ``TopKLogitsWarper``), so a row may
    keep more than ``k`` entries when several share the k-th largest logit.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = min(k, logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1), the smallest value kept
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probability reaches ``p``.

    The token whose probability makes the running sum cross ``p`` is kept (otherwise the kept mass
    would fall short of ``p``), and the most likely token is always kept.
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {p}")
    probs = logits.softmax(dim=-1)  # on probabilities, never on raw logits
    sorted_probs, order = probs.sort(dim=-1, descending=True)  # (B, V)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the strictly more likely tokens
    # A token is dropped once the tokens before it already reach p; the crossing token has
    # mass_before < p and stays. p = 1 keeps everything (mass_before is < 1 up to rounding).
    drop_sorted = mass_before >= p
    drop_sorted[..., 0] = False
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Choose the next token of each row from logits ``(B, V)``; returns ``(B, 1)`` token ids.

    ``temperature == 0`` is greedy decoding (argmax); otherwise temperature, top-k and top-p are
    applied in that order and a token is drawn from the softmax of what remains.
    """
    validate_sampling(temperature, top_k, top_p)
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = apply_temperature(logits.float(), temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None and top_p < 1.0:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1)  # multinomial wants probabilities, not logits
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
