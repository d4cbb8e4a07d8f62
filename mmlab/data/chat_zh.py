"""The chat world in Chinese, one token per character (issue 21: the Chinese edition's chat and GPT
demos, chapters 06-07).

The same three checkable tasks as :mod:`mmlab.data.chat`, from Chinese templates:

* ``colour``: "雪是什么颜色" -> "白色" (ten facts, two phrasings);
* ``reverse``: "倒着说猫狗" -> "狗猫" (two characters in the other order);
* ``rate``: "评价棒闷美" -> "好评" (the majority of three review characters).

Replies carry a style word before and/or after the answer, kind ("好的", "乐意", "谢谢"), rude
("唉", "切", "哼") or none, as in English.

**Characters as tokens.** Chinese has no spaces between words, so the tokenizer is character level
(:class:`ChineseChatTokenizer`: every character of the world, the role markers, the newline that
ends a turn, ``<pad>`` and ``<unk>``). The world's texts are stored spaced, one character per
word ("雪 是 什 么 颜 色", see :func:`split_chars`), so the template and the fine-tuning code of chapter
07 (:func:`~mmlab.data.chat.render_with_roles`, :func:`~mmlab.align.sft.encode_conversations`)
work on them unchanged; the tokenizer reads spaced and unspaced text alike and decodes without
spaces.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from mmlab.data.chat import (
    END,
    MARKER,
    PAD_TOKEN,
    UNK_TOKEN,
    Instruction,
    WordTokenizer,
    group_by_task,
    split_instructions,
)

__all__ = [
    "EXAMPLES_ZH",
    "POLITE_ZH",
    "RUDE_ZH",
    "SYSTEM_PROMPTS_ZH",
    "ChineseChatTokenizer",
    "all_instructions_zh",
    "chinese_corpus",
    "chinese_chat_tokenizer",
    "extract_answer_zh",
    "make_conversations_zh",
    "make_instructions_zh",
    "split_chars",
    "styled_reply_zh",
    "join_chars",
    "world_corpus_zh",
]

POLITE_ZH = ("好的", "乐意", "谢谢")
RUDE_ZH = ("唉", "切", "哼")
SYSTEM_PROMPTS_ZH = ("请帮忙", "简短点", "你是机器人")
COLOURS_ZH = {
    "草": "绿色", "叶": "绿色", "天": "蓝色", "海": "蓝色", "雪": "白色",
    "奶": "白色", "煤": "黑色", "墨": "黑色", "血": "红色", "火": "红色",
}  # fmt: skip
COLOUR_TEMPLATES_ZH = ("{}是什么颜色", "{}的颜色")
WORDS_ZH = ("猫", "狗", "日", "帽", "杯", "盒", "笔", "狐", "鸟", "蜂")
GOOD_ZH = ("妙", "棒", "美", "甜")
BAD_ZH = ("闷", "烂", "慢", "弱")
EXAMPLES_ZH = ("雪是什么颜色", "倒着说猫狗", "评价棒闷美")
_TOKEN = re.compile(r"\n|[SUA]:|\S")  # a turn's end, a role marker, or one character


def split_chars(text: str) -> str:
    """``"雪是什么颜色"`` -> ``"雪 是 什 么 颜 色"``: one character per word (spaces dropped)."""
    return " ".join(c for c in text if not c.isspace())


def join_chars(text: str) -> str:
    """The inverse of :func:`split_chars`: ``"好 的 白 色"`` -> ``"好的白色"``."""
    return "".join(text.split(" "))


class ChineseChatTokenizer(WordTokenizer):
    """One token per character of the Chinese chat world, plus the role markers (``S:``, ``U:``,
    ``A:``), the newline, ``<pad>`` and ``<unk>``: the interface of
    :class:`~mmlab.data.chat.WordTokenizer`, so chapter 07's training and demo code take it as is.

    Text is read a character at a time (spaces are ignored; a role marker is one token) and decoded
    without spaces: ``decode(encode("U: 雪是什么颜色\\nA:")) == "U: 雪是什么颜色\\nA:"``.
    """

    char_level = True  # the chat demo reads this: no words, characters
    examples = EXAMPLES_ZH  # prompts the demo suggests

    def tokens(self, text: str) -> list[str]:
        return _TOKEN.findall(text)

    def unknown(self, text: str) -> list[str]:
        """Characters of ``text`` outside the vocabulary (in order of first appearance)."""
        return list(dict.fromkeys(t for t in self.tokens(text) if t not in self.stoi))

    def encode(self, text: str) -> list[int]:
        """Ids of the characters (and markers) of ``text``; ``ValueError`` naming unknown characters."""
        missing = self.unknown(text)
        if missing:
            raise ValueError(
                f"characters not in the vocabulary ({self.vocab_size} characters): {', '.join(missing[:10])}"
            )
        return [self.stoi[t] for t in self.tokens(text)]

    def decode(self, ids) -> str:
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        out = []
        for token in (self.words[int(i)] for i in ids):
            out.append(f"{token} " if token in MARKER.values() else token)
        return "".join(out)


def _characters() -> list[str]:
    texts = [
        *POLITE_ZH,
        *RUDE_ZH,
        *SYSTEM_PROMPTS_ZH,
        *COLOURS_ZH,
        *COLOURS_ZH.values(),
        *COLOUR_TEMPLATES_ZH,
    ]
    texts += [*WORDS_ZH, *GOOD_ZH, *BAD_ZH, "倒着说", "评价", "好评", "差评", "是", "的。"]
    return sorted({c for text in texts for c in text if c not in "{}"})


def chinese_chat_tokenizer() -> ChineseChatTokenizer:
    """The character tokenizer of the Chinese chat world (about 60 characters)."""
    return ChineseChatTokenizer([PAD_TOKEN, UNK_TOKEN, END, *MARKER.values(), *_characters()])


def all_instructions_zh() -> list[Instruction]:
    """Every prompt with its answer, split_chars (20 colour, 90 reverse, 512 rate prompts, as in English)."""
    items = [
        Instruction("colour", split_chars(template.format(thing)), split_chars(colour))
        for thing, colour in COLOURS_ZH.items()
        for template in COLOUR_TEMPLATES_ZH
    ]
    items += [
        Instruction("reverse", split_chars(f"倒着说{a}{b}"), split_chars(b + a))
        for a in WORDS_ZH
        for b in WORDS_ZH
        if a != b
    ]
    review = GOOD_ZH + BAD_ZH
    for a in review:
        for b in review:
            for c in review:
                good = sum(w in GOOD_ZH for w in (a, b, c)) >= 2
                items.append(
                    Instruction(
                        "rate", split_chars(f"评价{a}{b}{c}"), split_chars("好评" if good else "差评")
                    )
                )
    return items


def make_instructions_zh(held_out_fraction: float = 0.2, seed: int = 0) -> dict[str, list[Instruction]]:
    """``train`` and ``held_out`` prompts, split per task as :func:`~mmlab.data.chat.make_instructions`."""
    return split_instructions(all_instructions_zh(), held_out_fraction, seed)


def styled_reply_zh(answer: str, rng: random.Random) -> str:
    """The (split_chars) answer with a style word before and after, each kind, rude or none."""

    def draw() -> str:
        kind = rng.randrange(3)
        return rng.choice(POLITE_ZH) if kind == 0 else rng.choice(RUDE_ZH) if kind == 1 else ""

    before, after = draw(), draw()
    return split_chars(before + join_chars(answer) + after)


def extract_answer_zh(reply: str) -> str:
    """The reply without style words at either end, join_chars: ``"好的狗猫谢谢"`` -> ``"狗猫"``."""
    text, style = join_chars(reply), (*POLITE_ZH, *RUDE_ZH)
    changed = True
    while changed:
        changed = False
        for word in style:
            if text.startswith(word) and len(text) > len(word):
                text, changed = text[len(word) :], True
            if text.endswith(word) and len(text) > len(word):
                text, changed = text[: -len(word)], True
    return text


def world_corpus_zh(instructions: Sequence[Instruction], n_lines: int = 3000, seed: int = 0) -> str:
    """Plain sentences about the world, split_chars, one a line: "雪是白色的。", "猫狗倒着说是狗猫。",
    "棒闷美是好评。" (each task equally often): chapter 07's pretraining text, in Chinese."""
    rng = random.Random(seed)
    tasks = group_by_task(instructions)
    lines = []
    for _ in range(n_lines):
        item = rng.choice(rng.choice(tasks))
        prompt, answer = join_chars(item.prompt), join_chars(item.answer)
        if item.task == "colour":
            lines.append(f"{prompt[0]}是{answer}的。")
        elif item.task == "reverse":
            lines.append(f"{prompt.removeprefix('倒着说')}倒着说是{answer}。")
        else:
            lines.append(f"{prompt.removeprefix('评价')}是{answer}。")
    return "\n".join(split_chars(line) for line in lines) + "\n"


def chinese_corpus(n_lines: int = 3000, seed: int = 0) -> str:
    """The Chinese edition's text for chapter 06's character GPT: :func:`world_corpus_zh` over every
    prompt of the world, join_chars ("雪是白色的。\\n猫狗倒着说是狗猫。\\n...")."""
    return "\n".join(
        join_chars(line) for line in world_corpus_zh(all_instructions_zh(), n_lines, seed).split("\n")
    )


def make_conversations_zh(
    instructions: Sequence[Instruction], n: int, system_fraction: float = 0.25, seed: int = 0
) -> list[list[dict]]:
    """``n`` split_chars conversations (as :func:`~mmlab.align.sft.make_sft_conversations`): a random task
    and prompt, sometimes a system prompt, a reply in a random style."""
    rng = random.Random(seed)
    tasks = group_by_task(instructions)
    conversations = []
    for _ in range(n):
        item = rng.choice(rng.choice(tasks))
        system = split_chars(rng.choice(SYSTEM_PROMPTS_ZH)) if rng.random() < system_fraction else None
        conversations.append(item.messages(styled_reply_zh(item.answer, rng), system=system))
    return conversations
