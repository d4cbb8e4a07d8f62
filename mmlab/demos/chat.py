"""The chat demo: talk to the tiny chat model of chapters 07-08 in the course's chat template.

``build_chat_demo(model, tokenizer)`` returns a Gradio app with a chat window, a system prompt, the
temperature and the number of new tokens; with ``reward_model`` it also shows the reward model's
score of each reply (chapter 08). The model knows only its small world's words: a message with
other words, an empty one or one longer than the model's context gets a clear message instead of
a reply, never a traceback.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from mmlab.align.reward import RewardModel
from mmlab.data.chat import WordTokenizer, render_chat
from mmlab.demos.core import DemoInputError, friendly_error
from mmlab.models.gpt import GPT

__all__ = ["build_chat_demo", "chat_reply"]


def _history_messages(history: Any) -> list[dict]:
    """Gradio's message-dict history -> our messages (text content only)."""
    messages = []
    for turn in history or []:
        role, content = turn.get("role"), turn.get("content")
        if isinstance(content, list):  # Gradio 6 may give [{"type": "text", "text": ...}]
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        if role in ("user", "assistant") and isinstance(content, str) and not content.startswith("⚠️"):
            messages.append({"role": role, "content": content.split("  [reward")[0].strip()})
    return messages


def chat_reply(
    model: GPT,
    tokenizer: WordTokenizer,
    message: Any,
    history: Any = None,
    system: str = "",
    temperature: Any = 0.0,
    max_tokens: Any = 8,
    generator: torch.Generator | None = None,
) -> str:
    """The assistant's reply to ``message`` after ``history`` (Gradio message dicts), with an
    optional system prompt; raises :class:`DemoInputError` on input the model cannot take."""
    if not isinstance(message, str) or not message.strip():
        raise DemoInputError("The message is empty: type a question, e.g. 'what colour is grass'.")
    try:
        temperature, max_tokens = float(temperature), float(max_tokens)
    except (TypeError, ValueError):
        raise DemoInputError("Temperature and max tokens must be numbers.") from None
    if not math.isfinite(temperature) or temperature < 0:
        raise DemoInputError(
            f"Temperature must be 0 or more (0 = always the most likely word), got {temperature:g}."
        )
    if max_tokens != int(max_tokens) or max_tokens < 1:
        raise DemoInputError(f"Max tokens must be a whole number, 1 or more, got {max_tokens:g}.")
    text = " ".join(message.split())
    system = " ".join((system or "").split())
    unknown = tokenizer.unknown(f"{system} {text}")
    if unknown:
        raise DemoInputError(
            f"This tiny model knows only its world's {tokenizer.vocab_size} words; unknown: {', '.join(unknown[:8])}. "
            "Try 'what colour is grass', 'reverse cat dog' or 'rate fun dull nice'."
        )
    head = [{"role": "system", "content": system}] if system else []
    past = _history_messages(history)
    while True:
        prompt = render_chat([*head, *past, {"role": "user", "content": text}], add_generation_prompt=True)
        ids = tokenizer.encode(prompt)
        block = model.config.block_size
        if len(ids) + 1 <= block or not past:
            break
        past = past[1:]  # forget the oldest turns first: the context is short
    if len(ids) + 1 > block:
        raise DemoInputError(
            f"The message is too long: with the template it is {len(ids)} tokens, and this model reads at most "
            f"{block} (leave room for the reply). Shorten the message or the system prompt."
        )
    steps = min(int(max_tokens), block - len(ids) + 1)
    idx = torch.tensor([ids], device=next(model.parameters()).device)
    out = model.generate(
        idx, steps, temperature=temperature, stop_token=tokenizer.eot_id, generator=generator
    )
    reply = out[0, len(ids) :].tolist()
    reply = reply[: reply.index(tokenizer.eot_id)] if tokenizer.eot_id in reply else reply
    return tokenizer.decode(reply) or "(the model ended its turn without a word)"


def build_chat_demo(
    model: GPT,
    tokenizer: WordTokenizer,
    reward_model: RewardModel | None = None,
    seed: int | None = 0,
    title: str = "Mini chat model",
):
    """A Gradio chat around ``model``; returns the (not launched) ``gr.Blocks``.

    Args:
        model: a :class:`~mmlab.models.gpt.GPT` trained on the chat template (chapter 07).
        tokenizer: the :class:`~mmlab.data.chat.WordTokenizer` it was trained with.
        reward_model: if given, each reply is followed by the reward model's score of it.
        seed: fixes the sampling (each message starts from this seed); None for fresh randomness.
    """
    import gradio as gr

    if not isinstance(model, GPT):
        raise TypeError(f"build_chat_demo needs an mmlab GPT model, got {type(model).__name__}")
    if not (callable(getattr(tokenizer, "encode", None)) and hasattr(tokenizer, "eot_id")):
        raise TypeError("the tokenizer must be the chat WordTokenizer (encode, decode, eot_id)")
    model.eval()

    def respond(message: Any, history: Any, system: Any, temperature: Any, max_tokens: Any) -> str:
        try:
            generator = torch.Generator().manual_seed(seed) if seed is not None else None
            reply = chat_reply(model, tokenizer, message, history, system, temperature, max_tokens, generator)
            if reward_model is not None:
                turns = [{"role": "system", "content": system}] if system and system.strip() else []
                turns += [
                    {"role": "user", "content": " ".join(message.split())},
                    {"role": "assistant", "content": reply},
                ]
                from mmlab.align.reward import score_conversations

                try:
                    score = float(score_conversations(reward_model, tokenizer, [turns])[0])
                    reply = f"{reply}  [reward model: {score:+.2f}]"
                except ValueError:
                    pass  # too long to score: show the reply alone
            return reply
        except Exception as err:  # shown in the chat, never as a traceback
            return friendly_error(err)

    with gr.Blocks(title=title) as app:
        gr.Markdown(
            f"## {title}\nA 2-layer GPT that knows about {tokenizer.vocab_size} words. Ask 'what colour is grass', "
            "'reverse cat dog' or 'rate fun dull nice'. Temperature 0 always picks the most likely word."
        )
        system = gr.Textbox(label="system prompt", value="", elem_id="system")
        with gr.Row():
            temperature = gr.Number(label="temperature", value=0.0, elem_id="temperature")
            max_tokens = gr.Number(label="max tokens", value=8, precision=0, elem_id="max_tokens")
        gr.ChatInterface(
            respond,
            additional_inputs=[system, temperature, max_tokens],
            api_name="chat",
            examples=None,
        )
    app.respond = respond  # the callback, for plain unit tests
    return app
