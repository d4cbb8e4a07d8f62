# %% [markdown]
# # 14 · Speech: hearing and speaking
# {{colab_badge}}
#
# **What you will build:** the third modality. A voice assistant hears a command ("turn on the
# kitchen light"), writes down what was said, and answers out loud. You will synthesise a data set
# of spoken commands on your own machine, turn waveforms into **log-mel spectrograms** (framing,
# the short-time Fourier transform and a mel filter bank, written out), classify commands by
# treating the spectrogram as an image (chapter 09's CNN and ViT), and train a **speech recogniser** with
# **CTC**: a convolution-plus-Transformer encoder that writes out phrases it never heard, scored by
# word and character error rates. At the end the same speech engine speaks the reply.
#
# Speech is a sequence like text (chapters 03, 06 and 13) and a picture like an image once it is a
# spectrogram (chapter 09): nearly everything here reuses what you built.

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
import time
from collections import Counter

import jiwer
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Audio, display

from mmlab.audio import (
    FeatureConfig,
    frame,
    hann_window,
    hz_to_mel,
    log_mel,
    mel_filter_bank,
    spec_augment,
    stft,
)
from mmlab.ctc import CharVocab, ctc_nll, greedy_decode
from mmlab.data.speech import (
    HELD_OUT_COMMANDS,
    SAMPLE_RATE,
    TEST_VOICES,
    TRAIN_VOICES,
    intent_names,
    parse_command,
    resynthesised,
    synthesise,
)
from mmlab.device import get_device, seed_everything
from mmlab.error_rates import char_error_rate, word_error_rate
from mmlab.experiments import assert_beats, comparison_table, repeat
from mmlab.metrics import confusion_matrix
from mmlab.recipes.registry import resolve_settings
from mmlab.recipes.speech import (
    evaluate_recogniser,
    predict_intents,
    speech_data,
    speech_tensors,
    split_tensors,
    transcribe,
)
from mmlab.seq2seq_training import train_model

seed_everything(0)
device = get_device()
print("device:", device)

# %% [markdown]
# The whole experiment in one place: the `speech` (recogniser) and `speech-commands` (classifier)
# recipes in `mmlab/recipes/speech.py`, the ones `python -m mmlab.train speech` runs outside the
# notebook. On a GPU, `SCALE = "gpu"` trains a 6-layer, 256-wide recogniser on four times the audio.

# %%
# NBVAL_CHECK_OUTPUT
SCALE = "cpu"
settings = resolve_settings("speech", SCALE)
command_settings = resolve_settings("speech-commands", SCALE)
SEEDS = (0, 1, 2)  # every comparison that decides a claim is repeated over these
print(settings)
print(command_settings)

# %% [markdown]
# ## 1. Speech from a pip package
#
# A waveform is air pressure sampled many times a second: here 22,050 numbers per second, each in
# $[-1, 1]$. The voice is **eSpeak NG**, a *formant* synthesiser: it looks up how each word is
# pronounced, then builds the sound from a buzz (the vocal folds) filtered by resonances (the
# formants of the mouth and throat) that move from phoneme to phoneme. The `espeakng-loader` wheel
# carries the library and its voices, and `mmlab.data.speech` drives it through `ctypes`: offline,
# no system package, a few milliseconds per phrase. It speaks Mandarin too.

# %%
# NBVAL_IGNORE_OUTPUT
wave = synthesise("turn on the kitchen light", voice="en+f3")
print(f"{len(wave)} samples = {len(wave) / SAMPLE_RATE:.2f} s, peak {np.abs(wave).max():.2f}")
display(Audio(wave, rate=SAMPLE_RATE))
display(Audio(synthesise("打开厨房的灯", voice="cmn"), rate=SAMPLE_RATE))

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 2.5))
t = np.arange(len(wave)) / SAMPLE_RATE
axes[0].plot(t, wave, lw=0.5)
axes[0].set(xlabel="seconds", title="the whole phrase")
zoom = slice(int(0.30 * SAMPLE_RATE), int(0.33 * SAMPLE_RATE))
axes[1].plot(t[zoom] * 1000, wave[zoom], lw=1)
axes[1].set(xlabel="milliseconds", title="30 ms of a vowel: a repeating buzz")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 2. A spoken-command data set, with voices and phrases held out
#
# Commands come from a small grammar, *action* x *device* x *place* ("turn off the garden heater"):
# 3 x 4 x 5 = 60 phrases. Each is spoken by ten training voices (accents and male, female and
# "klatt" variants), each time at a random speaking rate (140-220 words a minute) and pitch, with a
# random gain (near or far from the microphone) and white noise at a random signal-to-noise ratio
# of 10-30 dB. Two things are held out:
#
# * **voices**: three voices never heard in training speak the test sets;
# * **compositions**: six phrases are never spoken in training ("turn on the garden fan"), although
#   every word, and every pair of parts, is.
#
# The audio is cached in your user cache folder (`~/.cache/mmlab/speech` on Linux), so a second run
# reads it back instead of synthesising it.

# %%
# NBVAL_IGNORE_OUTPUT
start = time.perf_counter()
data = speech_data(settings.repeats, settings.snr_low, settings.snr_high)
print(f"generated (or read from the cache) in {time.perf_counter() - start:.1f} s")

# %%
# NBVAL_CHECK_OUTPUT
print(f"train: {len(data.train)} utterances, {len(TRAIN_VOICES)} voices, {len({u.text for u in data.train})} phrases")
print(f"test (new voices): {len(data.test)}; held out (new voices, new phrases): {len(data.held_out)}")
print("held-out phrases:", sorted({u.text for u in data.held_out}))
minutes = sum(len(u.audio) for u in data.train) / SAMPLE_RATE / 60
print(f"training audio: {minutes:.0f} minutes")
assert {u.voice for u in data.train}.isdisjoint(TEST_VOICES)
assert {u.text for u in data.train}.isdisjoint(u.text for u in data.held_out)

# %%
# NBVAL_IGNORE_OUTPUT
for u in (data.train[0], data.test[5], data.held_out[0]):
    print(f"{u.text!r} by {u.voice} at {u.rate} words/min, pitch {u.pitch}")
    display(Audio(u.audio, rate=SAMPLE_RATE, normalize=False))

# %% [markdown]
# ## 3. From waveform to log-mel spectrogram
#
# **Framing.** Speech changes every few tens of milliseconds, so the signal is cut into overlapping
# frames of $N = 512$ samples (23 ms) every $H = 256$ samples (11.6 ms), each multiplied by a Hann
# window $w[n] = \tfrac12 - \tfrac12\cos(2\pi n / N)$ so its edges fade to zero.
#
# **The short-time Fourier transform.** Each windowed frame $x_t$ becomes $N/2 + 1 = 257$
# frequencies, $X[t, k] = \sum_{n=0}^{N-1} w[n]\, x_t[n]\, e^{-2\pi i k n / N}$, bin $k$ sitting
# at $k \cdot f_s / N$ Hz. The **power** $|X[t, k]|^2$ over time is the spectrogram.
#
# **The mel filter bank.** Hearing resolves low pitches finely and high ones coarsely. The mel
# scale $m(f) = 2595 \log_{10}(1 + f/700)$ is roughly linear below 1 kHz and logarithmic above.
# $M = 40$ triangular filters, their edges evenly spaced in mel between 0 and 8 kHz, pool the 257
# bins into 40 bands: the filter matrix $B \in \mathbb{R}^{M \times 257}$ multiplies the power
# spectrogram **along the frequency axis**, $\mathrm{mel} = B\,|X|^2$.
#
# **The log.** Loudness is heard on a log scale, and a gain (a louder voice) becomes an added
# constant: $\log(\mathrm{mel} + \epsilon)$. Each utterance's features are then shifted and scaled
# to zero mean and unit variance, which removes that constant.
#
# `mmlab.audio` writes each step out; its tests check them against `librosa` (STFT and log-mel to
# 1e-3, the filter bank to 1e-5). Here, the STFT against `torch.stft`:

# %%
features = FeatureConfig()
x = torch.from_numpy(wave)
print("frames:", tuple(frame(x, features.n_fft, features.hop).shape), "(frames, samples per frame)")
ours = stft(x, features.n_fft, features.hop)
theirs = torch.stft(
    x, features.n_fft, features.hop, window=torch.hann_window(features.n_fft), pad_mode="constant", return_complex=True
)
print("STFT:", tuple(ours.shape), "(frequency bins, frames)")
print(f"largest difference from torch.stft: {(ours - theirs).abs().max() / theirs.abs().max():.0e} (relative)")
assert torch.allclose(ours, theirs, atol=1e-3)
print(f"1000 Hz = {float(hz_to_mel(1000.0)):.0f} mel, 4000 Hz = {float(hz_to_mel(4000.0)):.0f} mel, 8000 Hz = {float(hz_to_mel(8000.0)):.0f} mel")

# %%
bank = mel_filter_bank(SAMPLE_RATE, features.n_fft, features.n_mels, features.f_min, features.f_max)
hz = np.linspace(0, SAMPLE_RATE / 2, features.n_fft // 2 + 1)
fig, axes = plt.subplots(1, 3, figsize=(14, 3))
axes[0].plot(hz, bank[::3].T.numpy())
axes[0].set(xlabel="Hz", title="every third mel filter: narrow low, wide high")
power_db = 10 * torch.log10(ours.abs() ** 2 + 1e-10)
axes[1].imshow(power_db.numpy(), origin="lower", aspect="auto", cmap="magma", vmin=float(power_db.max()) - 80)
axes[1].set(xlabel="frame", ylabel="frequency bin", title="power spectrogram (dB)")
axes[2].imshow(log_mel(x, features).numpy(), origin="lower", aspect="auto", cmap="magma")
axes[2].set(xlabel="frame", ylabel="mel band", title="log-mel: 40 bands")
plt.tight_layout()
plt.show()

# %% [markdown]
# Every utterance becomes a $40 \times T$ array, $T$ about 110 frames a second (padded with zeros to
# the longest in the set).

# %%
train_x, test_x, held_x = split_tensors(settings)
print("features:", tuple(train_x["features"].shape), "(utterances, mel bands, frames)")
assert train_x["features"].shape[1] == features.n_mels

# %% [markdown]
# ## 4. A command classifier: the spectrogram is an image
#
# The first model ignores that speech is a sequence: the log-mel array is a one-channel image, fed
# to chapter 09's CNN (three strided 3x3 convolutions, max pooling to a 4 x 4 grid, a linear layer).
# It predicts one of 12 **intents** (action x device: "turn on light", "check radio", ...),
# whatever the place. Three seeds, scored on the voices it never heard; the baseline is always
# answering the most frequent training intent.

# %%
# NBVAL_IGNORE_OUTPUT
classifiers = {}


def classifier_run(seed, **overrides):
    model, _, seconds = train_model("speech-commands", SCALE, seed, **overrides)
    classifiers[(seed, tuple(sorted(overrides.items())))] = model
    accuracy = (predict_intents(model, test_x_for(overrides)) == test_x_for(overrides)["intents"]).float().mean()
    return {"accuracy": accuracy.item(), "seconds": seconds}


def test_x_for(overrides):
    return split_tensors(resolve_settings("speech-commands", SCALE, overrides))[1]


cnn = repeat(classifier_run, SEEDS, label="CNN on log-mel")
majority_intent = Counter(train_x["intents"].tolist()).most_common(1)[0][0]
majority = (test_x["intents"] == majority_intent).float().mean().item()
print(cnn)

# %%
print(f"held-out voices: CNN {cnn.summary('accuracy')}; majority baseline {majority:.3f}")
assert cnn.mean("accuracy") > majority + 0.5  # clearly above the baseline, on every seed
assert min(cnn.values("accuracy")) > 0.6

# %% [markdown]
# ### The same image through chapter 09's ViT
#
# Chapter 09's other encoder, the Vision Transformer, cuts an image into patches and lets every
# patch attend to every other (the Audio Spectrogram Transformer does this with real speech). A ViT
# wants a square image of a fixed size, so `mmlab.models.speech.SpectrogramViT` first puts every
# utterance on the same canvas of `vit_frames` frames (padding with zeros), average-pools the
# canvas to `vit_image` x `vit_image`, then cuts it into `patch_size` x `patch_size` patches
# (here 16 patches, each 10 mel bands by about half a second). Same data, same steps, same seeds:

# %%
# NBVAL_IGNORE_OUTPUT
vit = repeat(lambda seed: classifier_run(seed, architecture="vit"), SEEDS, label="ViT on log-mel")

# %%
print(comparison_table([cnn, vit], ["accuracy"]))
print(f"majority baseline {majority:.3f}")
assert vit.mean("accuracy") > majority + 0.4  # the ViT learns too, well above the baseline
margin = assert_beats(cnn, vit, "accuracy", min_margin=0.05)
print(f"the CNN beats the ViT by {margin:.3f} accuracy on unheard voices")

# %% [markdown]
# The ViT learns the task, but the CNN is clearly better here. A convolution *assumes* that what
# matters is local and looks the same wherever it sits (a burst of noise for "f" is "f" at any
# moment); the ViT has to learn that from data, and 23 minutes of audio and 150 steps are little.
# This is chapter 09's lesson again, now on sound: on big data sets (AudioSet, two million clips)
# the Transformer, pretrained on images first, catches up and passes the CNN. Where do the two go
# wrong (seed 0 of each)?

# %%
names = intent_names()
fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
for ax, (label, key) in zip(axes, (("CNN", ()), ("ViT", (("architecture", "vit"),)))):
    predictions = predict_intents(classifiers[(0, key)], test_x)
    confusion = confusion_matrix(test_x["intents"], predictions, len(names))
    ax.imshow(confusion.numpy(), cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=70)
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true", title=f"{label}: confusion on unheard voices (seed 0)")
    wrong = confusion.clone().fill_diagonal_(0)
    i, j = divmod(int(wrong.argmax()), len(names))
    print(f"{label} most frequent confusion: {names[i]!r} heard as {names[j]!r} ({int(wrong[i, j])} times)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. What goes wrong: features without the log
#
# Skip the log and feed the mel *power*: a vowel is thousands of times more powerful than a
# consonant, so after normalisation a few loud frames dominate and the quiet consonants that tell
# "on" from "off" are squashed near zero. Same CNN, same steps, three seeds:

# %%
# NBVAL_IGNORE_OUTPUT
no_log = repeat(lambda seed: classifier_run(seed, log_features=False), SEEDS, label="mel power, no log")

# %%
print(comparison_table([cnn, no_log], ["accuracy"]))
margin = assert_beats(cnn, no_log, "accuracy", min_margin=0.05)
print(f"the log is worth {margin:.3f} accuracy on unheard voices")

# %% [markdown]
# ## 6. Recognition as sequence prediction: CTC
#
# A classifier needs a list of phrases; a **recogniser** writes any phrase letter by letter. The
# encoder gives one distribution per audio frame over the 28 characters plus a **blank** "_"
# ("nothing new here"), but which frames belong to which letter is unknown. CTC (Graves et al.
# 2006) sums over all **alignments**: one symbol per frame which, after merging repeated symbols
# and then removing blanks, reads as the transcript ("tt_uu_rr_n" reads "turn"; "o_ff_f" reads
# "off": a blank must separate a double letter). Its loss is
#
# $$\mathcal{L}_{\text{CTC}} = -\log \sum_{a \in \mathcal{B}^{-1}(y)} \prod_{t=1}^{T} p_t(a_t),$$
#
# with $\mathcal{B}$ the merge-then-drop map. The sum has exponentially many terms, but a dynamic
# programme over the extended target $y' = (\_, y_1, \_, y_2, \dots, y_S, \_)$ computes it in
# $O(T \cdot S)$: $\alpha_t(s)$, the probability of all alignments of the first $t$ frames ending at
# $y'_s$, is
#
# $$\alpha_t(s) = p_t(y'_s)\,\big(\alpha_{t-1}(s) + \alpha_{t-1}(s-1) + [\,y'_s \ne \_ \text{ and } y'_s \ne y'_{s-2}\,]\;\alpha_{t-1}(s-2)\big),$$
#
# and the likelihood is $\alpha_T(2S{+}1) + \alpha_T(2S)$. `mmlab.ctc.ctc_nll` is that recursion
# (in log space); its value and gradient against `F.ctc_loss`:

# %%
vocab = CharVocab()
torch.manual_seed(0)
logits = torch.randn(12, len(vocab), dtype=torch.float64, requires_grad=True)
target = torch.tensor(vocab.encode("off"))
ours = ctc_nll(logits.log_softmax(-1), target)
ref = F.ctc_loss(logits.log_softmax(-1)[:, None], target[None], torch.tensor([12]), torch.tensor([3]), reduction="sum")
grads = [torch.autograd.grad(v, logits, retain_graph=True)[0] for v in (ours, ref)]
print(f"ours {ours.item():.6f}, F.ctc_loss {ref.item():.6f}, largest gradient difference {(grads[0] - grads[1]).abs().max():.0e}")
assert torch.allclose(ours, ref, atol=1e-9) and torch.allclose(*grads, atol=1e-9)

# %% [markdown]
# **Greedy decoding** takes the best symbol per frame, merges repeats, then drops blanks. The order
# matters: drop the blanks first and the double letter collapses.

# %%
# NBVAL_CHECK_OUTPUT
path = [vocab.stoi[c] if c != "_" else 0 for c in "oo_ff_ff__"]
frames_lp = torch.log(F.one_hot(torch.tensor(path), len(vocab)).double() * 0.9 + 0.1 / len(vocab))
print("merge, then drop blanks:", vocab.decode(greedy_decode(frames_lp)))
no_blanks = [c for c in "oo_ff_ff__" if c != "_"]
print("drop blanks, then merge:", "".join(c for i, c in enumerate(no_blanks) if i == 0 or c != no_blanks[i - 1]))
assert vocab.decode(greedy_decode(frames_lp)) == "off"

# %% [markdown]
# **Prefix beam search** keeps the `beam` best *prefixes*, each with the summed probability of its
# alignments ending in a blank and in a letter, so a transcript spread over many alignments can win
# against the single best alignment.
#
# ## 7. The recogniser: convolutions, then the Transformer
#
# `mmlab.models.speech.CTCRecogniser`: two 1-D convolutions over time (the second with stride 2,
# halving the frame rate to about 43 a second, still more frames than letters), the course's
# Transformer encoder (chapter 03, sinusoidal positions, padding mask), and a linear layer to 29
# symbols; `F.ctc_loss` trains it, with SpecAugment on the training features (section 8 shows
# what that is, and measures whether it helps). This is the shape of modern acoustic models
# (Conformer, the encoder of Whisper) at toy size.

# %%
# NBVAL_IGNORE_OUTPUT
recogniser, history, seconds = train_model("speech", SCALE, 0)
print(f"trained in {seconds:.0f} s, {sum(p.numel() for p in recogniser.parameters()):,} parameters")

# %%
history.plot(keys=("loss",))
plt.title("CTC loss")
plt.show()
held_refs = [u.text for u in data.held_out]
held_hyps = transcribe(recogniser, held_x)
for ref, hyp in list(zip(held_refs, held_hyps))[::3]:
    print(f"{'ok ' if hyp == ref else '   '} heard {hyp!r:34} said {ref!r}")

# %% [markdown]
# **Word and character error rates.** The edit distance counts the fewest substitutions, deletions
# and insertions between hypothesis and reference; the WER divides the edits over the whole test
# set by the number of **reference** words (dividing by the hypothesis length would reward saying
# less). `mmlab.error_rates` writes it out; `jiwer` is the library speech papers use.

# %%
test_refs = [u.text for u in data.test]
results = {}
for name, tensors, refs in (("unheard voices", test_x, test_refs), ("unheard phrases", held_x, held_refs)):
    for beam in (None, 8):
        r = evaluate_recogniser(recogniser, tensors, refs, beam=beam)
        results[(name, beam)] = r
        decoder = "greedy" if beam is None else f"beam {beam}"
        print(f"{name:16} {decoder:7} CER {r['cer']:.3f}  WER {r['wer']:.3f}  whole phrase right {r['exact']:.2f}")
assert abs(word_error_rate(held_hyps, held_refs) - jiwer.wer(held_refs, held_hyps)) < 1e-12
assert abs(char_error_rate(held_hyps, held_refs) - jiwer.cer(held_refs, held_hyps)) < 1e-12
held = results[("unheard phrases", None)]
assert held["wer"] < 0.35 and held["exact"] > 0.3  # phrases it never heard, by voices it never heard

# %% [markdown]
# The recogniser writes out whole phrases it never heard, spoken by voices it never heard: it
# learned letters and words, not a list of phrases. Its character error rate is far below its word
# error rate: most mistakes are one letter in a word (see the lines above), which CTC allows
# because each frame's letter is predicted independently: nothing in the model knows which
# spellings are words. Prefix beam search recovers some (the table above, on this one model); a
# language model over the output, or a grammar, recovers more. `parse_command` maps a transcript
# to its command only when every word is right:

# %%
commands = [parse_command(h) for h in held_hyps]
right = sum(c == (u.action, u.device, u.place) for c, u in zip(commands, data.held_out))
print(f"commands fully understood on unheard phrases: {right} of {len(commands)}")
assert right == sum(h == r for h, r in zip(held_hyps, held_refs))

# %% [markdown]
# ## 8. Noise
#
# The same unheard-voice test set, synthesised again at a chosen signal-to-noise ratio (training
# saw 10-30 dB):

# %%
noise = {}
for snr in (None, 20.0, 10.0, 0.0, -10.0):
    noisy_x = speech_tensors(resynthesised(data.test, snr), settings.n_mels)
    noise[snr] = evaluate_recogniser(recogniser, noisy_x, test_refs)
    label = "clean" if snr is None else f"{snr:+.0f} dB"
    print(f"{label:8} CER {noise[snr]['cer']:.3f}  WER {noise[snr]['wer']:.3f}")
assert noise[-10.0]["wer"] > noise[20.0]["wer"] + 0.2  # far louder noise than in training breaks it
assert noise[None]["wer"] > noise[20.0]["wer"]  # and silence it never heard costs, too

# %% [markdown]
# Read the rows against the training range (10-30 dB). Inside it the error rates stay near the
# test set's. Outside it, on both sides, they rise: at 0 dB (noise as loud as the voice) and below
# the recogniser breaks, and **clean** audio is worse than 20 dB too, because in training there was
# always some noise, so the silence between words never sat at the log floor. A model learns the
# conditions it trained on, quiet included.
#
# ### Masking: SpecAugment
#
# The recogniser above trained with **SpecAugment** (Park et al. 2019), the recipe's default as in
# most speech recipes: in every training batch, `mmlab.audio.spec_augment` zeroes two random bands
# of up to 6 mel channels and two random stretches of up to 12 frames (inside the utterance) of
# each example, so the model cannot lean on any one band or moment. Here is one training example,
# masked the same way:

# %%
torch.manual_seed(0)
n = int(train_x["lengths"][0])
example = train_x["features"][:1, :, :n]
fig, axes = plt.subplots(1, 2, figsize=(11, 2.5))
for ax, shown, title in zip(axes, (example, spec_augment(example, torch.tensor([n]))), ("as recorded", "masked")):
    ax.imshow(shown[0].numpy(), origin="lower", aspect="auto", cmap="magma")
    ax.set(xlabel="frame", ylabel="mel band", title=f"{data.train[0].text!r}: {title}")
plt.tight_layout()
plt.show()

# %% [markdown]
# Masking is a regulariser: it makes the training task harder so that what is learned transfers.
# Does it help *this* recogniser on voices it never heard? Three seeds with it (seed 0 is the model
# above) and three without, same steps, same data:

# %%
# NBVAL_IGNORE_OUTPUT
recognisers = {(0, settings.spec_augment): recogniser}


def recogniser_run(seed, spec_augment):
    if (seed, spec_augment) not in recognisers:
        recognisers[(seed, spec_augment)] = train_model("speech", SCALE, seed, spec_augment=spec_augment)[0]
    model = recognisers[(seed, spec_augment)]
    unheard, held_out = evaluate_recogniser(model, test_x, test_refs), evaluate_recogniser(model, held_x, held_refs)
    return {"CER": unheard["cer"], "WER": unheard["wer"], "held-out phrases WER": held_out["wer"]}


masked = repeat(lambda seed: recogniser_run(seed, True), SEEDS, label="SpecAugment")
unmasked = repeat(lambda seed: recogniser_run(seed, False), SEEDS, label="no masking")

# %%
print(comparison_table([masked, unmasked], ["CER", "WER", "held-out phrases WER"]))
gap = unmasked.mean("WER") - masked.mean("WER")
spread = max(masked.std("WER"), unmasked.std("WER"))
print(f"unheard-voice WER without masking minus with it: {gap:+.3f} (means of three seeds); larger seed std {spread:.3f}")
assert abs(gap) < spread  # within the seed-to-seed spread: no claim either way

# %% [markdown]
# At this budget (300 steps on 23 minutes of audio) masking makes no difference the seeds can
# see: the two means differ by less than one seed's run differs from another's, so this chapter
# claims nothing either way. SpecAugment made its name with long training on large data
# (LibriSpeech's 960 hours), where a model otherwise starts to memorise its training set; a short
# run has little to regularise. The recipe keeps it on, as the GPU preset trains 13 times longer
# (unmeasured here), and `python -m mmlab.train speech --set spec_augment=False` is the switch.
# Section 5 showed a failure the seeds *can* see: no log in the features.
#
# ## 9. Speaking back
#
# The assistant answers with the same engine (text-to-speech), and the recogniser can check what
# it hears of its own voice:

# %%
# NBVAL_IGNORE_OUTPUT
heard = next((h for h in held_hyps if parse_command(h)), held_hyps[0])
command = parse_command(heard)
reply = f"okay, {command[0]} the {command[2]} {command[1]}" if command else "sorry, say that again"
spoken = synthesise(reply, voice="en-us+f2", rate=170)
print("heard:", heard, "| reply:", reply)
display(Audio(spoken, rate=SAMPLE_RATE))
print("the recogniser hears its own voice say:", transcribe(recogniser, speech_tensors(resynthesised(data.held_out[:1], None)))[0])

# %% [markdown]
# **How neural text-to-speech differs.** eSpeak NG writes rules: a pronunciation dictionary and
# formant tracks per phoneme, intelligible but robotic. Neural TTS learns the sound from recordings:
# an acoustic model (Tacotron 2, FastSpeech 2) turns text or phonemes into a mel spectrogram
# (the very features of section 3, now as output), and a neural **vocoder** (WaveNet, HiFi-GAN)
# turns the mel spectrogram into a waveform. End-to-end models (VITS) join the two, and recent
# systems (VALL-E, and the voice modes of chat assistants) predict discrete audio tokens from a
# neural codec with a GPT-style decoder, which lets them copy a voice from a few seconds of it.
#
# ## 10. Online: a real recogniser and a real data set
#
# With the internet, Whisper (an encoder-decoder: chapter 13's decoder over log-mel frames,
# trained on 680,000 hours) and Google's Speech Commands are one line each:
#
# ```python
# from transformers import pipeline; import datasets
# asr = pipeline("automatic-speech-recognition", model="openai/whisper-tiny")  # instead of transcribe(recogniser, ...)
# asr({"raw": wave, "sampling_rate": SAMPLE_RATE})["text"]
# commands = datasets.load_dataset("google/speech_commands", "v0.02", split="test")  # 16 kHz, 35 words
# ```
#
# ## 11. The demo
#
# Record a command with your microphone (mono, up to 10 s) or upload a WAV file, or type a command
# and press **say it** (a voice the recogniser never heard, with room noise). The app shows the
# waveform and its log-mel spectrogram, the transcript, the command it names, and speaks the reply.
# Your own voice is far from eSpeak's: expect the recogniser, trained on 23 minutes of one
# synthesiser, to struggle with it, which is the point of the held-out-voice numbers above.

# %% tags=["strip-output"]
# NBVAL_IGNORE_OUTPUT
import mmlab.demos  # noqa: E402

demo = mmlab.demos.build_speech_demo(recogniser)
handle = mmlab.demos.show(demo)

# %% [markdown]
# ## Summary
#
# * A waveform becomes a log-mel spectrogram: overlapping windowed frames, their Fourier
#   transforms, triangular filters evenly spaced in mel along the frequency axis, then the log.
# * As an image, the spectrogram feeds chapter 09's CNN and ViT: both well above the majority
#   baseline on voices they never heard, the CNN clearly ahead of the ViT at this data size, and
#   the CNN clearly worse without the log (three seeds each).
# * CTC trains a frame-level recogniser without knowing the alignment; its forward algorithm
#   equals `F.ctc_loss`; greedy decoding merges repeats before dropping blanks.
# * The conv + Transformer recogniser transcribes phrases it never heard, by voices it never heard,
#   measured by WER and CER (equal to `jiwer`'s); prefix beam search lowers both on this model;
#   noise beyond its training range breaks it, and clean audio it never trained on costs too.
# * SpecAugment masking made no difference to the recogniser that three seeds can see at this
#   budget: said as measured, no claim either way.
#
# **Lab:** `labs/14_speech.ipynb`: write the mel filter bank, CTC greedy decoding and the WER.
# **Next:** chapter 15 generates images.
