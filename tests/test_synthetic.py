"""Generated algorithmic tasks and the character tokenizer."""

import pytest
import torch

from mmlab.data.synthetic import IGNORE, LetterTokenizer, make_task, task_targets


def test_char_tokenizer_round_trip_and_unknown_characters():
    tok = LetterTokenizer("abc")
    assert tok.encode("cab") == [3, 1, 2] and tok.decode([3, 1, 2, 0]) == "cab"
    assert tok.vocab_size == 4 and tok.tokenize("ab") == ["a", "b"]
    with pytest.raises(ValueError, match="'!' not in the alphabet"):
        tok.encode("a!")


@pytest.mark.parametrize("task", ["sort", "reverse"])
def test_targets_match_python(task):
    data = make_task(task, 200, vocab_size=9, min_len=1, max_len=7, seed=3)
    assert data.ids.shape == data.targets.shape == (200, 7)
    for ids, keep, targets in zip(data.ids, data.attention_mask, data.targets):
        n = int(keep.sum())
        real = ids[:n].tolist()
        expected = sorted(real) if task == "sort" else real[::-1]
        assert targets[:n].tolist() == expected
        assert (targets[n:] == IGNORE).all() and (ids[n:] == 0).all() and 0 not in real


def test_same_seed_same_data_and_errors():
    a, b = make_task("sort", 10, 5, seed=1), make_task("sort", 10, 5, seed=1)
    assert torch.equal(a.ids, b.ids) and len(a) == 10
    with pytest.raises(ValueError, match="min_len"):
        make_task("sort", 10, 5, min_len=5, max_len=3)
    with pytest.raises(ValueError, match="unknown task"):
        task_targets(a.ids, a.attention_mask.sum(1), "copy")
