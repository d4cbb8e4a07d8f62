"""Chapter 14's models, features and recipes: shapes, padding, SpecAugment, a short training run."""

import numpy as np
import pytest
import torch

from mmlab.audio import spec_augment
from mmlab.data.speech import Utterance, synthesise
from mmlab.models.speech import (
    CTCRecogniser,
    RecogniserConfig,
    SpectrogramViT,
    command_classifier,
    command_vit,
)
from mmlab.recipes.registry import build_job, resolve_settings
from mmlab.recipes.speech import VOCAB, evaluate_recogniser, speech_tensors, transcribe


def utterance(text: str, gain: float = 1.0) -> Utterance:
    audio = synthesise(text) * gain
    return Utterance(text, "turn on", "light", "kitchen", "en", 175, 50, audio)


def test_recogniser_shapes_and_padding_do_not_leak():
    torch.manual_seed(0)
    model = CTCRecogniser(RecogniserConfig(n_mels=8, d_model=16, n_heads=2, dropout=0.0)).eval()
    x = torch.randn(2, 8, 30)
    x[1, :, 21:] = 0.0  # the second utterance is 21 frames long, then padding
    log_probs, out_lengths = model(x, torch.tensor([30, 21]))
    assert log_probs.shape == (2, 15, len(VOCAB)) and out_lengths.tolist() == [15, 11]
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(2, 15), atol=1e-5)
    alone, _ = model(x[1:, :, :21], torch.tensor([21]))
    assert torch.allclose(alone[0], log_probs[1, :11], atol=1e-5)


def test_command_classifier_takes_any_length():
    model = command_classifier(12)
    assert model(torch.randn(3, 1, 40, 100)).shape == model(torch.randn(3, 1, 40, 37)).shape == (3, 12)


def test_command_vit_sees_every_utterance_on_the_same_canvas():
    torch.manual_seed(0)
    model = command_vit(12, frames=60, image_size=20, patch_size=5, d=16, n_heads=2).eval()
    x = torch.randn(2, 1, 40, 45)
    padded = torch.nn.functional.pad(x, (0, 30))  # the same utterances in a batch padded to 75 frames
    assert model(x).shape == (2, 12)
    assert torch.allclose(model(x), model(padded), atol=1e-5)  # padding past the canvas changes nothing
    assert torch.allclose(model(x), model(padded[..., :60]), atol=1e-5)
    assert model.encoder.vit.config.n_patches == 16


def test_the_recipe_builds_the_vit_classifier_and_its_loss():
    job = build_job("speech-commands", overrides=dict(architecture="vit", repeats=1, max_steps=1))
    assert isinstance(job.model.encoder, SpectrogramViT)
    loss, metrics = job.loss_fn(job.model, next(iter(job.train_loader)))
    assert loss.dim() == 0 and loss.item() > 0 and 0 <= metrics["accuracy"] <= 1


def test_spec_augment_masks_bands_and_frames_within_the_utterance():
    torch.manual_seed(0)
    x = torch.randn(64, 40, 100).abs() + 1.0
    lengths = torch.full((64,), 50)
    out = spec_augment(x, lengths, freq_masks=1, freq_width=5, time_masks=1, time_width=10)
    zeroed = out == 0
    assert 0 < zeroed.float().mean() < 0.3
    band_masked = zeroed.all(-1).sum(1)  # whole bands zeroed, per example
    assert band_masked.max() <= 5 and band_masked.float().mean() > 1
    frames_masked = zeroed.all(1)
    assert not frames_masked[:, 50:].any()  # time masks stay inside the 50 real frames
    assert torch.equal(out[~zeroed], x[~zeroed])


def test_features_are_normalised_per_utterance_so_gain_drops_out():
    loud, quiet = utterance("check the office radio"), utterance("check the office radio", gain=0.1)
    tensors = speech_tensors([loud, quiet])
    f, n = tensors["features"], int(tensors["lengths"][0])
    assert abs(float(f[0, :, :n].mean())) < 1e-4 and abs(float(f[0, :, :n].std()) - 1) < 0.01
    assert (f[0, :, n:] == 0).all()
    speech = f[0] > 0  # louder than average: the gain drops out there (silence sits on the log floor)
    # a tenth of the amplitude shifts raw log-mel by 2 ln 10 = 4.6; normalised, by a fraction of one std
    assert (f[0][speech] - f[1][speech]).abs().mean() < 0.25
    assert VOCAB.decode(tensors["targets"][0, : tensors["target_lengths"][0]].tolist()) == loud.text
    assert tensors["intents"].tolist() == [0, 0]


@pytest.mark.slow
def test_a_short_ctc_run_learns_and_evaluates(monkeypatch, tmp_path):
    monkeypatch.setenv("MMLAB_CACHE", str(tmp_path))
    from mmlab.train import Trainer

    torch.manual_seed(0)
    job = build_job("speech", overrides=dict(repeats=1, max_steps=60, progress=False, d_model=32, d_ff=64))
    history = Trainer(job.model, job.loss_fn, job.train_loader, None, job.config).fit()
    _, losses = history.series("loss")
    assert losses[-1] < 0.7 * losses[0]
    batch = next(iter(job.eval_loader))
    texts = transcribe(job.model, batch)
    assert len(texts) == len(batch["lengths"]) and all(isinstance(t, str) for t in texts)
    refs = [VOCAB.decode(t[:n].tolist()) for t, n in zip(batch["targets"], batch["target_lengths"])]
    metrics = evaluate_recogniser(job.model, batch, refs, beam=4)
    assert set(metrics) == {"cer", "wer", "exact"} and 0 <= metrics["cer"] and np.isfinite(metrics["wer"])


def test_recipes_are_registered():
    assert resolve_settings("speech").spec_augment is True
    assert resolve_settings("speech-commands", "gpu").batch_size == 128
    with pytest.raises(ValueError, match="architecture"):
        build_job("speech-commands", overrides=dict(architecture="rnn", repeats=1))
