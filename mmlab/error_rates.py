"""Word and character error rates by edit distance (chapter 14; its lab writes them).

The **edit distance** between a hypothesis and a reference is the fewest substitutions, deletions
and insertions that turn one into the other (Levenshtein), found by dynamic programming. The
**word error rate** divides the edits over a whole test set by the number of *reference* words:

    WER = (S + D + I) / N_reference

(dividing by the hypothesis length would reward saying less). It can exceed 1 when the hypothesis
inserts many words. The character error rate is the same over characters. The tests check both
against ``jiwer``, the library speech papers use.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["char_error_rate", "edit_distance", "word_error_rate"]


def edit_distance(hypothesis: Sequence, reference: Sequence) -> int:
    """Fewest substitutions, deletions and insertions turning ``hypothesis`` into ``reference``."""
    previous = list(range(len(reference) + 1))  # distances from the empty hypothesis
    for i, h in enumerate(hypothesis, start=1):
        current = [i]
        for j, r in enumerate(reference, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (h != r)))
        previous = current
    return previous[-1]


def _error_rate(pairs: list[tuple[Sequence, Sequence]]) -> float:
    total = sum(len(ref) for _, ref in pairs)
    if total == 0:
        raise ValueError("the references are empty: an error rate needs at least one reference word")
    return sum(edit_distance(hyp, ref) for hyp, ref in pairs) / total


def word_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Edits over all sentences / words in all references (words split on white space)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    return _error_rate([(h.split(), r.split()) for h, r in zip(hypotheses, references)])


def char_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Edits over all sentences / characters in all references (spaces count as characters)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    return _error_rate([(" ".join(h.split()), " ".join(r.split())) for h, r in zip(hypotheses, references)])
