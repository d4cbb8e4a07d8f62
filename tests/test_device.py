"""Device selection, seeding and mixed-precision settings."""

import random

import numpy as np
import pytest
import torch

from mmlab.device import amp_settings, environment_report, get_device, seed_everything


def test_cpu_machine_picks_cpu_and_honours_overrides(monkeypatch):
    monkeypatch.delenv("MMLAB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else get_device().type
    assert get_device().type == expected
    assert get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("MMLAB_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised where CUDA is absent")
def test_asking_for_missing_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        get_device("cuda")


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_everything(7)
    first = draw()
    seed_everything(7)
    assert draw() == first


def test_amp_is_off_on_cpu_unless_asked_and_then_bf16():
    assert not amp_settings(torch.device("cpu")).enabled
    forced = amp_settings(torch.device("cpu"), enabled=True)
    assert forced.enabled and forced.dtype == torch.bfloat16 and not forced.use_grad_scaler
    with forced.autocast(torch.device("cpu")):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


@pytest.mark.gpu
def test_cuda_defaults_to_bf16_or_fp16_with_scaler():
    settings = amp_settings(torch.device("cuda"))
    assert settings.enabled
    assert settings.use_grad_scaler == (settings.dtype == torch.float16)


def test_environment_report_names_versions_and_device():
    report = environment_report()
    assert report["torch"] == torch.__version__
    assert report["device"] in {"cpu", "cuda", "mps"}
