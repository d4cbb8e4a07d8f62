"""Chapter 14's synthesiser (eSpeak NG through ctypes) and spoken-command data set."""

import subprocess
import sys

import numpy as np
import pytest

from mmlab.data import speech
from mmlab.data.speech import (
    HELD_OUT_COMMANDS,
    SAMPLE_RATE,
    TEST_VOICES,
    TRAIN_VOICES,
    add_noise_at_snr,
    all_commands,
    command_text,
    intent_names,
    make_speech_commands,
    parse_command,
    synthesise,
)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MMLAB_CACHE", str(tmp_path))


def test_synthesise_speaks_english_and_mandarin():
    audio = synthesise("turn on the kitchen light")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.5 * SAMPLE_RATE < len(audio) < 3 * SAMPLE_RATE  # about a second of speech
    assert 0.05 < np.abs(audio).max() <= 1.0
    assert len(synthesise("打开灯", voice="cmn")) > 0.3 * SAMPLE_RATE


def test_rate_voice_and_pitch_change_the_sound():
    slow, fast = synthesise("check the radio", rate=120), synthesise("check the radio", rate=300)
    assert len(slow) > 1.5 * len(fast)
    again = [len(synthesise("check the radio")) for _ in range(2)]
    assert abs(again[0] - again[1]) < 100  # the engine keeps a little state: a few samples at most
    assert not np.array_equal(
        synthesise("check", voice="en+f3")[:2000], synthesise("check", voice="en+m1")[:2000]
    )


def test_bad_voice_and_settings_are_refused():
    with pytest.raises(ValueError, match="no voice"):
        synthesise("hello", voice="no-such-voice")
    with pytest.raises(ValueError, match="rate"):
        synthesise("hello", rate=5)


def test_a_sequence_of_calls_is_reproducible_across_processes():
    script = (
        "from mmlab.data.speech import synthesise; import hashlib; print(hashlib.md5(b''.join("
        "synthesise('check the radio', rate=r).tobytes() for r in (120, 175, 175))).hexdigest())"
    )
    runs = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert len(runs) == 1


def test_every_voice_exists():
    for voice in TRAIN_VOICES + TEST_VOICES:
        assert len(synthesise("fan", voice=voice)) > 0


def test_grammar_and_intents():
    commands = all_commands()
    assert len(commands) == 60 and len(set(commands)) == 60
    assert len(intent_names()) == 12
    assert parse_command("turn  off the garden heater ") == ("turn off", "heater", "garden")
    assert parse_command("turn off the garden") is None
    train = [c for c in commands if c not in HELD_OUT_COMMANDS]
    for action, device, place in HELD_OUT_COMMANDS:  # each part and pair still occurs in training
        assert any(c[0] == action and c[1] == device for c in train)
        assert any(c[1] == device and c[2] == place for c in train)
        assert any(c[0] == action and c[2] == place for c in train)


def test_add_noise_hits_the_snr():
    rng = np.random.default_rng(0)
    clean = np.sin(np.linspace(0, 500, 50000)).astype(np.float32)
    noisy = add_noise_at_snr(clean, 10.0, rng)
    snr = 10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2))
    assert abs(snr - 10.0) < 0.2


def test_splits_hold_out_voices_and_compositions(tmp_path):
    data = make_speech_commands(repeats=1)
    assert len(data.train) == 54 * len(TRAIN_VOICES)
    assert len(data.test) == 54 * len(TEST_VOICES) and len(data.held_out) == 6 * len(TEST_VOICES)
    assert {u.voice for u in data.train}.isdisjoint(u.voice for u in data.test + data.held_out)
    train_texts = {u.text for u in data.train}
    assert {u.text for u in data.held_out} == {command_text(*c) for c in HELD_OUT_COMMANDS}
    assert train_texts.isdisjoint(u.text for u in data.held_out)
    assert all(u.text == command_text(u.action, u.device, u.place) for u in data.train)
    assert all(np.abs(u.audio).max() <= 1.0 for u in data.train)
    assert len(list((tmp_path / "speech").glob("*.npz"))) == 3  # cached, one file per split


def test_cache_gives_the_same_data_without_the_synthesiser(monkeypatch):
    first = make_speech_commands(repeats=1)

    def no_synthesis(*args):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(speech.Espeak, "synthesise", no_synthesis)
    again = make_speech_commands(repeats=1)
    for a, b in zip(first.train + first.held_out, again.train + again.held_out):
        assert a.text == b.text and a.voice == b.voice
        np.testing.assert_array_equal(a.audio, b.audio)


def test_resynthesised_sets_the_noise_level(monkeypatch):
    data = make_speech_commands(repeats=1)
    tone = 0.1 * np.sin(np.linspace(0, 3000, 30000)).astype(np.float32)  # quiet: nothing is clipped
    asked = []
    monkeypatch.setattr(speech, "synthesise", lambda *spec: asked.append(spec) or tone)
    clean = speech.resynthesised(data.test[:3], None)
    noisy = speech.resynthesised(data.test[:3], 0.0)
    assert asked[:3] == [(u.text, u.voice, u.rate, u.pitch) for u in data.test[:3]]
    for u, c, n in zip(data.test, clean, noisy):
        assert (c.text, c.voice, c.rate) == (u.text, u.voice, u.rate)
        np.testing.assert_array_equal(c.audio, tone)
        noise_db = 10 * np.log10(np.mean(tone**2) / np.mean((n.audio - tone) ** 2))
        assert abs(noise_db) < 0.2  # 0 dB: noise as loud as the voice
