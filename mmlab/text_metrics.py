"""Scoring generated text against references (chapter 13): BLEU written out, and the standard
libraries' BLEU, chrF (``sacrebleu``) and ROUGE (``rouge-score``).

**BLEU** (Papineni et al. 2002) over a corpus: for n = 1..4, the *clipped* n-gram precision
``p_n = sum min(count_hyp(g), count_ref(g)) / sum count_hyp(g)`` (a hypothesis n-gram is credited
at most as often as the reference has it, so "the the the" earns no more than one "the"), their
geometric mean, times the **brevity penalty** ``BP = 1 if c > r else exp(1 - r / c)`` (c, r: total
hypothesis and reference lengths), which punishes outputs shorter than the references and never
rewards long ones. Reported on a 0-100 scale, as ``sacrebleu`` does.

**chrF** is an F-score over character n-grams (robust to word forms); **ROUGE-n / ROUGE-L** are
recall-oriented n-gram / longest-common-subsequence F-scores used for summaries.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

__all__ = ["bleu", "bleu_stats", "chrf", "exact_match_rate", "ngrams", "rouge", "sacre_bleu"]


def ngrams(words: Sequence[str], n: int) -> Counter:
    """The multiset of n-grams (tuples) of a word list."""
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def bleu_stats(hypothesis: str, reference: str, max_n: int = 4) -> tuple[list[int], list[int], int, int]:
    """Clipped n-gram matches and totals (n = 1..max_n) and the two lengths, for one sentence pair."""
    hyp, ref = hypothesis.split(), reference.split()
    matches, totals = [], []
    for n in range(1, max_n + 1):
        h, r = ngrams(hyp, n), ngrams(ref, n)
        matches.append(sum(min(count, r[g]) for g, count in h.items()))  # clipped
        totals.append(max(len(hyp) - n + 1, 0))
    return matches, totals, len(hyp), len(ref)


def bleu(hypotheses: Sequence[str], references: Sequence[str], max_n: int = 4) -> float:
    """Corpus BLEU (0-100) with one reference per hypothesis, words split on spaces; equal to
    ``sacrebleu``'s with ``tokenize="none", smooth_method="none"``."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    matches, totals, c, r = [0] * max_n, [0] * max_n, 0, 0
    for hyp, ref in zip(hypotheses, references):
        m, t, hl, rl = bleu_stats(hyp, ref, max_n)
        matches = [a + b for a, b in zip(matches, m)]
        totals = [a + b for a, b in zip(totals, t)]
        c, r = c + hl, r + rl
    if c == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if c > r else math.exp(1 - r / c)
    return 100 * brevity * math.exp(log_precision)


def sacre_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """``sacrebleu``'s corpus BLEU on space-separated words, unsmoothed as in the original definition
    (sacrebleu's default "exp" smoothing differs only when some n-gram order has no match at all)."""
    import sacrebleu

    return sacrebleu.corpus_bleu(
        list(hypotheses), [list(references)], tokenize="none", smooth_method="none"
    ).score


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """``sacrebleu``'s corpus chrF (character 6-grams, beta 2), 0-100."""
    import sacrebleu

    return sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score


def rouge(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F-scores (0-100) from ``rouge-score``."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    totals = Counter()
    for hyp, ref in zip(hypotheses, references):
        for name, score in scorer.score(ref, hyp).items():
            totals[name] += score.fmeasure
    return {name: 100 * value / max(len(hypotheses), 1) for name, value in totals.items()}


def exact_match_rate(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Fraction of hypotheses identical to their reference (after stripping spaces)."""
    pairs = list(zip(hypotheses, references))
    return sum(h.strip() == r.strip() for h, r in pairs) / max(len(pairs), 1)
