"""What the server runs (chapter 16): a chat backend around a course GPT and an embedding backend.

:class:`ChatBackend` turns OpenAI-style messages into the course's chat template (chapter 07:
``S:``/``U:``/``A:`` markers, one turn per line), generates with chapter 06's sampling
(``temperature``, ``top_p``) and stops at the end-of-turn token (the newline) or at a ``stop``
string. :class:`EmbeddingBackend` wraps any ``texts -> (N, D)`` encoder (the MiniLM of chapter 16's
search module). Errors a client can cause raise :class:`RequestError`, which the app turns into
OpenAI-style error JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mmlab.data.chat import MARKER, WordTokenizer, join_tokens, render_chat
from mmlab.models.gpt import GPT

__all__ = ["ChatBackend", "Choice", "EmbeddingBackend", "RequestError", "message_words", "minilm_backend"]

_PUNCTUATION = re.compile(r"[?!.,;]")
_MARKERS = {m.lower() for m in MARKER.values()}


class RequestError(ValueError):
    """A request the server refuses: ``status`` (400, 404, ...), ``param`` and an OpenAI ``code``."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None, status: int = 400):
        super().__init__(message)
        self.param, self.code, self.status = param, code, status


def message_words(content: str, param: str) -> str:
    """A message as the model's words: lower case, no ``?!.,;``, single spaces (``"What colour is
    grass?"`` reads as ``"what colour is grass"``); refuses the template's role markers."""
    words = _PUNCTUATION.sub(" ", content).lower().split()
    if any(w in _MARKERS for w in words):
        raise RequestError("the markers S:, U: and A: belong to the chat template; remove them", param)
    return " ".join(words)


@dataclass
class Choice:
    """One generated reply: its text, why it ended (``"stop"`` or ``"length"``) and its token count."""

    text: str
    finish_reason: str
    tokens: int


class ChatBackend:
    """A word-level chat GPT (chapters 07-08, or chapter 16's assistant) behind the chat endpoint.

    Args:
        model: the GPT; ``tokenizer``: the :class:`~mmlab.data.chat.WordTokenizer` it was trained with.
    """

    def __init__(self, model: GPT, tokenizer: WordTokenizer) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.block_size = model.config.block_size
        markers = [tokenizer.stoi[m] for m in MARKER.values() if m in tokenizer.stoi]
        self.end_ids = {tokenizer.eot_id, *markers}  # a marker would start another turn

    def prompt_ids(self, messages: Sequence[dict]) -> list[int]:
        """Token ids of ``messages`` (``role``/``content`` dicts, already checked) rendered with the
        generation prompt ``A:``; raises :class:`RequestError` for unknown words or a long prompt."""
        turns = []
        for i, m in enumerate(messages):
            text = message_words(m["content"], f"messages[{i}].content")
            unknown = self.tokenizer.unknown(text)
            if unknown:
                raise RequestError(
                    f"this model knows only its {self.tokenizer.vocab_size} words; unknown in messages[{i}]: "
                    f"{', '.join(unknown[:8])}",
                    f"messages[{i}].content",
                )
            if text:
                turns.append({"role": m["role"], "content": text})
        ids = self.tokenizer.encode(render_chat(turns, add_generation_prompt=True))
        if len(ids) + 1 > self.block_size:
            raise RequestError(
                f"this model's maximum context length is {self.block_size} tokens; the messages take "
                f"{len(ids)} (and the reply needs at least one). Shorten the messages.",
                "messages",
                "context_length_exceeded",
            )
        return ids

    def stream(
        self,
        ids: list[int],
        temperature: float,
        top_p: float,
        max_tokens: int | None,
        stop: Sequence[str] = (),
        generator: torch.Generator | None = None,
    ) -> Iterator[str | Choice]:
        """Yield pieces of the reply's text as they are decided, then its :class:`Choice`.

        Text that could still turn into a ``stop`` string is held back until it cannot, so a
        streamed reply never shows a stop string; the concatenated pieces equal ``Choice.text``.
        """
        room = self.block_size - len(ids) + 1  # the last token generated is never fed back
        steps = room if max_tokens is None else min(max_tokens, room)
        if temperature == 0 or top_p == 0:
            temperature, top_p = 0.0, 1.0  # greedy: only the most likely word survives either way
        idx = torch.tensor([ids])
        hold = max((len(s) for s in stop), default=1) - 1
        words: list[str] = []
        sent, finish, generated = 0, "length", 0
        for token in self.model.generate_stream(
            idx, steps, temperature=temperature, top_p=top_p, generator=generator, use_cache=True
        ):
            t, generated = int(token[0]), generated + 1
            if t in self.end_ids:
                finish = "stop"
                break
            words.append(self.tokenizer.words[t])
            text = join_tokens(words)
            cut = min((text.find(s) for s in stop if s in text), default=-1)
            if cut >= 0:
                text = text[:cut]  # the stop string and what follows are not part of the reply
                if cut > sent:
                    yield text[sent:]
                yield Choice(text, "stop", generated)
                return
            if len(text) - hold > sent:
                yield text[sent : len(text) - hold]
                sent = len(text) - hold
        text = join_tokens(words)
        if len(text) > sent:
            yield text[sent:]
        yield Choice(text, finish, generated)

    def complete(self, ids: list[int], **kwargs) -> Choice:
        """The whole reply at once (see :meth:`stream` for the arguments)."""
        return next(p for p in self.stream(ids, **kwargs) if isinstance(p, Choice))


class EmbeddingBackend:
    """A sentence encoder behind the embeddings endpoint.

    Args:
        encode: ``list[str] -> (N, D)`` float array (unit-length rows for cosine similarity).
        count_tokens: ``str -> int``, the encoder's token count of a text (for limits and usage).
        max_tokens: the longest input accepted (longer ones are refused, not silently cut).
    """

    def __init__(
        self, encode: Callable[[list[str]], np.ndarray], count_tokens: Callable[[str], int], max_tokens: int
    ):
        self.encode, self.count_tokens, self.max_tokens = encode, count_tokens, max_tokens


def minilm_backend() -> EmbeddingBackend:
    """The shipped MiniLM (all-MiniLM-L6-v2, 384 dimensions) through chapter 16's search module: mean
    pooled, unit-length rows. Inputs longer than its 256 word pieces are refused."""
    from mmlab.search.dense import MAX_LENGTH, embed_texts, load_encoder

    tokenizer = load_encoder()[1]

    def count_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    return EmbeddingBackend(lambda texts: embed_texts(texts), count_tokens, MAX_LENGTH)
