"""A chat template and a generated instruction set with checkable answers (chapters 07-08).

**The template.** A conversation is a list of messages ``{"role": ..., "content": ...}`` with roles
``system``, ``user`` and ``assistant``. It is rendered to plain text, one turn per line, each line
starting with a role marker::

    S: be helpful
    U: what colour is grass
    A: sure green thanks

``render_chat(messages, add_generation_prompt=True)`` ends with ``"A:"`` so a language model
continues with the assistant's reply; the newline that closes a turn is the stop token.
:func:`parse_chat` turns the text back into messages. :func:`render_with_roles` also returns the
role of every token, which is what supervised fine-tuning needs to put the loss on the
assistant's tokens only. Tokens are words (:class:`WordTokenizer`, about 80 of them), so a whole
conversation is about 15 tokens and a tiny GPT trains in seconds on a CPU.

**The world.** Three tasks whose answers a program can check:

* ``colour``: "what colour is grass" -> "green" (a lookup of ten facts);
* ``reverse``: "reverse cat dog" -> "dog cat" (copy two words in the other order);
* ``rate``: "rate fun dull nice" -> "good" (the majority of three review words).

Replies come in different styles, the way different annotators write: a kind word before and/or
after the answer ("sure", "glad", "thanks"), a rude one ("ugh", "meh", "duh"), or none. The
politeness of a reply is :func:`politeness_score` (kind words minus rude words), the readable
ground truth of the preference set in :mod:`mmlab.data.preferences`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ASSISTANT",
    "PAD",
    "POLITE",
    "ROLE_IDS",
    "RUDE",
    "SYSTEM",
    "SYSTEM_PROMPTS",
    "TEMPLATE",
    "VOCAB",
    "WordTokenizer",
    "USER",
    "Instruction",
    "chat_tokenizer",
    "extract_answer",
    "make_instructions",
    "parse_chat",
    "politeness_score",
    "render_chat",
    "render_with_roles",
    "join_tokens",
    "group_by_task",
    "split_instructions",
    "split_tokens",
    "styled_reply",
]

# Role ids of each token, for loss masks: padding, the template's markers, then the three roles.
PAD, TEMPLATE, SYSTEM, USER, ASSISTANT = 0, 1, 2, 3, 4
ROLE_IDS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT}
MARKER = {"system": "S:", "user": "U:", "assistant": "A:"}
ROLE_OF_MARKER = {v: k for k, v in MARKER.items()}
END = "\n"  # closes every turn; the assistant's END is the stop token
PAD_TOKEN, UNK_TOKEN = "<pad>", "<unk>"

POLITE = ("sure", "glad", "thanks")
RUDE = ("ugh", "meh", "duh")
SYSTEM_PROMPTS = ("be helpful", "be brief", "you are a bot")

COLOURS = {
    "grass": "green", "leaf": "green", "sky": "blue", "sea": "blue", "snow": "white",
    "milk": "white", "coal": "black", "ink": "black", "blood": "red", "rose": "red",
}  # fmt: skip
COLOUR_TEMPLATES = ("what colour is {}", "colour of {}")
WORDS = ("cat", "dog", "sun", "hat", "cup", "box", "pen", "fox", "owl", "bee")
GOOD_WORDS = ("fun", "nice", "great", "sweet")
BAD_WORDS = ("dull", "awful", "slow", "weak")
OTHER_WORDS = ("what", "colour", "is", "of", "reverse", "rate", "good", "bad", "backwards", "a", "review")
OTHER_WORDS += ("be", "helpful", "brief", "you", "are", "bot", "hello", "hi", "please", "the", "it", "and")


def _vocabulary() -> list[str]:
    words = [PAD_TOKEN, UNK_TOKEN, END, *MARKER.values(), *POLITE, *RUDE]
    words += [*COLOURS, *COLOURS.values(), *WORDS, *GOOD_WORDS, *BAD_WORDS, *OTHER_WORDS]
    return list(dict.fromkeys(words))


VOCAB = _vocabulary()


def split_tokens(text: str) -> list[str]:
    """Words split on spaces; a newline is a token of its own."""
    return re.findall(r"\n|[^ \n]+", text)


def join_tokens(tokens: Sequence[str]) -> str:
    """The inverse of :func:`split_tokens` on rendered chats: words joined by one space, none around a newline."""
    out: list[str] = []
    for token in tokens:
        if token != END and out and out[-1] != END:
            out.append(" ")
        out.append(token)
    return "".join(out)


class WordTokenizer:
    """One token per word of the chat world (about 80), plus the role markers, the newline that
    ends a turn, ``<pad>`` and ``<unk>``. Short sequences make a tiny GPT fast to train on a CPU.

    Same interface as :class:`~mmlab.data.tokenizers.CharTokenizer` (``encode``, ``decode``,
    ``unknown``, ``stoi``, ``vocab_size``, ``to_transformers``).
    """

    def __init__(self, words: Sequence[str] = VOCAB) -> None:
        self.words = list(dict.fromkeys(words))
        self.stoi = {w: i for i, w in enumerate(self.words)}
        self.pad_id, self.eot_id = self.stoi[PAD_TOKEN], self.stoi[END]

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def __len__(self) -> int:
        return self.vocab_size

    def unknown(self, text: str) -> list[str]:
        """Words of ``text`` outside the vocabulary (in order of first appearance)."""
        return list(dict.fromkeys(w for w in split_tokens(text) if w not in self.stoi))

    def encode(self, text: str) -> list[int]:
        """Ids of the words of ``text``; raises ``ValueError`` naming any unknown word."""
        missing = self.unknown(text)
        if missing:
            raise ValueError(
                f"words not in the vocabulary ({self.vocab_size} words): {', '.join(missing[:10])}"
            )
        return [self.stoi[w] for w in split_tokens(text)]

    def decode(self, ids) -> str:
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        return join_tokens([self.words[int(i)] for i in ids])

    def to_transformers(self):
        """The same tokenizer as a ``transformers`` fast tokenizer (ids unchanged), with the newline
        as end-of-sequence token and ``<pad>`` as padding, for TRL."""
        from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
        from transformers import PreTrainedTokenizerFast

        tokenizer = Tokenizer(models.WordLevel(vocab=dict(self.stoi), unk_token=UNK_TOKEN))
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(" ", behavior="removed"),
                pre_tokenizers.Split(Regex("\n"), behavior="isolated"),
            ]
        )
        tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
        return PreTrainedTokenizerFast(
            tokenizer_object=tokenizer,
            eos_token=END,
            pad_token=PAD_TOKEN,
            unk_token=UNK_TOKEN,
            clean_up_tokenization_spaces=False,
        )


def chat_tokenizer() -> WordTokenizer:
    """The word tokenizer of the chat world."""
    return WordTokenizer()


def _check_messages(messages: Sequence[dict]) -> None:
    if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
        raise TypeError(f"messages must be a list of {{'role': ..., 'content': ...}} dicts, got {messages!r}")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise ValueError(f"message {i} must be a dict with exactly 'role' and 'content', got {message!r}")
        if message["role"] not in MARKER:
            raise ValueError(f"message {i} has role {message['role']!r}; roles are {list(MARKER)}")
        content = message["content"]
        if not isinstance(content, str):
            raise ValueError(f"message {i}'s content must be a string, got {type(content).__name__}")
        if END in content:
            raise ValueError(f"message {i}'s content may not contain a newline (it ends a turn): {content!r}")


def render_with_roles(
    messages: Sequence[dict], add_generation_prompt: bool = False
) -> tuple[list[str], list[int]]:
    """The rendered tokens and the role id of each.

    The marker ``"A:"`` belongs to the template (the prompt hands it to the model); the words of a
    turn and the newline that closes it belong to the turn's role, so the assistant learns to
    write its answer *and* to stop.
    """
    _check_messages(messages)
    tokens: list[str] = []
    roles: list[int] = []
    for message in messages:
        role = message["role"]
        body = [*message["content"].split(), END]
        tokens += [MARKER[role], *body]
        roles += [TEMPLATE] + [ROLE_IDS[role]] * len(body)
    if add_generation_prompt:
        tokens.append(MARKER["assistant"])
        roles.append(TEMPLATE)
    return tokens, roles


def render_chat(messages: Sequence[dict], add_generation_prompt: bool = False) -> str:
    """Messages -> text; with ``add_generation_prompt`` the text ends with ``"A:"``."""
    return join_tokens(render_with_roles(messages, add_generation_prompt)[0])


def parse_chat(text: str) -> list[dict]:
    """Text -> messages (the inverse of :func:`render_chat`).

    A last line without its closing newline (a reply being generated, or the bare generation
    prompt ``"A:"``) becomes an assistant message with what is there so far.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    messages = []
    lines = text.split(END)
    for number, line in enumerate(lines, 1):
        if line == "" and number == len(lines):
            break  # the text ended with a complete turn
        marker, _, content = line.partition(" ")
        if marker not in ROLE_OF_MARKER:
            raise ValueError(f"line {number} does not start with a role marker (S:, U:, A:): {line!r}")
        messages.append({"role": ROLE_OF_MARKER[marker], "content": content})
    return messages


def politeness_score(reply: str) -> int:
    """Kind words minus rude words: the ground-truth preference of chapter 08.

    ``politeness_score("sure green thanks") == 2``, ``politeness_score("ugh green") == -1``.
    """
    words = reply.replace(",", " ").replace(".", " ").replace("!", " ").split()
    return sum(w in POLITE for w in words) - sum(w in RUDE for w in words)


def extract_answer(reply: str) -> str:
    """The reply without the style words at either end: ``"sure dog cat thanks" -> "dog cat"``."""
    words = reply.split()
    style = set(POLITE) | set(RUDE)
    while words and words[0] in style:
        words.pop(0)
    while words and words[-1] in style:
        words.pop()
    return " ".join(words)


@dataclass(frozen=True)
class Instruction:
    """One task instance: the user's prompt and the checkable answer."""

    task: str
    prompt: str
    answer: str

    def messages(self, reply: str | None = None, system: str | None = None) -> list[dict]:
        """The conversation: an optional system turn, the prompt, and the reply if given."""
        turns = [{"role": "system", "content": system}] if system else []
        turns.append({"role": "user", "content": self.prompt})
        if reply is not None:
            turns.append({"role": "assistant", "content": reply})
        return turns


def all_instructions() -> list[Instruction]:
    """Every prompt of the world with its answer (20 colour, 90 reverse, 512 rate prompts)."""
    items = [
        Instruction("colour", template.format(thing), colour)
        for thing, colour in COLOURS.items()
        for template in COLOUR_TEMPLATES
    ]
    items += [Instruction("reverse", f"reverse {a} {b}", f"{b} {a}") for a in WORDS for b in WORDS if a != b]
    review = GOOD_WORDS + BAD_WORDS
    for a in review:
        for b in review:
            for c in review:
                good = sum(w in GOOD_WORDS for w in (a, b, c)) >= 2
                items.append(Instruction("rate", f"rate {a} {b} {c}", "good" if good else "bad"))
    return items


def make_instructions(held_out_fraction: float = 0.2, seed: int = 0) -> dict[str, list[Instruction]]:
    """Split the world's prompts into ``train`` and ``held_out`` (no prompt in both), per task.

    Held-out colour prompts ask a known fact in the other phrasing; held-out reverse and rate
    prompts are new word combinations.
    """
    return split_instructions(all_instructions(), held_out_fraction, seed)


def group_by_task(instructions: Sequence[Instruction]) -> list[list[Instruction]]:
    """The instructions grouped by task, tasks in order of first appearance (so a generator can pick
    each task equally often, whatever its number of prompts)."""
    tasks: dict[str, list[Instruction]] = {}
    for item in instructions:
        tasks.setdefault(item.task, []).append(item)
    return list(tasks.values())


def split_instructions(
    items: Sequence[Instruction], held_out_fraction: float = 0.2, seed: int = 0
) -> dict[str, list[Instruction]]:
    """``items`` split into ``train`` and ``held_out`` per task (colour, reverse, rate), shuffled with
    ``seed``: :func:`make_instructions`'s split, also used by the Chinese world (:mod:`mmlab.data.chat_zh`)."""
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
    rng = random.Random(seed)
    split: dict[str, list[Instruction]] = {"train": [], "held_out": []}
    for task in ("colour", "reverse", "rate"):
        group = [item for item in items if item.task == task]
        rng.shuffle(group)
        n_held = max(1, round(held_out_fraction * len(group)))
        split["held_out"] += group[:n_held]
        split["train"] += group[n_held:]
    return split


def styled_reply(answer: str, rng: random.Random, before: str | None = None, after: str | None = None) -> str:
    """The answer with a style word before and after, each drawn as kind, rude or none with equal
    chance (unless given); ``""`` means no word."""

    def draw() -> str:
        kind = rng.randrange(3)
        return rng.choice(POLITE) if kind == 0 else rng.choice(RUDE) if kind == 1 else ""

    before = draw() if before is None else before
    after = draw() if after is None else after
    return " ".join(w for w in (before, answer, after) if w)
