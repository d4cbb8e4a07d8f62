"""Lab 14 checks: the right answers pass, each common mistake gets its own message, unfinished work says so."""

import math

import pytest
import torch
from check_support import assert_passes_and_unfinished_says_so, expect_message

from mmlab.audio import mel_filter_bank
from mmlab.checks import lab14
from mmlab.ctc import greedy_decode
from mmlab.error_rates import edit_distance, word_error_rate


def hz_to_mel(f):
    return 2595 * math.log10(1 + f / 700)


def log_mel_from_power(power, bank):
    return torch.log(bank @ power + 1e-6)


@pytest.mark.parametrize(
    ("check", "fn"),
    [
        (lab14.check_hz_to_mel, hz_to_mel),
        (lab14.check_mel_filter_bank, mel_filter_bank),
        (lab14.check_log_mel_from_power, log_mel_from_power),
        (lab14.check_ctc_greedy, greedy_decode),
        (lab14.check_wer, word_error_rate),
    ],
)
def test_right_answers_pass_and_unfinished_says_so(check, fn, capsys):
    assert_passes_and_unfinished_says_so(check, fn, capsys)


def test_mel_scale_mistakes_are_named():
    expect_message(lab14.check_hz_to_mel, lambda f: 2595 * math.log(1 + f / 700), lab14.NATURAL_LOG)
    expect_message(lab14.check_hz_to_mel, lambda f: 2595 * math.log10(f / 700), lab14.NO_ONE)


def test_filter_bank_mistakes_are_named():
    expect_message(lab14.check_mel_filter_bank, lambda *a: mel_filter_bank(*a).T, lab14.TRANSPOSED_BANK)
    expect_message(lab14.check_mel_filter_bank, lambda *a: lab14._linear_bank(*a).float(), lab14.LINEAR_EDGES)
    expect_message(
        lab14.check_mel_filter_bank,
        lambda sr, n_fft, n_mels, lo, hi: mel_filter_bank(sr, n_fft, n_mels - 2, lo, hi),
        lab14.NO_EXTRA_EDGES,
    )


def test_log_mel_mistakes_are_named():
    check = lab14.check_log_mel_from_power
    expect_message(check, lambda p, b: torch.log(p @ b.T + 1e-6), lab14.WRONG_AXIS)  # mel on the time axis
    expect_message(check, lambda p, b: torch.log(p @ b.T + 1e-6).T, lab14.WRONG_AXIS)
    expect_message(check, lambda p, b: torch.log(b @ p + 1e-6).T, lab14.TRANSPOSED_OUT)
    expect_message(check, lambda p, b: b @ p, lab14.NO_LOG)
    expect_message(check, lambda p, b: torch.log(b @ p), lab14.NO_FLOOR)


def _greedy(merge_first=True, merge=True, drop=True, all_repeats=False):
    def decode(log_probs, blank):
        path = log_probs.argmax(-1).tolist()
        if not merge_first:
            path = [s for s in path if s != blank]
        if all_repeats:
            path = list(dict.fromkeys(path))
        elif merge:
            path = [s for i, s in enumerate(path) if i == 0 or s != path[i - 1]]
        return [s for s in path if s != blank] if drop else path

    return decode


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (dict(merge_first=False), lab14.BLANKS_FIRST),
        (dict(merge=False), lab14.NO_MERGE),
        (dict(drop=False), lab14.NO_DROP),
        (dict(merge_first=False, all_repeats=True), lab14.ALL_REPEATS),
    ],
)
def test_ctc_greedy_mistakes_are_named(flags, message):
    expect_message(lab14.check_ctc_greedy, _greedy(**flags), message)


def test_wer_mistakes_are_named():
    def by_hypothesis(hyps, refs):
        edits = sum(edit_distance(h.split(), r.split()) for h, r in zip(hyps, refs))
        return edits / sum(len(h.split()) for h in hyps)

    def sentence_mean(hyps, refs):
        return sum(word_error_rate([h], [r]) for h, r in zip(hyps, refs)) / len(refs)

    def characters(hyps, refs):
        return sum(edit_distance(h, r) for h, r in zip(hyps, refs)) / sum(len(r.split()) for r in refs)

    expect_message(lab14.check_wer, by_hypothesis, lab14.BY_HYPOTHESIS)
    expect_message(lab14.check_wer, sentence_mean, lab14.SENTENCE_MEAN)
    expect_message(lab14.check_wer, characters, lab14.CHARACTERS)
