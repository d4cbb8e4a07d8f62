"""Checks for lab 14: the mel filter bank and log-mel features, CTC greedy decoding, and the word
error rate.

Signatures the lab asks for:

* ``hz_to_mel(f) -> float``: HTK's ``2595 log10(1 + f / 700)``;
* ``mel_filter_bank(sample_rate, n_fft, n_mels, f_min, f_max) -> [n_mels, n_fft // 2 + 1]``:
  triangular filters whose ``n_mels + 2`` edges are evenly spaced in mel;
* ``log_mel_from_power(power[F, T], bank[M, F]) -> [M, T]``: ``log(bank @ power + 1e-6)``;
* ``ctc_greedy(log_probs[T, V], blank) -> list[int]``: best symbol per frame, merge repeats, then
  drop blanks;
* ``wer(hypotheses, references) -> float``: word edits over all sentences / reference words.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from mmlab.audio import mel_filter_bank as reference_mel_filter_bank
from mmlab.checks.framework import CheckFailed, call, expect_close, expect_true, lab_check
from mmlab.ctc import greedy_decode
from mmlab.error_rates import edit_distance, word_error_rate

__all__ = [
    "check_ctc_greedy",
    "check_hz_to_mel",
    "check_log_mel_from_power",
    "check_mel_filter_bank",
    "check_wer",
]

# ----------------------------------------------------------------------------- the mel scale
NATURAL_LOG = "the natural log used: the mel formula is 2595 * log10(1 + f / 700)"
NO_ONE = "1 + f / 700 written as f / 700: the mel scale must map 0 Hz to 0 mel"


@lab_check("hz_to_mel")
def check_hz_to_mel(student_fn: Callable) -> None:
    for f in (700.0, 1000.0, 4000.0, 0.0):
        case = f"f={f} Hz"
        got = torch.as_tensor(call(student_fn, f, case=case), dtype=torch.float64)
        expected = torch.tensor(2595 * math.log10(1 + f / 700), dtype=torch.float64)
        mistakes = {NATURAL_LOG: torch.tensor(2595 * math.log(1 + f / 700), dtype=torch.float64)}
        if f > 0:
            mistakes[NO_ONE] = torch.tensor(2595 * math.log10(f / 700), dtype=torch.float64)
        expect_close(got, expected, what="mel value", case=case, mistakes=mistakes, atol=1e-3)


# ----------------------------------------------------------------------------- the filter bank
TRANSPOSED_BANK = (
    "the filter bank transposed: rows are mel bands, so it is (n_mels, n_fft // 2 + 1) and "
    "bank @ power pools the frequency axis"
)
LINEAR_EDGES = "filter edges evenly spaced in Hz: space them evenly in mel, then convert back to Hz"
NO_EXTRA_EDGES = (
    "n_mels edges instead of n_mels + 2: each of the n_mels triangles needs a left and a right edge"
)


def _linear_bank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    edges = torch.linspace(f_min, f_max, n_mels + 2, dtype=torch.float64)
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return torch.clamp(
        torch.minimum((bins - lower) / (centre - lower), (upper - bins) / (upper - centre)), min=0
    )


@lab_check("mel_filter_bank")
def check_mel_filter_bank(student_fn: Callable) -> None:
    for sample_rate, n_fft, n_mels, f_min, f_max in (
        (16000, 512, 40, 0.0, 8000.0),
        (22050, 256, 10, 100.0, 6000.0),
    ):
        case = f"sample_rate={sample_rate}, n_fft={n_fft}, n_mels={n_mels}, f_min={f_min}, f_max={f_max}"
        got = call(student_fn, sample_rate, n_fft, n_mels, f_min, f_max, case=case)
        expected = reference_mel_filter_bank(sample_rate, n_fft, n_mels, f_min, f_max)
        if isinstance(got, torch.Tensor) and got.shape == expected.shape[::-1]:
            raise CheckFailed(f"your filter bank for {case} has shape {tuple(got.shape)}: {TRANSPOSED_BANK}")
        if isinstance(got, torch.Tensor) and got.shape == (n_mels - 2, n_fft // 2 + 1):
            raise CheckFailed(f"your filter bank for {case} has {n_mels - 2} rows: {NO_EXTRA_EDGES}")
        mistakes = {LINEAR_EDGES: _linear_bank(sample_rate, n_fft, n_mels, f_min, f_max)}
        expect_close(got, expected, what="filter bank", case=case, mistakes=mistakes, atol=1e-4)


# ----------------------------------------------------------------------------- applying it
WRONG_AXIS = (
    "the mel filters applied along the time axis: power is (frequency, frames), so pool its rows "
    "with bank @ power"
)
TRANSPOSED_OUT = "the result transposed: log-mel features are (n_mels, frames)"
NO_LOG = "the log left out: take log(mel power + 1e-6)"
NO_FLOOR = "log of zero: add the floor 1e-6 before the log, so silence stays finite"


@lab_check("log_mel_from_power")
def check_log_mel_from_power(student_fn: Callable) -> None:
    torch.manual_seed(0)
    bank = reference_mel_filter_bank(16000, 16, 4)  # (4, 9): nine frequency bins
    for T in (9, 12):  # with 9 frames the wrong axis still multiplies, so it can be named
        power = torch.rand(9, T) ** 4
        power[:, 0] = 0.0  # a silent frame
        case = f"power of shape {tuple(power.shape)}, bank of shape {tuple(bank.shape)}"
        got = call(student_fn, power.clone(), bank.clone(), case=case)
        expected = torch.log(bank @ power + 1e-6)
        mistakes = {TRANSPOSED_OUT: expected.T, NO_LOG: bank @ power, NO_FLOOR: torch.log(bank @ power)}
        if T == 9:
            mistakes[WRONG_AXIS] = torch.log(power @ bank.T + 1e-6)
            mistakes[f"{WRONG_AXIS} (and transposed)"] = torch.log(power @ bank.T + 1e-6).T
        expect_close(got, expected, what="log-mel", case=case, mistakes=mistakes, atol=1e-4)


# ----------------------------------------------------------------------------- CTC greedy
BLANKS_FIRST = (
    "blanks removed before merging repeats: merge first, then drop blanks, otherwise the blank that "
    "separates a double letter (o _ f _ f -> 'off') is gone and 'ff' collapses to 'f'"
)
NO_MERGE = "repeats not merged: consecutive equal symbols are one letter held over several frames"
NO_DROP = "blanks kept: drop the blank symbol after merging"
ALL_REPEATS = "every repeat of a symbol merged, not only consecutive ones"


def _frames(path: list[int], V: int = 5) -> torch.Tensor:
    return torch.log(torch.nn.functional.one_hot(torch.tensor(path), V).float() * 0.9 + 0.02)


@lab_check("ctc_greedy")
def check_ctc_greedy(student_fn: Callable) -> None:
    cases = [
        ([1, 0, 2, 0, 1, 1, 0, 1], 0),  # every mistake below gives a different answer here
        ([1, 1, 0, 2, 2, 0, 2, 3, 0], 0),
        ([0, 3, 3, 3, 0, 0, 1, 0, 1, 1], 0),
        ([4, 2, 2, 4, 4, 1, 4], 4),  # the blank need not be 0
        ([0, 0, 0], 0),
    ]
    for path, blank in cases:
        case = f"best symbols per frame {path}, blank={blank}"
        got = call(student_fn, _frames(path), blank, case=case)
        got = got.tolist() if isinstance(got, torch.Tensor) else got
        if not isinstance(got, list | tuple):
            raise CheckFailed(f"ctc_greedy should return a list of symbol ids for {case}, got {got!r}")
        got = [int(s) for s in got]
        expected = greedy_decode(_frames(path), blank)
        if got == expected:
            expect_true(True, "")
            continue
        kept = [s for s in path if s != blank]
        mistakes = {
            BLANKS_FIRST: [s for i, s in enumerate(kept) if i == 0 or s != kept[i - 1]],
            NO_MERGE: kept,
            NO_DROP: [s for i, s in enumerate(path) if i == 0 or s != path[i - 1]],
            ALL_REPEATS: list(dict.fromkeys(kept)),
        }
        for description, wrong in mistakes.items():
            if got == wrong:
                raise CheckFailed(f"your ctc_greedy for {case} returned {got}: it looks like {description}.")
        raise CheckFailed(f"your ctc_greedy for {case} returned {got}; expected {expected}")


# ----------------------------------------------------------------------------- WER
BY_HYPOTHESIS = (
    "WER normalised by the hypothesis length: divide by the number of reference words, or a system "
    "that inserts words looks better and one that drops them worse than it is"
)
SENTENCE_MEAN = (
    "the mean of per-sentence WERs: add the edits of all sentences and divide by all reference words"
)
CHARACTERS = "characters compared, not words: split the sentences into words first"


@lab_check("wer")
def check_wer(student_fn: Callable) -> None:
    cases = [
        (["turn on the kitchen light"], ["turn on the kitchen light"]),
        (["turn of the light"], ["turn off the kitchen light"]),
        (["check the the garden fan now", "turn on"], ["check the garden fan", "turn on the office radio"]),
        (["a b c d e f"], ["a"]),
    ]
    for hyps, refs in cases:
        case = f"hypotheses {hyps}, references {refs}"
        got = call(student_fn, list(hyps), list(refs), case=case)
        edits = [edit_distance(h.split(), r.split()) for h, r in zip(hyps, refs)]
        mistakes = {
            BY_HYPOTHESIS: torch.tensor(
                sum(edits) / max(sum(len(h.split()) for h in hyps), 1), dtype=torch.float64
            ),
            SENTENCE_MEAN: torch.tensor(
                sum(e / len(r.split()) for e, r in zip(edits, refs)) / len(refs), dtype=torch.float64
            ),
            CHARACTERS: torch.tensor(
                sum(edit_distance(h, r) for h, r in zip(hyps, refs)) / sum(len(r.split()) for r in refs),
                dtype=torch.float64,
            ),
        }
        expected = torch.tensor(word_error_rate(hyps, refs), dtype=torch.float64)
        mistakes = {k: v for k, v in mistakes.items() if not torch.isclose(v, expected)}
        expect_close(
            torch.as_tensor(got, dtype=torch.float64), expected, what="WER", case=case, mistakes=mistakes
        )
