"""Speech synthesised offline, and the spoken-command data set built from it (chapter 14).

The voice is eSpeak NG, a formant synthesiser: ``espeakng-loader`` ships ``libespeak-ng`` and its
voice data inside a pip wheel, and :class:`Espeak` drives the library through ``ctypes``
(``espeak_Initialize`` with synchronous output, ``espeak_SetSynthCallback``,
``espeak_SetVoiceByName``, ``espeak_Synth``). It returns 22,050 Hz 16-bit samples; no system
package, no download, a few milliseconds per phrase.

The data set is a small grammar of home commands, ``{action} the {place} {device}`` ("turn on the
kitchen light"), spoken by several voice variants at random rates and pitches, with random gain and
added noise. Voices and some phrase compositions are held out: the test sets hold voices the models
never heard and action-place-device combinations they never saw together.
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import json
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mmlab.cache import cache_dir

__all__ = [
    "ACTIONS",
    "DEVICES",
    "HELD_OUT_COMMANDS",
    "PLACES",
    "SAMPLE_RATE",
    "TEST_VOICES",
    "TRAIN_VOICES",
    "Espeak",
    "SpeechCommands",
    "Utterance",
    "add_noise_at_snr",
    "all_commands",
    "command_text",
    "intent_names",
    "make_speech_commands",
    "parse_command",
    "resynthesised",
    "synthesise",
]

SAMPLE_RATE = 22050  # what eSpeak NG produces
ACTIONS = ("turn on", "turn off", "check")
DEVICES = ("light", "fan", "heater", "radio")
PLACES = ("kitchen", "bedroom", "garden", "office", "hallway")
# Never spoken in training; every word and every pair of parts still occurs in other phrases.
HELD_OUT_COMMANDS = (
    ("turn on", "fan", "garden"),
    ("turn off", "light", "office"),
    ("check", "heater", "kitchen"),
    ("turn on", "radio", "bedroom"),
    ("turn off", "heater", "hallway"),
    ("check", "fan", "bedroom"),
)
# eSpeak NG voices: an accent ("en", "en-us", ...) plus a variant ("+m3": male 3, "+f2": female 2).
TRAIN_VOICES = (
    "en+m1",
    "en+m3",
    "en+f1",
    "en+f3",
    "en-us+m2",
    "en-us+f2",
    "en-us+m4",
    "en+klatt",
    "en-gb-scotland+m5",
    "en-029+f4",
)
TEST_VOICES = ("en-us+m7", "en+f5", "en-gb-x-rp+m6")

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3  # espeak_PARAMETER values
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class Espeak:
    """eSpeak NG through ``ctypes``: one library per process, one synthesis at a time (it is global state).

    The same sequence of calls gives the same samples in every process, but the engine keeps a
    little state from one phrase to the next: saying a phrase twice can differ by a few samples.
    """

    _instance: Espeak | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,  # text
            ctypes.c_size_t,  # its size in bytes, with the final NUL
            ctypes.c_uint,  # position
            ctypes.c_int,  # position type
            ctypes.c_uint,  # end position
            ctypes.c_uint,  # flags
            ctypes.c_void_p,  # unique identifier
            ctypes.c_void_p,  # user data
        ]
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if self.sample_rate != SAMPLE_RATE:
            raise RuntimeError(f"eSpeak NG did not start (it returned {self.sample_rate})")
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept alive: the library holds a pointer to it
        self.lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> Espeak:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _collect(self, wav, n: int, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # 0: go on synthesising

    def synthesise(self, text: str, voice: str = "en", rate: int = 175, pitch: int = 50) -> np.ndarray:
        """``text`` spoken by ``voice`` at ``rate`` words per minute and ``pitch`` (0-100): int16 samples."""
        if not 80 <= rate <= 450 or not 0 <= pitch <= 100:
            raise ValueError(f"rate must be 80-450 words a minute and pitch 0-100, got {rate}, {pitch}")
        encoded = text.encode("utf-8")
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"eSpeak NG has no voice {voice!r}")
            self.lib.espeak_SetParameter(_RATE, int(rate), 0)
            self.lib.espeak_SetParameter(_PITCH, int(pitch), 0)
            self._chunks = []
            status = self.lib.espeak_Synth(encoded, len(encoded) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
            chunks, self._chunks = self._chunks, []
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status}")
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


def synthesise(text: str, voice: str = "en", rate: int = 175, pitch: int = 50) -> np.ndarray:
    """``text`` as 22,050 Hz float32 samples in [-1, 1] (English voices "en..."; "cmn" speaks Mandarin)."""
    return Espeak.get().synthesise(text, voice, rate, pitch).astype(np.float32) / 32768.0


def command_text(action: str, device: str, place: str) -> str:
    return f"{action} the {place} {device}"


def all_commands() -> list[tuple[str, str, str]]:
    """Every (action, device, place) of the grammar: 3 x 4 x 5 = 60."""
    return list(itertools.product(ACTIONS, DEVICES, PLACES))


def intent_names() -> list[str]:
    """The classifier's classes: what to do to which device (12), whatever the place."""
    return [f"{a} {d}" for a, d in itertools.product(ACTIONS, DEVICES)]


def parse_command(text: str) -> tuple[str, str, str] | None:
    """(action, device, place) of a transcript that is exactly a grammar phrase, else None."""
    for action, device, place in all_commands():
        if " ".join(text.split()) == command_text(action, device, place):
            return action, device, place
    return None


@dataclass(frozen=True)
class Utterance:
    """One spoken command: its text and parts, who said it and how, and the float32 samples."""

    text: str
    action: str
    device: str
    place: str
    voice: str
    rate: int
    pitch: int
    audio: np.ndarray

    @property
    def intent(self) -> int:
        """Index into :func:`intent_names`."""
        return ACTIONS.index(self.action) * len(DEVICES) + DEVICES.index(self.device)


@dataclass
class SpeechCommands:
    """The splits: ``train`` (training voices, training phrases), ``test`` (voices never heard,
    training phrases) and ``held_out`` (voices never heard saying phrases never heard)."""

    train: list[Utterance]
    test: list[Utterance]
    held_out: list[Utterance]


def _speak_all(specs: list[tuple[str, str, int, int]], cache: bool) -> list[np.ndarray]:
    """Synthesise ``(text, voice, rate, pitch)`` specs, through one cached ``.npz`` file per list."""
    import espeakng_loader

    key = json.dumps([Path(espeakng_loader.get_library_path()).resolve().name, specs])
    path = cache_dir("speech") / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
    if cache and path.exists():
        with np.load(path) as stored:
            return np.split(stored["samples"], stored["offsets"][1:-1])
    waves = [Espeak.get().synthesise(*spec) for spec in specs]
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        offsets = np.cumsum([0] + [len(w) for w in waves])
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, samples=np.concatenate(waves), offsets=offsets)
        os.replace(tmp, path)  # atomic: two processes writing the same file cannot leave half of one
    return waves


def add_noise_at_snr(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``audio`` plus white noise at a signal-to-noise ratio of ``snr_db`` decibels."""
    power = float(np.mean(audio.astype(np.float64) ** 2)) + 1e-12
    noise = rng.standard_normal(len(audio), dtype=np.float32) * np.float32(
        np.sqrt(power / 10 ** (snr_db / 10))
    )
    return audio.astype(np.float32) + noise


def _utterances(
    commands, voices, repeats: int, rng: np.random.Generator, snr_db: tuple[float, float] | None, cache: bool
) -> list[Utterance]:
    specs, parts = [], []
    for command, voice, _ in itertools.product(commands, voices, range(repeats)):
        rate, pitch = int(rng.integers(140, 221)), int(rng.integers(25, 76))
        specs.append((command_text(*command), voice, rate, pitch))
        parts.append(command)
    out = []
    for (text, voice, rate, pitch), (action, device, place), wave in zip(
        specs, parts, _speak_all(specs, cache)
    ):
        audio = wave.astype(np.float32) / 32768.0
        audio = audio * rng.uniform(0.3, 1.0)  # a random gain: near or far from the microphone
        if snr_db is not None:
            audio = np.clip(add_noise_at_snr(audio, rng.uniform(*snr_db), rng), -1.0, 1.0)
        out.append(Utterance(text, action, device, place, voice, rate, pitch, audio))
    return out


def make_speech_commands(
    repeats: int = 2,
    test_repeats: int = 1,
    snr_db: tuple[float, float] | None = (10.0, 30.0),
    seed: int = 0,
    cache: bool = True,
) -> SpeechCommands:
    """The spoken-command data set.

    ``train``: the 54 training phrases x :data:`TRAIN_VOICES` x ``repeats`` (a random rate and pitch
    each time); ``test``: those phrases x :data:`TEST_VOICES` x ``test_repeats``; ``held_out``:
    the 6 :data:`HELD_OUT_COMMANDS` x :data:`TEST_VOICES` x ``test_repeats``. Each utterance gets a
    random gain and, unless ``snr_db`` is None, white noise at a random SNR in that range.
    """
    rng = np.random.default_rng(seed)
    train_commands = [c for c in all_commands() if c not in HELD_OUT_COMMANDS]
    train = _utterances(train_commands, TRAIN_VOICES, repeats, rng, snr_db, cache)
    test = _utterances(train_commands, TEST_VOICES, test_repeats, rng, snr_db, cache)
    held_out = _utterances(HELD_OUT_COMMANDS, TEST_VOICES, test_repeats, rng, snr_db, cache)
    return SpeechCommands(train, test, held_out)


def resynthesised(utterances: list[Utterance], snr_db: float | None, seed: int = 0) -> list[Utterance]:
    """The same phrases, voices, rates and pitches spoken again, at unit gain, with white noise at
    exactly ``snr_db`` (None: clean): the same test set at a chosen noise level."""
    rng = np.random.default_rng(seed)
    out = []
    for u in utterances:
        audio = synthesise(u.text, u.voice, u.rate, u.pitch)
        if snr_db is not None:
            audio = np.clip(add_noise_at_snr(audio, snr_db, rng), -1.0, 1.0)
        out.append(replace(u, audio=audio))
    return out
