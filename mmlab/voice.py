"""Chapter 16's voice assistant: chapter 14's recogniser in front, a home to act on, speech behind.

A spoken command ("turn on the garden fan") goes through the CTC recogniser
(:func:`mmlab.recipes.speech.transcribe`); the transcript is the user's message of a chat
(system/user/assistant roles); the command it names is carried out on a simulated :class:`Home`; the
reply ("okay, the garden fan is on") is the assistant's message and is spoken by eSpeak NG. Two ways
to read a transcript as a command: ``exact`` (chapter 14's :func:`~mmlab.data.speech.parse_command`:
every letter right) and ``nearest`` (the grammar's command closest in character edit distance, a
practitioner's first fix for a recogniser that misspells). The task succeeds when the home ends in
the state the speaker asked for (for "check", when the reply reports the right device).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mmlab.data.speech import Utterance, all_commands, command_text, parse_command, synthesise
from mmlab.error_rates import edit_distance

__all__ = ["Home", "Turn", "VoiceAssistant", "nearest_command", "task_success"]

SYSTEM = "you control the lights fans heaters and radios of this home"
NOT_UNDERSTOOD = "sorry, say that again"


def nearest_command(transcript: str) -> tuple[tuple[str, str, str], int]:
    """The grammar's command whose text is closest to ``transcript`` in characters, and that distance."""
    text = " ".join(transcript.split())
    return min(((c, edit_distance(text, command_text(*c))) for c in all_commands()), key=lambda p: p[1])


@dataclass
class Home:
    """Which (device, place) pairs are on; everything starts off."""

    on: set[tuple[str, str]] = field(default_factory=set)

    def apply(self, command: tuple[str, str, str]) -> str:
        """Carry out ``command`` (action, device, place) and return the assistant's reply."""
        action, device, place = command
        if action == "turn on":
            self.on.add((device, place))
        elif action == "turn off":
            self.on.discard((device, place))
        state = "on" if (device, place) in self.on else "off"
        return f"{'okay, ' if action != 'check' else ''}the {place} {device} is {state}"


@dataclass
class Turn:
    """One exchange: what was heard, the command understood (None: not understood), the reply and its audio."""

    transcript: str
    command: tuple[str, str, str] | None
    reply: str
    audio: np.ndarray


class VoiceAssistant:
    """Recogniser -> command -> home -> spoken reply, keeping the chat's messages.

    Args:
        transcribe: ``list[Utterance] -> list[str]`` (chapter 14's recogniser on their log-mel features).
        reading: ``"exact"`` or ``"nearest"`` (see the module's docstring).
        max_distance: with ``"nearest"``, the most character edits accepted; beyond it the assistant asks again.
    """

    def __init__(
        self, transcribe, reading: str = "nearest", max_distance: int = 6, voice: str = "en-us+f2"
    ) -> None:
        if reading not in ("exact", "nearest"):
            raise ValueError(f"reading must be 'exact' or 'nearest', got {reading!r}")
        self.transcribe, self.reading, self.max_distance, self.voice = (
            transcribe,
            reading,
            max_distance,
            voice,
        )
        self.home = Home()
        self.messages: list[dict] = [{"role": "system", "content": SYSTEM}]

    def understand(self, transcript: str) -> tuple[str, str, str] | None:
        if self.reading == "exact":
            return parse_command(transcript)
        command, distance = nearest_command(transcript)
        return command if distance <= self.max_distance else None

    def handle(self, utterances: Sequence[Utterance], speak: bool = True) -> list[Turn]:
        """Hear each utterance in turn, act on it and answer (spoken when ``speak``)."""
        turns = []
        for transcript in self.transcribe(list(utterances)):
            command = self.understand(transcript)
            reply = self.home.apply(command) if command else NOT_UNDERSTOOD
            self.messages += [
                {"role": "user", "content": transcript},
                {"role": "assistant", "content": reply},
            ]
            audio = synthesise(reply, voice=self.voice, rate=170) if speak else np.zeros(0, np.float32)
            turns.append(Turn(transcript, command, reply, audio))
        return turns


def task_success(assistant: VoiceAssistant, utterances: Sequence[Utterance]) -> float:
    """Share of spoken commands carried out right: each is said to a fresh home, and the command the
    assistant acted on must be the one spoken (so the home ends as asked, and a check reports the right device)."""
    turns = assistant.handle(utterances, speak=False)
    wanted = [(u.action, u.device, u.place) for u in utterances]
    return float(np.mean([t.command == w for t, w in zip(turns, wanted, strict=True)]))
