"""Connectionist temporal classification (CTC, Graves et al. 2006) written out: the forward
algorithm behind ``F.ctc_loss``, greedy and prefix-beam decoding, and the character vocabulary
(chapter 14; its lab writes the greedy decoder).

A recogniser outputs one distribution per audio frame over the characters plus a **blank**
(nothing new here). An **alignment** is one symbol per frame; it reads as text by first merging
repeated symbols and then dropping blanks, so "hh_e_ll_llo" reads "hello" (the blank between the
two l's keeps them apart). CTC's likelihood of a transcript is the sum over every alignment that
reads as it, computed by dynamic programming over the transcript with blanks between letters.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch

__all__ = ["BLANK", "CharVocab", "ctc_forward", "ctc_nll", "greedy_decode", "prefix_beam_search"]

BLANK = 0


class CharVocab:
    """Lower-case letters, space and apostrophe; id 0 is the CTC blank."""

    def __init__(self, chars: str = " abcdefghijklmnopqrstuvwxyz'") -> None:
        self.itos = ["_", *chars]  # "_" stands for the blank
        self.stoi = {c: i for i, c in enumerate(self.itos) if i != BLANK}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        unknown = sorted({c for c in text.lower() if c not in self.stoi})
        if unknown:
            raise ValueError(f"characters {unknown} are not in the vocabulary")
        return [self.stoi[c] for c in text.lower()]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.itos[i] for i in ids if i != BLANK)


def ctc_forward(log_probs: torch.Tensor, target: torch.Tensor, blank: int = BLANK) -> torch.Tensor:
    """The forward variables of one utterance: ``log_probs`` (T, V) log-softmax outputs, ``target``
    (S,) ids without blanks -> alpha (T, 2S + 1) in log space.

    The extended target puts a blank before, between and after the letters: ``l' = _ y1 _ y2 .. yS _``.
    ``alpha[t, s]`` is the log probability of all alignments of the first ``t + 1`` frames that end
    in ``l'[s]``. A path stays on its symbol, moves on by one, or skips the blank in between, which
    is only allowed between two different letters (a blank must separate a double letter):

        alpha[t, s] = log_probs[t, l'[s]] + logsumexp(alpha[t-1, s], alpha[t-1, s-1], alpha[t-1, s-2]).
    """
    T, S = log_probs.size(0), target.numel()
    ext = torch.full((2 * S + 1,), blank, dtype=torch.long, device=log_probs.device)
    ext[1::2] = target
    can_skip = torch.zeros(2 * S + 1, dtype=torch.bool, device=log_probs.device)
    can_skip[3::2] = target[1:] != target[:-1]  # letter s may follow letter s-1 with no blank between
    alpha = torch.full((2 * S + 1,), -math.inf, dtype=log_probs.dtype, device=log_probs.device)
    alpha[0] = log_probs[0, blank]
    if S:
        alpha[1] = log_probs[0, ext[1]]
    rows = [alpha]
    for t in range(1, T):
        stay, step, skip = alpha, _shift(alpha, 1), _shift(alpha, 2).masked_fill(~can_skip, -math.inf)
        alpha = _logsumexp(torch.stack([stay, step, skip])) + log_probs[t, ext]
        rows.append(alpha)
    return torch.stack(rows)  # (T, 2S + 1)


def _shift(alpha: torch.Tensor, k: int) -> torch.Tensor:
    """``alpha`` moved ``k`` places right, -inf coming in: entry s holds alpha[s - k]."""
    return torch.cat([alpha.new_full((k,), -math.inf), alpha])[: alpha.numel()]


def _logsumexp(x: torch.Tensor) -> torch.Tensor:
    """logsumexp over dim 0, with a zero (not NaN) gradient where every term is -inf (unreachable)."""
    dead = torch.isneginf(x).all(0)
    out = torch.logsumexp(x.masked_fill(dead, 0.0), dim=0)
    return out.masked_fill(dead, -math.inf)


def ctc_nll(log_probs: torch.Tensor, target: torch.Tensor, blank: int = BLANK) -> torch.Tensor:
    """-log p(target | audio): a complete alignment ends on the last letter or the blank after it."""
    alpha = ctc_forward(log_probs, target, blank)
    ends = alpha[-1, -2:] if target.numel() else alpha[-1, -1:]
    return -torch.logsumexp(ends, dim=0)


def greedy_decode(log_probs: torch.Tensor, blank: int = BLANK) -> list[int]:
    """The best symbol per frame (T, V) -> merge repeats, then drop blanks (in that order)."""
    best = log_probs.argmax(-1).tolist()
    merged = [s for i, s in enumerate(best) if i == 0 or s != best[i - 1]]
    return [s for s in merged if s != blank]


def prefix_beam_search(
    log_probs: torch.Tensor, beam: int = 8, blank: int = BLANK, prune: float = -8.0
) -> list[int]:
    """The most likely transcript, summing over alignments (greedy keeps one alignment only).

    Each prefix keeps two log probabilities: of its alignments ending in a blank and in its last
    letter. Repeating the last letter extends the prefix only after a blank. Symbols with a frame
    log probability below ``prune`` are skipped (they cannot matter and cost time).
    """
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # prefix: (blank, letter)
    for frame in log_probs.tolist():
        candidates = [s for s, lp in enumerate(frame) if lp > prune] or [
            max(range(len(frame)), key=frame.__getitem__)
        ]
        grown: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (p_blank, p_letter) in beams.items():
            p_total = _logaddexp(p_blank, p_letter)
            for s in candidates:
                p = frame[s]
                if s == blank:
                    entry = grown[prefix]
                    entry[0] = _logaddexp(entry[0], p_total + p)
                elif prefix and s == prefix[-1]:
                    same = grown[prefix]  # "ll" with no blank between is still one l
                    same[1] = _logaddexp(same[1], p_letter + p)
                    longer = grown[prefix + (s,)]  # a second l needs a blank first
                    longer[1] = _logaddexp(longer[1], p_blank + p)
                else:
                    longer = grown[prefix + (s,)]
                    longer[1] = _logaddexp(longer[1], p_total + p)
        best = sorted(grown.items(), key=lambda kv: _logaddexp(*kv[1]), reverse=True)[:beam]
        beams = {prefix: (pb, pl) for prefix, (pb, pl) in best}
    return list(max(beams.items(), key=lambda kv: _logaddexp(*kv[1]))[0])


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))
