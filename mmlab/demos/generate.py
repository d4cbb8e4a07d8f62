"""The text-generation demo: type a prompt, pick the sampling settings, watch tokens stream in.

``build_generate_demo(model, tokenizer)`` works with the course's :class:`~mmlab.models.gpt.GPT`
and either tokenizer of :mod:`mmlab.data.tokenizers` (the character one, or a ``transformers``
tokenizer such as the byte-level BPE). Bad settings (an empty prompt, a negative temperature,
top-p above 1, more tokens than allowed, characters the tokenizer does not know) are answered with
a message in the app, never a traceback.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from mmlab.demos.core import MAX_TEXT_CHARS, DemoInputError, friendly_error, localize_app, tr
from mmlab.models.gpt import GPT

__all__ = ["SamplingSettings", "build_generate_demo", "parse_settings", "stream_text"]


@dataclass(frozen=True)
class SamplingSettings:
    """Validated settings: ``top_k`` / ``top_p`` are None when switched off."""

    temperature: float
    top_k: int | None
    top_p: float | None
    max_tokens: int


def _number(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise DemoInputError(f"{name} must be a number, got {str(value)[:20]!r}.") from None
    if not math.isfinite(number):
        raise DemoInputError(f"{name} must be a finite number, got {str(value)[:20]!r}.")
    return number


def parse_settings(temperature: Any, top_k: Any, top_p: Any, max_tokens: Any, limit: int) -> SamplingSettings:
    """Check the demo's inputs and turn them into :class:`SamplingSettings`.

    ``top_k = 0`` and ``top_p = 1`` switch those filters off; ``temperature = 0`` is greedy.
    """
    temperature = _number(temperature, "Temperature")
    if temperature < 0:
        raise DemoInputError(
            f"Temperature must be 0 or more (0 = always the most likely token), got {temperature:g}."
        )
    top_k_value = _number(top_k, "Top-k")
    if top_k_value < 0 or top_k_value != int(top_k_value):
        raise DemoInputError(f"Top-k must be a whole number, 0 (off) or more, got {top_k_value:g}.")
    top_p = _number(top_p, "Top-p")
    if not 0 < top_p <= 1:
        raise DemoInputError(f"Top-p must be above 0 and at most 1 (1 = off), got {top_p:g}.")
    max_tokens_value = _number(max_tokens, "Max tokens")
    if max_tokens_value != int(max_tokens_value) or not 1 <= max_tokens_value <= limit:
        raise DemoInputError(
            f"Max tokens must be a whole number from 1 to {limit}, got {max_tokens_value:g}."
        )
    return SamplingSettings(
        temperature=temperature,
        top_k=int(top_k_value) or None,
        top_p=top_p if top_p < 1 else None,
        max_tokens=int(max_tokens_value),
    )


def _encode(tokenizer: Any, prompt: str) -> list[int]:
    unknown = getattr(tokenizer, "unknown", None)
    if callable(unknown):  # the character tokenizer knows only the corpus's characters
        missing = unknown(prompt)
        if missing:
            shown = ", ".join(repr(c) for c in missing[:10])
            raise DemoInputError(f"The prompt has characters this model never saw: {shown}.")
    return list(tokenizer.encode(prompt))


def stream_text(
    model: GPT,
    tokenizer: Any,
    prompt: Any,
    settings: SamplingSettings,
    generator: torch.Generator | None = None,
) -> Iterator[str]:
    """Yield the generated continuation (without the prompt), growing by one token each time."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise DemoInputError("The prompt is empty: type a few words for the model to continue.")
    if len(prompt) > MAX_TEXT_CHARS:
        raise DemoInputError(
            f"The prompt is {len(prompt):,} characters long; type at most {MAX_TEXT_CHARS:,}."
        )
    ids = _encode(tokenizer, prompt)
    if not ids:
        raise DemoInputError("The prompt gave no tokens: type a few words for the model to continue.")
    device = next(model.parameters()).device
    idx = torch.tensor([ids], dtype=torch.long, device=device)  # (1, T)
    stop = getattr(tokenizer, "eos_token_id", None)
    new: list[int] = []
    for token in model.generate_stream(
        idx,
        settings.max_tokens,
        temperature=settings.temperature,
        top_k=settings.top_k,
        top_p=settings.top_p,
        stop_token=stop,
        use_cache=None,  # the cache when prompt + new tokens fit in the context, else a sliding window
        generator=generator,
    ):
        if stop is not None and int(token) == stop:
            return
        new.append(int(token))
        # Decode everything so far: a byte-level token may hold half a character.
        yield tokenizer.decode(new)


def build_generate_demo(
    model: GPT,
    tokenizer: Any,
    max_tokens_limit: int = 500,
    example: str = "",
    seed: int | None = None,
    title: str = "Mini-GPT: text generation",
):
    """A Gradio app around ``model.generate_stream``; returns the (not launched) ``gr.Blocks``.

    Args:
        model: a :class:`~mmlab.models.gpt.GPT`.
        tokenizer: anything with ``encode(str) -> ids`` and ``decode(ids) -> str``; an
            ``eos_token_id`` attribute, if present, is used as the stop token.
        max_tokens_limit: the most tokens one request may ask for.
        example: the prompt shown at start.
        seed: fixes the sampling (each request starts from this seed) for reproducible output.
    """
    import gradio as gr

    if not isinstance(model, GPT):
        raise TypeError(f"build_generate_demo needs an mmlab GPT model, got {type(model).__name__}")
    if not (callable(getattr(tokenizer, "encode", None)) and callable(getattr(tokenizer, "decode", None))):
        raise TypeError("the tokenizer needs encode(text) and decode(ids) methods")
    if max_tokens_limit < 1:
        raise ValueError(f"max_tokens_limit must be >= 1, got {max_tokens_limit}")
    model.eval()

    def generate(
        prompt: Any, temperature: Any, top_k: Any, top_p: Any, max_tokens: Any
    ) -> Iterator[tuple[str, str]]:
        try:
            settings = parse_settings(temperature, top_k, top_p, max_tokens, max_tokens_limit)
            generator = torch.Generator().manual_seed(seed) if seed is not None else None
            text, count = "", 0
            for text in stream_text(model, tokenizer, prompt, settings, generator):
                count += 1
                yield text, tr(f"{count} tokens")
            yield text, tr(f"Done: {count} tokens.")
        except Exception as err:  # shown in the app, never as a traceback
            yield "", friendly_error(err)

    with gr.Blocks(title=title) as app:
        gr.Markdown(
            f"## {title}\nThe model continues your prompt one token at a time. Temperature 0 always picks "
            "the most likely token; top-k 0 and top-p 1 switch those filters off."
        )
        with gr.Row(equal_height=True):
            prompt = gr.Textbox(
                label="prompt",
                value=example,
                lines=2,
                max_lines=4,
                elem_id="prompt",
                max_length=MAX_TEXT_CHARS,
                scale=4,
            )
            button = gr.Button("Generate", variant="primary", elem_id="generate", scale=1)
        with gr.Row():
            temperature = gr.Number(label="temperature", value=0.8, elem_id="temperature")
            top_k = gr.Number(label="top-k (0 = off)", value=0, precision=0, elem_id="top_k")
            top_p = gr.Number(label="top-p (1 = off)", value=0.95, elem_id="top_p")
            max_tokens = gr.Number(
                label=f"max tokens (1 to {max_tokens_limit})",
                value=min(200, max_tokens_limit),
                elem_id="max_tokens",
            )
        message = gr.Markdown(elem_id="message")  # above the text, so it is in view without scrolling
        output = gr.Textbox(label="continuation", lines=4, max_lines=4, elem_id="output")
        inputs = [prompt, temperature, top_k, top_p, max_tokens]
        button.click(generate, inputs, [output, message], api_name="generate")
        prompt.submit(generate, inputs, [output, message], api_visibility="private")
    app.generate = generate  # the callback, for plain unit tests
    return localize_app(app)
