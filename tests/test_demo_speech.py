"""The speech demo: reading WAV files (and refusing bad ones clearly), and the app through gradio_client."""

import wave

import numpy as np
import pytest
import torch
from PIL import Image

from mmlab.data.speech import SAMPLE_RATE, synthesise
from mmlab.demos.core import DemoInputError, show
from mmlab.demos.speech import build_speech_demo, read_wav, recognise, say
from mmlab.models.speech import CTCRecogniser, RecogniserConfig


def write_wav(path, samples, rate=SAMPLE_RATE, channels=1, width=2, frames=None):
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        if frames is not None:
            wav.writeframes(frames)
        else:
            data = (np.clip(samples, -1, 1) * 32767).astype("<i2")
            wav.writeframes(np.repeat(data, channels).tobytes())
    return path


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return CTCRecogniser(RecogniserConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32)).eval()


@pytest.fixture
def speech():
    return synthesise("turn on the kitchen light")


def test_reads_a_good_file_and_resamples(tmp_path, speech):
    np.testing.assert_allclose(read_wav(write_wav(tmp_path / "a.wav", speech)), speech, atol=1e-4)
    t = np.arange(48000) / 48000
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    resampled = read_wav(write_wav(tmp_path / "b.wav", tone, rate=48000))
    assert abs(len(resampled) - SAMPLE_RATE) <= 1
    spectrum = np.abs(np.fft.rfft(resampled))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(resampled) - 440) < 2  # still 440 Hz


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p, s: write_wav(p, s, channels=2), "stereo"),
        (lambda p, s: write_wav(p, s, rate=8000), "sampled at 8,000 Hz"),
        (lambda p, s: write_wav(p, s, width=1, frames=b"\x80" * 1000), "8-bit samples"),
        (lambda p, s: write_wav(p, np.zeros(SAMPLE_RATE)), "silent"),
        (lambda p, s: write_wav(p, np.sign(s) * 1.0), "clipped"),
        (lambda p, s: write_wav(p, s[:1000]), "whole command"),
        (lambda p, s: write_wav(p, np.zeros(1), frames=b"\x00\x00" * int(SAMPLE_RATE * 600)), "600 s long"),
        (lambda p, s: p.write_bytes(b"this is not audio") or p, "not a WAV file"),
        (lambda p, s: p.write_bytes(b"") or p, "not a WAV file"),
    ],
)
def test_bad_files_get_clear_messages(tmp_path, speech, make, message):
    path = make(tmp_path / "bad.wav", speech)
    with pytest.raises(DemoInputError, match=message):
        read_wav(path)


def test_say_is_repeatable_and_recognise_returns_text(model):
    a, b = say("check the garden fan"), say("check the garden fan")
    assert a is b and a.dtype == np.float32
    text, command = recognise(model, a, beam=2)
    assert isinstance(text, str) and isinstance(command, str)


def test_callbacks_turn_errors_into_messages(model, tmp_path):
    app = build_speech_demo(model)
    *_, shown = app.listen(None)
    assert "No audio yet" in shown
    *_, shown = app.say_it("turn on 2 lights!")
    assert "English letters only" in shown
    *_, shown = app.say_it("")
    assert "command is empty" in shown
    spoken, picture, text, command, reply, shown = app.say_it("Turn on the kitchen light")
    assert spoken[0] == SAMPLE_RATE and isinstance(picture, Image.Image) and reply[0] == SAMPLE_RATE
    assert "Said 'turn on the kitchen light'" in shown


def test_through_gradio_client(model, tmp_path, speech):
    from gradio_client import Client, handle_file

    app = build_speech_demo(model)
    with show(app, inline=False) as handle:
        client = Client(handle.url, verbose=False, download_files=str(tmp_path))
        endpoints = list(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
        assert endpoints == ["/listen", "/say_it"]
        picture, text, command, reply, message = client.predict(
            handle_file(str(write_wav(tmp_path / "good.wav", speech))), api_name="/listen"
        )
        with Image.open(picture) as image:
            assert image.format == "PNG"
        assert message == "Heard and answered." and reply is not None
        for bad, expected in [
            (write_wav(tmp_path / "stereo.wav", speech, channels=2), "stereo"),
            (write_wav(tmp_path / "quiet.wav", np.zeros(SAMPLE_RATE)), "silent"),
        ]:
            *_, message = client.predict(handle_file(str(bad)), api_name="/listen")
            assert expected in message
        spoken, picture, text, command, reply, message = client.predict(
            "check the office radio", api_name="/say_it"
        )
        with wave.open(spoken) as wav:
            assert wav.getframerate() == SAMPLE_RATE and wav.getnchannels() == 1
        assert "Said 'check the office radio'" in message


def test_registered_in_mmlab_demos():
    import mmlab.demos

    assert mmlab.demos.build_speech_demo is build_speech_demo
