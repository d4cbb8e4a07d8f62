# %% [markdown]
# # Lab 14 · Speech: the mel filter bank, CTC greedy decoding and the word error rate
# {{colab_badge}}
#
# Write the three pieces of chapter 14 that are easiest to get subtly wrong: the mel filter bank and
# log-mel features, greedy decoding of a CTC output, and the word error rate. After each exercise,
# run the check cell below it: it says whether your function is right, and if not, which common
# mistake it looks like. The last cells put your pieces to work on real synthesised speech.

# %%
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:  # a normal (not editable) install imports without restarting the runtime
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "mmlab @ git+{{repository}}"],
        check=True,
    )

# %%
import math

import torch

from mmlab.audio import FeatureConfig, log_mel, power_spectrogram
from mmlab.checks.lab14 import (
    check_ctc_greedy,
    check_hz_to_mel,
    check_log_mel_from_power,
    check_mel_filter_bank,
    check_wer,
)
from mmlab.data.speech import SAMPLE_RATE, synthesise
from mmlab.device import get_device, seed_everything

seed_everything(0)
print("device:", get_device())

# %% [markdown]
# ## 1. The mel scale and the filter bank
#
# `hz_to_mel(f)` is HTK's mel scale, $m(f) = 2595 \log_{10}(1 + f / 700)$ (a float in, a float out).
#
# `mel_filter_bank(sample_rate, n_fft, n_mels, f_min, f_max)` returns a tensor
# `(n_mels, n_fft // 2 + 1)`: one row per mel band, one column per STFT frequency bin (bin $k$ sits
# at $k \cdot \text{sample\_rate} / \text{n\_fft}$ Hz, from 0 to sample_rate / 2).
#
# 1. Take `n_mels + 2` edges evenly spaced **in mel** from `hz_to_mel(f_min)` to `hz_to_mel(f_max)`
#    and convert them back to Hz ($f = 700 (10^{m / 2595} - 1)$).
# 2. Filter $i$ is a triangle: 0 at edge $i$, rising linearly to 1 at edge $i + 1$, falling back to
#    0 at edge $i + 2$, and 0 outside. At bin frequency $f$ it is
#    $\max\big(0, \min\big(\frac{f - e_i}{e_{i+1} - e_i}, \frac{e_{i+2} - f}{e_{i+2} - e_{i+1}}\big)\big)$.


# %%
def hz_to_mel(f: float) -> float:
    # BEGIN SOLUTION
    return 2595.0 * math.log10(1.0 + f / 700.0)
    # END SOLUTION


def mel_filter_bank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    # BEGIN SOLUTION
    mels = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2, dtype=torch.float64)
    edges = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()
    # END SOLUTION


# %%
check_hz_to_mel(hz_to_mel)
check_mel_filter_bank(mel_filter_bank)

# %% [markdown]
# `log_mel_from_power(power, bank)`: `power` is a power spectrogram `(F, T)` (frequency bins,
# frames) and `bank` your filter bank `(M, F)`. Pool the frequency axis with the filters and take
# the log with a small floor: $\log(B\,P + 10^{-6})$, shape `(M, T)`.


# %%
def log_mel_from_power(power: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    # BEGIN SOLUTION
    return torch.log(bank @ power + 1e-6)
    # END SOLUTION


# %%
check_log_mel_from_power(log_mel_from_power)

# %% [markdown]
# Your pieces on a synthesised command, against the course's `log_mel`:

# %%
wave = torch.from_numpy(synthesise("turn on the kitchen light"))
config = FeatureConfig()
try:
    bank = mel_filter_bank(SAMPLE_RATE, config.n_fft, config.n_mels, config.f_min, config.f_max)
    yours = log_mel_from_power(power_spectrogram(wave, config.n_fft, config.hop), bank)
    difference = (yours - log_mel(wave, config)).abs().max().item()
    print(f"log-mel {tuple(yours.shape)}, largest difference from the course's: {difference:.1e}")
    assert difference < 1e-3
except NotImplementedError:
    print("finish exercise 1 first")

# %% [markdown]
# ## 2. CTC greedy decoding
#
# `ctc_greedy(log_probs, blank)`: `log_probs` is `(T, V)`, one distribution per frame over the
# symbols, one of which (`blank`) means "nothing new". Take the best symbol of each frame, **merge
# consecutive repeats, then drop the blanks**, and return the list of symbol ids. The order
# matters: `o o _ f _ f` reads "off".


# %%
def ctc_greedy(log_probs: torch.Tensor, blank: int) -> list[int]:
    # BEGIN SOLUTION
    best = log_probs.argmax(-1).tolist()
    merged = [s for i, s in enumerate(best) if i == 0 or s != best[i - 1]]
    return [s for s in merged if s != blank]
    # END SOLUTION


# %%
check_ctc_greedy(ctc_greedy)

# %% [markdown]
# ## 3. The word error rate
#
# `wer(hypotheses, references)` takes two lists of sentences. For each pair, the edit distance
# between their **word** lists is the fewest substitutions, deletions and insertions that turn one
# into the other (dynamic programming: $d[i][j] = \min(d[i-1][j] + 1,\ d[i][j-1] + 1,\ d[i-1][j-1]
# + [h_i \ne r_j])$). The WER adds the edits of all pairs and divides by the number of words in all
# **references**.


# %%
def wer(hypotheses: list[str], references: list[str]) -> float:
    # BEGIN SOLUTION
    edits = words = 0
    for hypothesis, reference in zip(hypotheses, references):
        h, r = hypothesis.split(), reference.split()
        previous = list(range(len(r) + 1))
        for i, hw in enumerate(h, start=1):
            current = [i]
            for j, rw in enumerate(r, start=1):
                current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (hw != rw)))
            previous = current
        edits += previous[-1]
        words += len(r)
    return edits / words
    # END SOLUTION


# %%
check_wer(wer)

# %% [markdown]
# Your WER against `jiwer`, the library speech papers use:

# %%
import jiwer

hypotheses = ["turn of the kitchen light", "check the the garden fan", "turn on radio"]
references = ["turn off the kitchen light", "check the garden fan", "turn on the office radio"]
try:
    print(f"your WER {wer(hypotheses, references):.4f}, jiwer {jiwer.wer(references, hypotheses):.4f}")
    assert abs(wer(hypotheses, references) - jiwer.wer(references, hypotheses)) < 1e-12
except NotImplementedError:
    print("finish exercise 3 first")
