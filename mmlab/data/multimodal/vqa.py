"""Visual questions about shape scenes (chapters 10 and 12). The questions need both the question and
the image to answer:

* ``colour``:   "what colour is the triangle?"          -> red / green / blue
* ``shape``:    "what shape is the red one?"           -> circle / square / triangle
* ``count``:    "how many circles are there?"          -> zero / one / two
* ``relation``: "is the red shape left of the square?" -> yes / no

Each scene is asked one question of every type it allows, and within each type the answers are
balanced, so neither the question alone nor the image alone says which answer is wanted.
"""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import numpy as np
from datasets import Dataset, Features, Image, List, Value

from mmlab.data.multimodal.scenes import (
    COLOURS,
    KINDS,
    Scene,
    SceneConfig,
    describe_scene,
    draw_scene,
    random_scene,
)

QUESTION_TYPES = ("colour", "shape", "count", "relation")
COUNT_WORDS = ("zero", "one", "two")
ANSWERS = (*COLOURS, *KINDS, *COUNT_WORDS, "yes", "no")
ANSWERS_BY_TYPE = {"colour": COLOURS, "shape": KINDS, "count": COUNT_WORDS, "relation": ("yes", "no")}


def _unique(scene: Scene, key: str, value: str) -> dict[str, Any] | None:
    matches = [s for s in scene if s[key] == value]
    return matches[0] if len(matches) == 1 else None


def scene_answer(scene: Scene, qtype: str, args: tuple[str, ...]) -> str | None:
    """The answer to a question about ``scene``, or None when the question is ill-posed for it
    (the shape it names is missing or not unique, or the two shapes share a column)."""
    if qtype == "colour":
        shape = _unique(scene, "kind", args[0])
        return shape["colour"] if shape else None
    if qtype == "shape":
        shape = _unique(scene, "colour", args[0])
        return shape["kind"] if shape else None
    if qtype == "count":
        count = sum(s["kind"] == args[0] for s in scene)
        return COUNT_WORDS[count] if count < len(COUNT_WORDS) else None
    if qtype == "relation":
        first, second = _unique(scene, "colour", args[0]), _unique(scene, "kind", args[1])
        if first is None or second is None or first is second or abs(first["x"] - second["x"]) < 4:
            return None
        return "yes" if first["x"] < second["x"] else "no"
    raise ValueError(f"unknown question type {qtype!r}; expected one of {QUESTION_TYPES}")


def question_text(qtype: str, args: tuple[str, ...]) -> str:
    """The English question for a type and its arguments."""
    if qtype == "colour":
        return f"what colour is the {args[0]}?"
    if qtype == "shape":
        return f"what shape is the {args[0]} one?"
    if qtype == "count":
        return f"how many {args[0]}s are there?"
    if qtype == "relation":
        return f"is the {args[0]} shape left of the {args[1]}?"
    raise ValueError(f"unknown question type {qtype!r}; expected one of {QUESTION_TYPES}")


def parse_question(question: str) -> tuple[str, tuple[str, ...]]:
    """Inverse of the templates: ``"how many circles are there?"`` -> ``("count", ("circle",))``.

    Raises ValueError for a question that matches no template (the demo uses this to say so).
    """
    words = question.lower().replace("?", " ").replace("color", "colour").split()
    kinds = [w.rstrip("s") for w in words if w.rstrip("s") in KINDS]
    colours = [w for w in words if w in COLOURS]
    if words[:2] == ["what", "colour"] and len(kinds) == 1:
        return "colour", (kinds[0],)
    if words[:2] == ["what", "shape"] and len(colours) == 1:
        return "shape", (colours[0],)
    if words[:2] == ["how", "many"] and len(kinds) == 1:
        return "count", (kinds[0],)
    if words[:1] == ["is"] and "left" in words and len(colours) == 1 and len(kinds) == 1:
        return "relation", (colours[0], kinds[0])
    raise ValueError(
        f"the question {question!r} matches none of the templates, e.g. 'what colour is the circle?', "
        "'what shape is the red one?', 'how many squares are there?', 'is the red shape left of the square?'"
    )


def _candidates(scene: Scene) -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """Every well-posed question (arguments, answer) about a scene, by type."""
    found: dict[str, list[tuple[tuple[str, ...], str]]] = {t: [] for t in QUESTION_TYPES}
    pairs = {
        "colour": [(k,) for k in KINDS],
        "shape": [(c,) for c in COLOURS],
        "count": [(k,) for k in KINDS],
    }
    pairs["relation"] = [(c, k) for c in COLOURS for k in KINDS]
    for qtype, arg_list in pairs.items():
        for args in arg_list:
            answer = scene_answer(scene, qtype, args)
            if answer is not None:
                found[qtype].append((args, answer))
    return found


class QuestionVocab:
    """A fixed word-level vocabulary for the questions: id 0 pads, id 1 is unknown."""

    PAD, UNK = 0, 1

    def __init__(self, max_len: int = 8) -> None:
        words = {"what", "colour", "is", "the", "shape", "one", "how", "many", "are", "there", "left", "of"}
        words |= set(KINDS) | {k + "s" for k in KINDS} | set(COLOURS)
        self.itos = ["<pad>", "<unk>", *sorted(words)]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.max_len = max_len

    def __len__(self) -> int:
        return len(self.itos)

    @staticmethod
    def words(question: str) -> list[str]:
        return question.lower().replace("?", " ").replace("color", "colour").split()

    def unknown_words(self, question: str) -> list[str]:
        """Words of ``question`` the vocabulary does not contain."""
        return [w for w in self.words(question) if w not in self.stoi]

    def encode(self, question: str, strict: bool = False) -> list[int]:
        """Token ids padded to ``max_len``; ``strict`` raises ValueError on unknown words."""
        words = self.words(question)
        if strict and (unknown := self.unknown_words(question)):
            raise ValueError(f"unknown word(s) {unknown}; the model knows only: {', '.join(self.itos[2:])}")
        if len(words) > self.max_len:
            raise ValueError(f"question has {len(words)} words, more than max_len={self.max_len}")
        ids = [self.stoi.get(w, self.UNK) for w in words]
        return ids + [self.PAD] * (self.max_len - len(ids))


_VQA_FEATURES = Features(
    {
        "image": Image(),
        "question": Value("string"),
        "answer": Value("string"),
        "question_type": Value("string"),
        "scene_id": Value("int32"),
        "caption": Value("string"),
        "scene": List(
            {
                "kind": Value("string"),
                "colour": Value("string"),
                "size": Value("string"),
                "x": Value("float32"),
                "y": Value("float32"),
                "cell": Value("int32"),
            }
        ),
    }
)


def _png(image) -> dict[str, bytes | None]:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return {"bytes": buffer.getvalue(), "path": None}


def make_vqa(n_scenes: int = 1000, seed: int = 0, config: SceneConfig | None = None) -> Dataset:
    """Shape scenes with questions: up to one question of each type per scene, answers balanced.

    Within each question type, the question asked of a scene is the well-posed one whose answer has
    been used least so far (ties broken at random), so every answer of a type is about equally common.

    Returns a ``Dataset`` with columns image (PIL), question, answer, question_type, scene_id,
    caption and scene (the description every answer is computed from).
    """
    config = config or SceneConfig(min_shapes=2)
    rng = np.random.default_rng(seed)
    used = {t: Counter({a: 0 for a in ANSWERS_BY_TYPE[t]}) for t in QUESTION_TYPES}
    rows: dict[str, list] = {name: [] for name in _VQA_FEATURES}
    for scene_id in range(n_scenes):
        scene = random_scene(rng, config)
        image = _png(draw_scene(scene, config, rng))  # encoded once, shared by the scene's questions
        for qtype, options in _candidates(scene).items():
            if not options:
                continue
            least = min(used[qtype][answer] for _, answer in options)
            best = [option for option in options if used[qtype][option[1]] == least]
            args, answer = best[rng.integers(len(best))]
            used[qtype][answer] += 1
            for name, value in (
                ("image", image),
                ("question", question_text(qtype, args)),
                ("answer", answer),
                ("question_type", qtype),
                ("scene_id", scene_id),
                ("caption", describe_scene(scene)),
                ("scene", scene),
            ):
                rows[name].append(value)
    return Dataset.from_dict(rows, features=_VQA_FEATURES)
