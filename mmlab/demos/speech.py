"""Speech demo (chapter 14): record or upload a spoken command, or type one and press "say it";
see the waveform and the log-mel spectrogram, the transcript, the recognised command, and hear the
spoken reply.

The pieces behind the app are plain functions, tested without a browser: :func:`read_wav` turns an
uploaded file into 22,050 Hz mono samples or a clear message (not a WAV file, stereo, a sample rate
it does not take, too long, too short, silent, clipped); :func:`recognise` transcribes samples;
:func:`say` synthesises a typed command. Uploads reach the callback only through the app's audio
box (the course's :func:`~mmlab.demos.core.harden` refuses a request that names another path).
"""

from __future__ import annotations

import functools
import io
import os
import wave
from typing import Any

import numpy as np

from mmlab.data.speech import SAMPLE_RATE, add_noise_at_snr, parse_command, synthesise
from mmlab.demos.core import DemoInputError, check_text, friendly_error, localize_app, tr

__all__ = ["build_speech_demo", "read_wav", "recognise", "render_audio", "say"]

MAX_SECONDS = 10.0  # the recogniser was trained on phrases of 1-2 s
MIN_SECONDS = 0.2
RATES = (16000, 22050, 24000, 32000, 44100, 48000)  # resampled to 22,050 Hz
SILENCE = 0.01  # a peak below this (of full scale) is silence
CLIPPED = 0.01  # more than 1% of samples at full scale: the recording is clipped
MAX_COMMAND_CHARS = 80
DEMO_SNR_DB = 20.0  # "say it" adds this much noise: the recogniser trained on 10-30 dB


def read_wav(path: Any) -> np.ndarray:
    """An uploaded WAV file as float32 mono samples at 22,050 Hz, or a :class:`DemoInputError`."""
    name = os.path.basename(str(path))[:60]
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate, n = (
                wav.getnchannels(),
                wav.getsampwidth(),
                wav.getframerate(),
                wav.getnframes(),
            )
            if channels != 1:
                raise DemoInputError(
                    f"'{name}' has {channels} channels (stereo); the recogniser takes one channel: "
                    "record or save the file in mono."
                )
            if width != 2:
                raise DemoInputError(f"'{name}' has {8 * width}-bit samples; save it as 16-bit PCM WAV.")
            if rate not in RATES:
                raise DemoInputError(
                    f"'{name}' is sampled at {rate:,} Hz; this demo takes {', '.join(f'{r:,}' for r in RATES)} Hz."
                )
            if n > MAX_SECONDS * rate:
                raise DemoInputError(
                    f"'{name}' is {n / rate:.0f} s long; say one command, at most {MAX_SECONDS:.0f} s."
                )
            frames = wav.readframes(n)
    except DemoInputError:
        raise
    except (wave.Error, EOFError, OSError, ValueError) as err:
        raise DemoInputError(
            f"'{name}' is not a WAV file this demo can read ({str(err)[:60]}): upload a .wav."
        ) from None
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return check_audio(resample(samples, rate))


def resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """``samples`` at ``rate`` Hz -> 22,050 Hz (polyphase filtering: no aliasing)."""
    if rate == SAMPLE_RATE:
        return samples
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, SAMPLE_RATE)
    return resample_poly(samples, SAMPLE_RATE // g, rate // g).astype(np.float32)


def check_audio(samples: np.ndarray) -> np.ndarray:
    """Refuse audio too short, silent or clipped, with a message that says what to do."""
    seconds = len(samples) / SAMPLE_RATE
    if seconds < MIN_SECONDS:
        raise DemoInputError(f"The recording is {seconds:.2f} s long: say a whole command (about a second).")
    peak = float(np.abs(samples).max())
    if peak < SILENCE:
        raise DemoInputError("The recording is silent: check the microphone and speak closer to it.")
    if float(np.mean(np.abs(samples) >= 0.999)) > CLIPPED:
        raise DemoInputError(
            "The recording is clipped (too loud): move back from the microphone or lower its gain."
        )
    return samples


def recognise(model, samples: np.ndarray, beam: int = 8) -> tuple[str, str]:
    """(transcript, the command it names or a note that it names none)."""
    import torch

    from mmlab.ctc import prefix_beam_search
    from mmlab.recipes.speech import VOCAB, normalised_log_mel

    features, lengths = normalised_log_mel([samples], model.config.n_mels)
    with torch.no_grad():
        log_probs, out_lengths = model.eval()(features, lengths)
    text = VOCAB.decode(prefix_beam_search(log_probs[0, : int(out_lengths[0])], beam=beam))
    command = parse_command(text)
    if command is None:
        return text, tr("not a command of the grammar (action + the + place + device)")
    action, device, place = command
    return text, tr(f"{action} → {device} in the {place}")


@functools.lru_cache(maxsize=256)
def say(text: str, voice: str = "en-us+m7", noisy: bool = True) -> np.ndarray:
    """``text`` spoken by ``voice`` (by default one the recogniser never heard), with room noise
    unless ``noisy`` is False. Results are kept, so the same text always gives the same samples
    (the synthesiser itself keeps a little state from one call to the next)."""
    samples = synthesise(text, voice=voice, rate=170)
    if noisy:
        samples = np.clip(add_noise_at_snr(samples, DEMO_SNR_DB, np.random.default_rng(0)), -1.0, 1.0)
    return samples


def render_audio(samples: np.ndarray):
    """A PIL image: the waveform above its log-mel spectrogram."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import torch
    from matplotlib.figure import Figure
    from PIL import Image

    from mmlab.audio import log_mel

    figure = Figure(figsize=(6, 3.2), dpi=80)
    top, bottom = figure.subplots(2, 1, sharex=False)
    top.plot(np.arange(len(samples)) / SAMPLE_RATE, samples, lw=0.4)
    top.set(xlim=(0, len(samples) / SAMPLE_RATE), ylim=(-1, 1), ylabel="waveform")
    bottom.imshow(log_mel(torch.from_numpy(samples)).numpy(), origin="lower", aspect="auto", cmap="magma")
    bottom.set(xlabel="frame (11.6 ms)", ylabel="mel band")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def _int16(samples: np.ndarray) -> tuple[int, np.ndarray]:
    return SAMPLE_RATE, (np.clip(samples, -1, 1) * 32767).astype(np.int16)


def build_speech_demo(recogniser, title: str = "Speech: hear a command, answer it"):
    """A Gradio app around the chapter's CTC recogniser; not launched."""
    import gradio as gr

    from mmlab.models.speech import CTCRecogniser

    if not isinstance(recogniser, CTCRecogniser):
        raise TypeError(f"build_speech_demo needs an mmlab CTCRecogniser, got {type(recogniser).__name__}")
    recogniser.eval()

    def answer(samples: np.ndarray):
        text, command = recognise(recogniser, samples)
        parsed = parse_command(text)
        reply = f"okay, {parsed[0]} the {parsed[2]} {parsed[1]}" if parsed else "sorry, say that again"
        spoken = say(reply, voice="en-us+f2", noisy=False)
        return render_audio(samples), text, command, _int16(spoken)

    def listen(audio: Any):
        """Callback: an uploaded or recorded WAV -> (picture, transcript, command, reply, message)."""
        try:
            if audio is None or audio == "":
                raise DemoInputError("No audio yet: record a command or upload a WAV file.")
            if not isinstance(audio, str | os.PathLike):
                raise DemoInputError("The audio could not be read: record or upload it with the audio box.")
            picture, text, command, reply = answer(read_wav(audio))
        except Exception as err:  # shown in the app, never as a traceback
            return None, "", "", None, friendly_error(err)
        return picture, text, command, reply, tr("Heard and answered.")

    def say_it(text: Any):
        """Callback: a typed command -> (its sound, picture, transcript, command, reply, message)."""
        try:
            words = check_text(text, "command", limit=MAX_COMMAND_CHARS, example="turn on the kitchen light")
            words = words.lower()
            if any(not (c.isascii() and (c.isalpha() or c in " '")) for c in words):
                raise DemoInputError("Type the command in English letters only (no digits or punctuation).")
            samples = say(words)
            picture, heard, command, reply = answer(samples)
        except Exception as err:
            return None, None, "", "", None, friendly_error(err)
        return (
            _int16(samples),
            picture,
            heard,
            command,
            reply,
            tr(f"Said {words!r} with room noise ({DEMO_SNR_DB:.0f} dB)."),
        )

    with gr.Blocks(title=title) as app:
        gr.Markdown(
            f"### {title}\nType a command and press **Say it**, or record or upload a mono 16-bit WAV "
            f"(up to {MAX_SECONDS:.0f} s): the CTC recogniser transcribes it and the assistant answers."
        )
        with gr.Row():
            with gr.Column():
                typed = gr.Textbox(
                    label="type a command", value="turn on the kitchen light", max_length=MAX_COMMAND_CHARS,
                    elem_id="typed",
                )  # fmt: skip
                say_button = gr.Button("Say it", variant="primary", elem_id="say")
                message = gr.Markdown(elem_id="message")
                audio = gr.Audio(
                    sources=["upload", "microphone"], type="filepath", format=None, label="or record / upload",
                    elem_id="audio",
                )  # fmt: skip
                listen_button = gr.Button("Recognise", elem_id="listen")
                spoken = gr.Audio(label="what was said", type="numpy", interactive=False, elem_id="spoken")
            with gr.Column():
                transcript = gr.Textbox(label="transcript", elem_id="transcript")
                command = gr.Textbox(label="command", elem_id="command")
                picture = gr.Image(
                    label="waveform and log-mel", type="pil", format="png", elem_id="picture", height=220
                )
                reply = gr.Audio(label="the reply", type="numpy", interactive=False, elem_id="reply")
        outputs = [picture, transcript, command, reply, message]
        listen_button.click(listen, [audio], outputs, api_name="listen")
        say_button.click(say_it, [typed], [spoken, *outputs], api_name="say_it")
        typed.submit(say_it, [typed], [spoken, *outputs], api_visibility="private")
    app.listen, app.say_it = listen, say_it  # the callbacks, for plain unit tests
    return localize_app(app)
