"""The generated preference pairs: never tied, readable rule, held-out prompts unseen."""

import pytest

from mmlab.data.chat import extract_answer, politeness_score
from mmlab.data.preferences import ground_truth_reward, make_preferences


def test_pairs_are_never_tied_and_follow_the_rule():
    prefs = make_preferences(n_train=500, n_held_out=100)
    assert len(prefs["train"]) == 500 and len(prefs["held_out"]) == 100
    for pair in prefs["train"] + prefs["held_out"]:
        assert pair.score_chosen > pair.score_rejected
        assert ground_truth_reward(pair.chosen) == politeness_score(pair.chosen)
        assert extract_answer(pair.chosen) == extract_answer(pair.rejected) == pair.instruction.answer


def test_held_out_prompts_are_unseen_and_generation_is_seeded():
    prefs = make_preferences(n_train=500, n_held_out=100)
    assert not {p.prompt for p in prefs["train"]} & {p.prompt for p in prefs["held_out"]}
    assert make_preferences(n_train=500, n_held_out=100) == prefs
    assert make_preferences(n_train=500, n_held_out=100, seed=1) != prefs


def test_label_noise_swaps_training_labels_only():
    clean = make_preferences(n_train=1000, n_held_out=100)
    noisy = make_preferences(n_train=1000, n_held_out=100, label_noise=0.3)
    assert noisy["held_out"] == clean["held_out"]  # held-out labels stay right
    swapped = 0
    for a, b in zip(clean["train"], noisy["train"]):  # the same pairs, some with the labels swapped
        assert a.instruction == b.instruction and {a.chosen, a.rejected} == {b.chosen, b.rejected}
        swapped += a.chosen != b.chosen
    assert 0.25 < swapped / 1000 < 0.35
    with pytest.raises(ValueError, match="label_noise"):
        make_preferences(label_noise=0.5)
