"""The chat demo: talk to the tiny chat model of chapters 07-08 in the course's chat template.

``build_chat_demo(model, tokenizer)`` returns a Gradio app with a chat window, a system prompt, the
temperature and the number of new tokens; with ``reward_model`` it also shows the reward model's
score of each reply (chapter 08). The model knows only its small world's words: a message with
other words, an empty one or one longer than the model's context gets a clear message instead of
a reply, never a traceback. Ordinary typing is normalised first (capitals, ``?``, ``.``, ``!`` and
commas: "What colour is the sky?" reads as "what colour is the sky"); the template's role markers
(``S:``, ``U:``, ``A:``) are refused inside a message. The history is checked and cut to the most
recent turns that fit the model's context, and a turn the demo refused is left out of it.

With the Chinese edition's model (chapter 07 trains it; its tokenizer is the character-level
:class:`~mmlab.data.chat_zh.ChineseChatTokenizer`) the demo reads Chinese a character at a time
("雪是什么颜色？"), suggests Chinese prompts and names any character outside the model's vocabulary.
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch

from mmlab.align.reward import RewardModel
from mmlab.data.chat import MARKER, WordTokenizer, render_chat
from mmlab.demos.core import MAX_TEXT_CHARS, DemoInputError, friendly_error, localize_app, tr
from mmlab.models.gpt import GPT

__all__ = ["build_chat_demo", "chat_reply", "normalise_message"]

_PUNCTUATION = re.compile(r"[?!.,;？！。，；、]")
_MARKERS = {m.lower() for m in MARKER.values()}
EXAMPLES = ("what colour is grass", "reverse cat dog", "rate fun dull nice")  # the English world's


def normalise_message(message: Any) -> str:
    """A typed message as the model's words: lower case, no ``?!.,;``, single spaces.

    Raises :class:`DemoInputError` for an empty or overlong message, or one holding a role marker
    of the chat template (``S:``, ``U:``, ``A:``), which would let a message forge other turns.
    """
    if not isinstance(message, str) or not message.strip():
        raise DemoInputError("The message is empty: type a question, e.g. 'what colour is grass'.")
    if len(message) > MAX_TEXT_CHARS:
        raise DemoInputError(
            f"The message is {len(message):,} characters long; type at most {MAX_TEXT_CHARS:,}."
        )
    words = _PUNCTUATION.sub(" ", message).lower().split()
    if any(w in _MARKERS for w in words):
        raise DemoInputError(
            "The markers S:, U: and A: belong to the chat template: type the message without them."
        )
    if not words:
        raise DemoInputError("The message has no words: type a question, e.g. 'what colour is grass'.")
    return " ".join(words)


def _history_messages(history: Any, tokenizer: WordTokenizer, keep: int) -> list[dict]:
    """Gradio's message-dict history -> our messages: the last ``keep`` at most, text only.

    A turn the demo refused (its reply starts with the warning sign) is left out with the user
    message that caused it, and so is a user turn the model cannot read (unknown words, a role
    marker). A history that is not a list of ``{"role": "user" | "assistant", "content": ...}``
    is refused with a message.
    """
    if history is None:
        return []
    if not isinstance(history, (list, tuple)):
        raise DemoInputError("The chat history is not valid: press Clear and start again.")
    messages: list[dict] = []
    skip_reply = False  # the last user turn was left out: leave out its reply too
    for turn in list(history)[-2 * keep :]:  # only the most recent turns can fit in the context
        role = turn.get("role") if isinstance(turn, dict) else None
        content = turn.get("content") if isinstance(turn, dict) else None
        if isinstance(content, list):  # Gradio 6 may give [{"type": "text", "text": ...}]
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if role not in ("user", "assistant") or not isinstance(content, str):
            raise DemoInputError("The chat history is not valid: press Clear and start again.")
        if role == "assistant" and (skip_reply or content.startswith("⚠️")):
            if not skip_reply and messages and messages[-1]["role"] == "user":
                messages.pop()  # a refused turn: forget it and the message that caused it
            skip_reply = False
            continue
        try:
            text = normalise_message(content.split("  [reward")[0])
        except DemoInputError:
            text = ""
        readable = bool(text) and not tokenizer.unknown(text)
        skip_reply = role == "user" and not readable
        if readable:
            messages.append({"role": role, "content": text})
    return messages[-keep:]


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
    text = normalise_message(message)
    if isinstance(temperature, bool) or isinstance(max_tokens, bool):
        raise DemoInputError("Temperature and max tokens must be numbers.")
    try:
        temperature, max_tokens = float(temperature), float(max_tokens)
    except (TypeError, ValueError, OverflowError):
        raise DemoInputError("Temperature and max tokens must be numbers.") from None
    if not math.isfinite(temperature) or temperature < 0:
        raise DemoInputError(
            f"Temperature must be 0 or more (0 = always the most likely word), got {temperature:g}."
        )
    if not math.isfinite(max_tokens) or max_tokens != int(max_tokens) or max_tokens < 1:
        raise DemoInputError(f"Max tokens must be a whole number, 1 or more, got {max_tokens:g}.")
    if system is not None and not isinstance(system, str):
        raise DemoInputError("The system prompt must be text.")
    system = normalise_message(system) if system and system.strip() else ""
    unknown = tokenizer.unknown(f"{system} {text}")
    if unknown and getattr(tokenizer, "char_level", False):  # the Chinese world: one token per character
        raise DemoInputError(
            f"This tiny model knows only the {tokenizer.vocab_size} characters of its world (its training "
            f"vocabulary); unknown: {', '.join(unknown[:8])}. Try '{tokenizer.examples[0]}', "
            f"'{tokenizer.examples[1]}' or '{tokenizer.examples[2]}'."
        )
    if unknown:
        raise DemoInputError(
            f"This tiny model knows only its world's {tokenizer.vocab_size} words; unknown: {', '.join(unknown[:8])}. "
            "Try 'what colour is grass', 'reverse cat dog' or 'rate fun dull nice'."
        )
    head = [{"role": "system", "content": system}] if system else []
    block = model.config.block_size
    past = _history_messages(history, tokenizer, keep=block // 2)  # a turn takes 2 tokens at least
    while True:
        prompt = render_chat([*head, *past, {"role": "user", "content": text}], add_generation_prompt=True)
        ids = tokenizer.encode(prompt)
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
    ends = {tokenizer.eot_id, *(tokenizer.stoi[m] for m in MARKER.values())}  # a marker starts another turn
    reply = reply[: next((i for i, t in enumerate(reply) if t in ends), len(reply))]
    return tokenizer.decode(reply) or tr("(the model ended its turn without a word)")


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
                turns = (
                    [{"role": "system", "content": normalise_message(system)}]
                    if system and system.strip()
                    else []
                )
                turns += [
                    {"role": "user", "content": normalise_message(message)},
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

    examples = getattr(tokenizer, "examples", EXAMPLES)
    units = "Chinese characters" if getattr(tokenizer, "char_level", False) else "English words"
    with gr.Blocks(title=title) as app:
        gr.Markdown(
            f"## {title}\nA 2-layer GPT that knows about {tokenizer.vocab_size} {units}. Ask '{examples[0]}', "
            f"'{examples[1]}' or '{examples[2]}'. Temperature 0 always picks the most likely token."
        )
        with gr.Row():
            system = gr.Textbox(label="system prompt", value="", elem_id="system", scale=3, max_length=200)
            temperature = gr.Number(label="temperature", value=0.0, minimum=0, elem_id="temperature")
            max_tokens = gr.Number(label="max tokens", value=8, precision=0, minimum=1, elem_id="max_tokens")
        gr.ChatInterface(
            respond,
            additional_inputs=[system, temperature, max_tokens],
            api_name="chat",
            examples=None,
            chatbot=gr.Chatbot(height=260, elem_id="chatbot"),
            textbox=gr.Textbox(
                placeholder=f"type a message, e.g. {examples[0]}",
                elem_id="message_box",
                max_length=MAX_TEXT_CHARS,
            ),
        )
    app.respond = respond  # the callback, for plain unit tests
    return localize_app(app)
