"""mmlab.experiments: seeds repeated, claims decided by margin over the spread."""

import pytest
import torch

from mmlab.experiments import assert_beats, comparison_table, repeat


def test_repeat_collects_one_row_per_seed_and_reseeds():
    result = repeat(lambda seed: {"x": torch.rand(()).item(), "seed": seed}, seeds=(3, 4, 3), label="r")
    assert result.values("seed") == [3.0, 4.0, 3.0]
    xs = result.values("x")
    assert xs[0] == xs[2] and xs[0] != xs[1]  # reseeded before each call
    assert result.spread("seed") == 1.0


def test_assert_beats_passes_with_margin_and_fails_within_noise():
    good = repeat(lambda s: {"acc": 0.9 + 0.01 * s}, label="good")
    bad = repeat(lambda s: {"acc": 0.5}, label="bad")
    assert assert_beats(good, bad, "acc", min_margin=0.3) == pytest.approx(0.41)
    noisy = repeat(lambda s: {"acc": [0.4, 0.95, 0.5][s]}, label="noisy")
    with pytest.raises(AssertionError, match="margin"):
        assert_beats(noisy, bad, "acc")
    with pytest.raises(AssertionError, match="needed more than 0.5"):
        assert_beats(good, bad, "acc", min_margin=0.5)


def test_lower_is_better_and_errors():
    low = repeat(lambda s: {"loss": 1.0}, label="low")
    high = repeat(lambda s: {"loss": 2.0}, label="high")
    assert assert_beats(low, high, "loss", higher_is_better=False) == pytest.approx(1.0)
    with pytest.raises(KeyError, match="no metric 'acc'"):
        low.mean("acc")
    with pytest.raises(ValueError, match="non-finite"):
        repeat(lambda s: {"loss": float("nan")})
    with pytest.raises(ValueError, match="returned metrics"):
        repeat(lambda s: {"a": 1.0} if s == 0 else {"b": 1.0})


def test_comparison_table_is_markdown():
    table = comparison_table([repeat(lambda s: {"acc": 0.5}, label="base")], ["acc"])
    assert table.splitlines()[2] == "| base | 3 | 0.500 ± 0.000 (0.500-0.500) |"


def test_select_compares_two_metrics_of_the_same_runs():
    runs = repeat(lambda seed: {"seen": 0.9 + 0.01 * seed, "unseen": 0.3}, seeds=(0, 1, 2), label="model")
    seen, unseen = runs.select("seen", "seen classes"), runs.select("unseen", "unseen classes")
    assert (
        seen.label == "seen classes"
        and seen.seeds == [0, 1, 2]
        and seen.values("value") == runs.values("seen")
    )
    assert round(assert_beats(seen, unseen, "value", min_margin=0.5), 2) == 0.61
    with pytest.raises(AssertionError):
        assert_beats(unseen, seen, "value")
