"""Chinese templates of the shapes world's questions, answers and captions (issue 21; chapter 12's
Chinese demo).

The same four question types as :mod:`mmlab.data.multimodal.vqa`, written the way a Chinese speaker
asks them, and their inverse:

* ``colour``:   "三角形是什么颜色？"         <-> "what colour is the triangle?"
* ``shape``:    "红色的是什么形状？"         <-> "what shape is the red one?"
* ``count``:    "有几个圆形？"               <-> "how many circles are there?"
* ``relation``: "红色的图形在正方形左边吗？" <-> "is the red shape left of the square?"

:func:`question_text_zh` writes a question, :func:`parse_question_zh` reads one (short forms such as
"圆", "方块", "几个" and "多少个" too), :func:`answer_zh` and :func:`caption_zh` put the model's
English answer words and captions ("a large red circle, a small blue square") into Chinese.
"""

from __future__ import annotations

import re

from mmlab.data.multimodal.scenes import COLOURS, KINDS, SIZES

__all__ = [
    "ANSWERS_ZH",
    "COLOURS_ZH",
    "EXAMPLES_ZH",
    "KINDS_ZH",
    "answer_zh",
    "caption_zh",
    "parse_question_zh",
    "question_text_zh",
]

KINDS_ZH = {"circle": "圆形", "square": "正方形", "triangle": "三角形"}
COLOURS_ZH = {"red": "红色", "green": "绿色", "blue": "蓝色"}
SIZES_ZH = {"small": "小", "large": "大"}
ANSWERS_ZH = {
    **COLOURS_ZH,
    **KINDS_ZH,
    "zero": "零个",
    "one": "一个",
    "two": "两个",
    "yes": "是",
    "no": "不是",
}
# what a typed question may call each shape and colour (the longest form first)
_KIND_FORMS = {
    "三角形": "triangle",
    "三角": "triangle",
    "正方形": "square",
    "方块": "square",
    "方形": "square",
}
_KIND_FORMS |= {"圆形": "circle", "圆圈": "circle", "圆": "circle"}
_COLOUR_FORMS = {"红色": "red", "红": "red", "绿色": "green", "绿": "green", "蓝色": "blue", "蓝": "blue"}
_PUNCTUATION = re.compile(r"[\s?？!！。.,，]")
_CHINESE = re.compile(r"[\u4e00-\u9fff]+")


def question_text_zh(qtype: str, args: tuple[str, ...]) -> str:
    """The Chinese question for a type and its arguments (those of :func:`~mmlab.data.multimodal.vqa.question_text`)."""
    if qtype == "colour":
        return f"{KINDS_ZH[args[0]]}是什么颜色？"
    if qtype == "shape":
        return f"{COLOURS_ZH[args[0]]}的是什么形状？"
    if qtype == "count":
        return f"有几个{KINDS_ZH[args[0]]}？"
    if qtype == "relation":
        return f"{COLOURS_ZH[args[0]]}的图形在{KINDS_ZH[args[1]]}左边吗？"
    raise ValueError(f"unknown question type {qtype!r}")


EXAMPLES_ZH = [
    question_text_zh("colour", ("triangle",)),
    question_text_zh("shape", ("red",)),
    question_text_zh("count", ("circle",)),
    question_text_zh("relation", ("red", "square")),
]


def _named(text: str, forms: dict[str, str]) -> list[str]:
    """The shapes (or colours) ``text`` names, in order, each form consumed once."""
    found = []
    for form in sorted(forms, key=len, reverse=True):
        while form in text:
            found.append((text.index(form), forms[form]))
            text = text.replace(form, "\0" * len(form), 1)
    return [name for _, name in sorted(found)]


def parse_question_zh(question: str) -> tuple[str, tuple[str, ...]]:
    """``"有几个圆形？"`` -> ``("count", ("circle",))``; ValueError for a question of no pattern."""
    text = _PUNCTUATION.sub("", question)
    if not _CHINESE.fullmatch(text):  # Chinese characters only (and punctuation, spaces)
        raise ValueError(f"the question {question!r} is not in Chinese characters")
    kinds, colours = _named(text, _KIND_FORMS), _named(text, _COLOUR_FORMS)
    if "左" in text and len(colours) == 1 and len(kinds) == 1:
        return "relation", (colours[0], kinds[0])
    if ("几个" in text or "多少" in text) and len(kinds) == 1 and not colours:
        return "count", (kinds[0],)
    if "形状" in text and len(colours) == 1 and not kinds:
        return "shape", (colours[0],)
    if "颜色" in text and len(kinds) == 1 and not colours:
        return "colour", (kinds[0],)
    raise ValueError(f"the question {question!r} matches none of the four patterns")


def answer_zh(answer: str) -> str:
    """An answer word of the model in Chinese (a word outside the answers stays as it is)."""
    return ANSWERS_ZH.get(answer, answer)


def caption_zh(caption: str) -> str:
    """``"a large red circle, a small blue square"`` -> ``"一个大的红色圆形，一个小的蓝色正方形"``.

    A part the templates did not write (a caption the model got wrong in form) is kept in English.
    """
    if caption.strip() == "an empty picture":
        return "一张空白的图"
    parts = []
    for part in caption.split(", "):
        words = part.split()
        if (
            len(words) == 4
            and words[0] == "a"
            and words[1] in SIZES
            and words[2] in COLOURS
            and words[3] in KINDS
        ):
            parts.append(f"一个{SIZES_ZH[words[1]]}的{COLOURS_ZH[words[2]]}{KINDS_ZH[words[3]]}")
        else:
            parts.append(part)
    return "，".join(parts)
