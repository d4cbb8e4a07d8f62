"""A character n-gram language model with interpolated Kneser-Ney smoothing (chapter 06's baseline).

Counting is the language model a GPT has to beat: the probability of the next character given
the previous ``n - 1``, read off the training text. Raw counts give probability 0 to anything not
seen, so they are *smoothed*. Kneser-Ney (Chen & Goodman, 1998) subtracts a discount ``D`` from
every seen count and gives the freed mass to the next-shorter context, whose counts are
*continuation* counts (in how many different contexts a string occurs, not how often):

    P(w | h) = max(c(h w) - D, 0) / c(h .)  +  D * N1+(h .) / c(h .) * P(w | h[1:])

down to a unigram level interpolated with the uniform distribution, so every character of the
vocabulary keeps some probability. ``D`` per order is Ney's estimate ``n1 / (n1 + 2 n2)`` from the
numbers of n-grams seen once and twice. Not an ``nn.Module``: it is counts, not parameters.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["CharNGram", "NGramConfig"]


@dataclass
class NGramConfig:
    order: int = 5  # n: the next character is predicted from the previous n - 1


class CharNGram:
    """Interpolated Kneser-Ney character n-gram model over a fixed vocabulary of characters."""

    def __init__(self, config: NGramConfig, vocab: Iterable[str]) -> None:
        if config.order < 1:
            raise ValueError(f"order must be at least 1, got {config.order}")
        self.config = config
        self.vocab = sorted(set(vocab))
        # per context length k = 0 .. n-1: counts of (context + char), the context's total and its
        # number of distinct next characters
        self.counts: list[Counter[str]] = []
        self.context_total: list[Counter[str]] = []
        self.context_types: list[Counter[str]] = []
        self.discounts: list[float] = []

    def fit(self, text: str) -> CharNGram:
        """Count every n-gram of ``text`` (raw counts at the top order, continuation counts below)."""
        n = self.config.order
        unknown = set(text) - set(self.vocab)
        if unknown:
            raise ValueError(f"text has characters outside the vocabulary: {sorted(unknown)[:10]}")
        raw = Counter(text[i : i + n] for i in range(len(text) - n + 1))
        levels: list[Counter[str]] = [raw]
        for _ in range(n - 1):  # continuation count of g: how many distinct characters precede g
            levels.append(Counter(gram[1:] for gram in levels[-1]))
        self.counts = levels[::-1]  # index k: grams of length k + 1 (context length k)
        self.context_total, self.context_types, self.discounts = [], [], []
        for grams in self.counts:
            total, types = Counter(), Counter()
            for gram, count in grams.items():
                total[gram[:-1]] += count
                types[gram[:-1]] += 1
            n1 = sum(1 for c in grams.values() if c == 1)
            n2 = sum(1 for c in grams.values() if c == 2)
            self.context_total.append(total)
            self.context_types.append(types)
            self.discounts.append(n1 / (n1 + 2 * n2) if n1 + n2 else 0.5)
        return self

    def prob(self, context: str, char: str) -> float:
        """P(char | the last n - 1 characters of context)."""
        if not self.counts:
            raise RuntimeError("call fit(text) first")
        k_max = min(len(context), self.config.order - 1)
        p = 1.0 / len(self.vocab)  # below the unigram: uniform over the vocabulary
        for k in range(0, k_max + 1):  # from the unigram up to the longest context
            h = context[len(context) - k :] if k else ""
            total = self.context_total[k][h]
            if total == 0:  # unseen context: it passes the shorter context's estimate through
                continue
            d = self.discounts[k]
            seen = max(self.counts[k][h + char] - d, 0.0)
            p = seen / total + d * self.context_types[k][h] / total * p
        return p

    def bits_per_char(self, text: str) -> float:
        """Mean -log2 P(char | previous characters of ``text``) over every character of ``text``."""
        n = self.config.order
        total = 0.0
        for i, char in enumerate(text):
            total -= math.log2(self.prob(text[max(0, i - n + 1) : i], char))
        return total / len(text)
