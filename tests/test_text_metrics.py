"""BLEU written out against sacrebleu, and the library wrappers."""

import random

import pytest

from mmlab.text_metrics import bleu, bleu_stats, chrf, exact_match_rate, rouge, sacre_bleu

WORDS = "le la les chat balle rouge rouges est sont sur sous table lit trois deux".split()


def test_bleu_equals_sacrebleu_on_random_corpora():
    rng = random.Random(0)
    for _ in range(20):
        refs = [" ".join(rng.choices(WORDS, k=rng.randint(4, 10))) for _ in range(rng.randint(1, 6))]
        hyps = [
            " ".join(r.split()[: rng.randint(2, 10)] + rng.choices(WORDS, k=rng.randint(0, 3))) for r in refs
        ]
        assert bleu(hyps, refs) == pytest.approx(sacre_bleu(hyps, refs), abs=1e-9)


def test_clipping_and_brevity():
    matches, totals, c, r = bleu_stats("le le le le", "le chat")
    assert matches[0] == 1 and totals[0] == 4 and (c, r) == (4, 2)
    short = bleu(["le chat est sur la"], ["le chat est sur la table"])
    assert short < 100 and bleu(["le chat est sur la table"], ["le chat est sur la table"]) == pytest.approx(
        100
    )
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        bleu(["a", "b"], ["a"])


def test_library_wrappers():
    assert chrf(["la balle rouge"], ["la balle rouge"]) == pytest.approx(100)
    assert chrf(["la balle bleue"], ["la balle bleu"]) > chrf(["le chat noir"], ["la balle bleu"])
    scores = rouge(["the cat and the dog are on the table"], ["the dog and the cat are on the table"])
    assert scores["rouge1"] == pytest.approx(100) and scores["rougeL"] < 100
    assert exact_match_rate(["a b", "c"], ["a b", "d"]) == 0.5
