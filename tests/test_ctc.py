"""Chapter 14's CTC (forward algorithm against F.ctc_loss, decoders) and error rates against jiwer."""

import itertools
import math

import jiwer
import pytest
import torch
import torch.nn.functional as F

from mmlab.ctc import BLANK, CharVocab, ctc_nll, greedy_decode, prefix_beam_search
from mmlab.error_rates import char_error_rate, edit_distance, word_error_rate


@pytest.mark.parametrize("T,target", [(6, [1, 2]), (5, [1, 1]), (10, [3, 1, 3, 3, 2]), (4, [2]), (7, [])])
def test_ctc_nll_matches_torch(T, target):
    torch.manual_seed(T)
    logits = torch.randn(T, 5, dtype=torch.float64, requires_grad=True)
    log_probs = logits.log_softmax(-1)
    y = torch.tensor(target, dtype=torch.long)
    ours = ctc_nll(log_probs, y)
    ref = F.ctc_loss(
        log_probs[:, None], y[None], torch.tensor([T]), torch.tensor([len(target)]), reduction="sum"
    )
    assert torch.allclose(ours, ref, atol=1e-9)
    (g_ours,) = torch.autograd.grad(ours, logits, retain_graph=True)
    (g_ref,) = torch.autograd.grad(ref, logits)
    assert torch.allclose(g_ours, g_ref, atol=1e-8)


def test_ctc_is_the_sum_over_alignments():
    """Brute force: every length-T path that reads as the target, its probability summed."""
    torch.manual_seed(0)
    T, V, target = 5, 3, [1, 2, 2]
    log_probs = torch.randn(T, V, dtype=torch.float64).log_softmax(-1)
    total = 0.0
    for path in itertools.product(range(V), repeat=T):
        merged = [s for i, s in enumerate(path) if i == 0 or s != path[i - 1]]
        if [s for s in merged if s != BLANK] == target:
            total += math.exp(sum(log_probs[t, s].item() for t, s in enumerate(path)))
    assert math.isclose(-ctc_nll(log_probs, torch.tensor(target)).item(), math.log(total), rel_tol=1e-9)
    # too few frames for "b _ b": impossible
    assert ctc_nll(log_probs[:2], torch.tensor(target)).item() == math.inf


def one_hot_frames(path: list[int], V: int = 5) -> torch.Tensor:
    return torch.log(F.one_hot(torch.tensor(path), V).double() * 0.96 + 0.01)


def test_greedy_merges_repeats_then_drops_blanks():
    assert greedy_decode(one_hot_frames([1, 1, 0, 2, 2, 0, 2, 3, 0])) == [1, 2, 2, 3]
    assert greedy_decode(one_hot_frames([0, 0, 0])) == []


def test_prefix_beam_beats_greedy_when_alignments_add_up():
    # Per frame, blank is likeliest (0.4), but "a" has many alignments: p("a") > p("").
    frames = torch.tensor([[0.4, 0.35, 0.25]] * 2, dtype=torch.float64).log()
    assert greedy_decode(frames) == []
    assert prefix_beam_search(frames, beam=4) == [1]


def test_prefix_beam_agrees_with_greedy_on_confident_frames():
    path = [1, 1, 0, 1, 2, 0, 0, 3]
    assert prefix_beam_search(one_hot_frames(path)) == greedy_decode(one_hot_frames(path)) == [1, 1, 2, 3]


def test_char_vocab_round_trip():
    vocab = CharVocab()
    ids = vocab.encode("Turn on the light")
    assert BLANK not in ids and vocab.decode(ids) == "turn on the light"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode("50%")


def test_edit_distance_and_error_rates_match_jiwer():
    assert edit_distance("kitten", "sitting") == 3
    refs = ["turn on the kitchen light", "check the garden fan", "turn off the radio"]
    hyps = ["turn on the kitchen light", "check the the garden fun", "turn the radio off now"]
    assert math.isclose(word_error_rate(hyps, refs), jiwer.wer(refs, hyps), rel_tol=1e-12)
    assert math.isclose(char_error_rate(hyps, refs), jiwer.cer(refs, hyps), rel_tol=1e-12)
    assert word_error_rate(["a b c d e f"], ["a"]) == 5.0  # insertions can push WER above 1
    with pytest.raises(ValueError, match="references are empty"):
        word_error_rate([""], [""])
