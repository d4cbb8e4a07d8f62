"""Chapter 14's audio features against librosa and torch.stft."""

import librosa
import numpy as np
import pytest
import torch

from mmlab.audio import (
    FeatureConfig,
    frame,
    hann_window,
    hz_to_mel,
    log_mel,
    mel_filter_bank,
    mel_to_hz,
    power_spectrogram,
    stft,
)


@pytest.fixture
def signal() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(5000) / 22050
    return (0.5 * np.sin(2 * np.pi * 440 * t) + 0.1 * rng.standard_normal(5000)).astype(np.float32)


def test_frames_are_centred_slices():
    x = torch.arange(10.0)
    frames = frame(x, n_fft=4, hop=2)
    assert frames.shape == (6, 4)
    assert frames[0].tolist() == [0.0, 0.0, 0.0, 1.0]  # two zeros of padding, centred on sample 0
    assert frames[1].tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="shorter than one frame"):
        frame(torch.zeros(3), n_fft=8, hop=2, center=False)


def test_hann_window_is_the_periodic_one():
    np.testing.assert_allclose(hann_window(512).numpy(), torch.hann_window(512).numpy(), atol=1e-7)


def test_stft_matches_librosa_and_torch(signal):
    ours = stft(torch.from_numpy(signal), n_fft=512, hop=256).numpy()
    ref = librosa.stft(signal, n_fft=512, hop_length=256, window="hann", center=True, pad_mode="constant")
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=1e-4)
    theirs = torch.stft(
        torch.from_numpy(signal),
        512,
        256,
        window=torch.hann_window(512),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    np.testing.assert_allclose(ours, theirs.numpy(), atol=2e-3, rtol=1e-4)


def test_mel_scale_round_trip_and_librosa():
    f = torch.tensor([0.0, 700.0, 1000.0, 8000.0], dtype=torch.float64)
    np.testing.assert_allclose(hz_to_mel(f).numpy(), librosa.hz_to_mel(f.numpy(), htk=True), rtol=1e-9)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)).numpy(), f.numpy(), atol=1e-6)
    assert abs(float(hz_to_mel(1000.0)) - 1000.0) < 0.1  # the scale is pinned: 1 kHz is about 1000 mel


@pytest.mark.parametrize("n_mels,f_max", [(40, 8000.0), (80, None), (10, 4000.0)])
def test_mel_filter_bank_matches_librosa(n_mels, f_max):
    ours = mel_filter_bank(22050, 512, n_mels, 0.0, f_max).numpy()
    ref = librosa.filters.mel(sr=22050, n_fft=512, n_mels=n_mels, fmin=0.0, fmax=f_max, htk=True, norm=None)
    assert ours.shape == ref.shape == (n_mels, 257)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    assert (ours.argmax(1)[1:] >= ours.argmax(1)[:-1]).all()  # centres rise with the band index


def test_log_mel_matches_librosa(signal):
    config = FeatureConfig()
    ours = log_mel(torch.from_numpy(signal), config).numpy()
    mel = librosa.feature.melspectrogram(
        y=signal,
        sr=22050,
        n_fft=512,
        hop_length=256,
        window="hann",
        center=True,
        pad_mode="constant",
        power=2.0,
        n_mels=40,
        fmin=0.0,
        fmax=8000.0,
        htk=True,
        norm=None,
    )
    assert ours.shape == (40, config.frames(len(signal)))
    np.testing.assert_allclose(ours, np.log(mel + config.floor), atol=1e-3)
    np.testing.assert_allclose(
        log_mel(torch.from_numpy(signal), config, log=False).numpy(), mel, rtol=1e-3, atol=1e-5
    )


def test_batched_features_equal_one_at_a_time(signal):
    x = torch.from_numpy(signal)
    batch = power_spectrogram(torch.stack([x, 2 * x]))
    np.testing.assert_allclose(batch[1].numpy(), 4 * power_spectrogram(x).numpy(), rtol=1e-4, atol=1e-4)
