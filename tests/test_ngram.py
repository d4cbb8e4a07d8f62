"""The Kneser-Ney character n-gram (chapter 06's baseline) against the formula computed directly."""

import math

import pytest

from mmlab.models.ngram import CharNGram, NGramConfig

TEXT = "the cat sat on the mat; the hat is flat. that cat ate the rat."
VOCAB = sorted(set(TEXT) | {"z"})  # "z" never occurs in training


def reference_prob(text: str, vocab: list[str], order: int, context: str, char: str) -> float:
    """Interpolated Kneser-Ney written from the definition, scanning the text for every count."""
    grams = {k: [text[i : i + k] for i in range(len(text) - k + 1)] for k in range(1, order + 1)}

    def count(gram: str) -> int:  # raw count at the top order, continuation count below
        if len(gram) == order:
            return grams[order].count(gram)
        return len({g[0] for g in set(grams[len(gram) + 1]) if g[1:] == gram})

    def discount(k: int) -> float:
        values = [count(g) for g in set(grams[k])]
        n1, n2 = values.count(1), values.count(2)
        return n1 / (n1 + 2 * n2)

    p = 1 / len(vocab)
    for k in range(0, min(len(context), order - 1) + 1):
        h = context[len(context) - k :] if k else ""
        followers = {g[-1]: count(g) for g in set(grams[k + 1]) if g[:-1] == h}
        total = sum(followers.values())
        if total == 0:
            continue
        d = discount(k + 1)
        p = max(followers.get(char, 0) - d, 0) / total + d * len(followers) / total * p
    return p


@pytest.mark.parametrize("order", [1, 2, 3])
def test_matches_the_formula_and_sums_to_one(order):
    model = CharNGram(NGramConfig(order=order), VOCAB).fit(TEXT)
    for context in ["", "t", "th", "the c", "zz", "q a"]:
        probs = [model.prob(context, c) for c in VOCAB]
        assert math.isclose(sum(probs), 1.0, abs_tol=1e-12)
        assert min(probs) > 0  # smoothing: even the unseen "z" keeps some mass
        for char in ["t", "a", " ", "z"]:
            assert math.isclose(model.prob(context, char), reference_prob(TEXT, VOCAB, order, context, char))


def test_bits_per_char_and_errors():
    model = CharNGram(NGramConfig(order=3), VOCAB).fit(TEXT)
    seen, shuffled = model.bits_per_char("the cat sat"), model.bits_per_char("tcs aet ath")
    assert seen < shuffled < math.log2(len(VOCAB)) + 3
    with pytest.raises(ValueError, match="outside the vocabulary"):
        CharNGram(NGramConfig(order=2), "ab").fit("abc")
    with pytest.raises(RuntimeError, match="fit"):
        CharNGram(NGramConfig(order=2), "ab").prob("a", "b")
