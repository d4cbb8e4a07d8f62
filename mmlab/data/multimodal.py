"""Images with text, generated offline: shape scenes with captions and questions, and digits with captions.

Everything here is seeded and needs no download. The generators return ``datasets.Dataset`` objects
whose ``image`` column holds PIL images, so they display, save and map like data sets from the hub;
:func:`vqa_tensors` and :func:`image_tensors` convert one to tensors once, before training.

A *scene* is a small RGB image (24 x 24 by default) with 1-3 shapes on a 2 x 2 grid. Each shape has a
kind (circle, square, triangle), a colour (red, green, blue), a size (small, large) and a position.
The questions need both the question and the image to answer:

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
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset, Features, Image, List, Value
from PIL import Image as PILImage
from PIL import ImageDraw

__all__ = [
    "ANSWERS",
    "COLOURS",
    "KINDS",
    "QUESTION_TYPES",
    "QuestionVocab",
    "SceneConfig",
    "TensorLoader",
    "scene_answer",
    "describe_scene",
    "draw_scene",
    "image_tensors",
    "make_digit_captions",
    "make_shape_captions",
    "make_shape_classification",
    "make_vqa",
    "parse_question",
    "question_text",
    "random_scene",
    "grid_cell",
    "region_targets",
    "shape_caption",
    "shape_caption_tensors",
    "vqa_tensors",
]

KINDS = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue")
SIZES = ("small", "large")
RGB = {"red": (220, 50, 50), "green": (40, 180, 60), "blue": (60, 100, 240)}
QUESTION_TYPES = ("colour", "shape", "count", "relation")
COUNT_WORDS = ("zero", "one", "two")
ANSWERS = (*COLOURS, *KINDS, *COUNT_WORDS, "yes", "no")
ANSWERS_BY_TYPE = {"colour": COLOURS, "shape": KINDS, "count": COUNT_WORDS, "relation": ("yes", "no")}
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

Scene = list[dict[str, Any]]  # one dict per shape: kind, colour, size, x, y (centre, pixels), cell


@dataclass
class SceneConfig:
    """How scenes look.

    Attributes:
        image_size: side of the square image in pixels (divisible by ``grid``).
        grid: shapes sit in the cells of a ``grid x grid`` layout (one shape per cell).
        min_shapes, max_shapes: how many shapes a scene holds.
        small, large: side (pixels) of a small and a large shape.
        jitter: the largest random shift of a shape from its cell's centre, in pixels.
        noise: standard deviation of the Gaussian pixel noise (0-255 scale).
    """

    image_size: int = 24
    grid: int = 2
    min_shapes: int = 1
    max_shapes: int = 3
    small: int = 7
    large: int = 10
    jitter: int = 1
    noise: float = 8.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_shapes <= self.max_shapes <= self.grid**2:
            raise ValueError(
                f"need 1 <= min_shapes <= max_shapes <= grid**2, got {self.min_shapes}, {self.max_shapes}"
            )


# ----------------------------------------------------------------------------- scenes and pictures


def random_scene(rng: np.random.Generator, config: SceneConfig | None = None) -> Scene:
    """A random scene description: 1-3 shapes in distinct grid cells."""
    config = config or SceneConfig()
    n = int(rng.integers(config.min_shapes, config.max_shapes + 1))
    cells = rng.choice(config.grid**2, size=n, replace=False)
    step = config.image_size / config.grid
    scene = []
    for cell in cells:
        row, col = divmod(int(cell), config.grid)
        scene.append(
            {
                "kind": KINDS[rng.integers(3)],
                "colour": COLOURS[rng.integers(3)],
                "size": SIZES[rng.integers(2)],
                "x": float((col + 0.5) * step + rng.integers(-config.jitter, config.jitter + 1)),
                "y": float((row + 0.5) * step + rng.integers(-config.jitter, config.jitter + 1)),
                "cell": int(cell),
            }
        )
    return scene


def draw_scene(scene: Scene, config: SceneConfig | None = None, rng: np.random.Generator | None = None):
    """Render a scene description as a PIL RGB image."""
    config = config or SceneConfig()
    image = PILImage.new("RGB", (config.image_size, config.image_size), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    for shape in scene:
        half = (config.small if shape["size"] == "small" else config.large) / 2
        x, y, fill = shape["x"], shape["y"], RGB[shape["colour"]]
        box = [x - half, y - half, x + half - 1, y + half - 1]
        if shape["kind"] == "circle":
            draw.ellipse(box, fill=fill)
        elif shape["kind"] == "square":
            draw.rectangle(box, fill=fill)
        else:
            draw.polygon([(x, y - half), (x - half, y + half - 1), (x + half - 1, y + half - 1)], fill=fill)
    if rng is not None and config.noise > 0:
        pixels = np.asarray(image, dtype=np.float32) + rng.normal(0.0, config.noise, (*image.size[::-1], 3))
        image = PILImage.fromarray(pixels.clip(0, 255).astype(np.uint8))
    return image


def describe_scene(scene: Scene) -> str:
    """A caption: "a large red circle left of a small blue square" style, in left-to-right order."""
    parts = [f"a {s['size']} {s['colour']} {s['kind']}" for s in sorted(scene, key=lambda s: s["x"])]
    return ", ".join(parts) if parts else "an empty picture"


# ----------------------------------------------------------------------------- questions and answers


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


# ----------------------------------------------------------------------------- data sets

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


def make_shape_classification(n: int = 1000, seed: int = 0, config: SceneConfig | None = None) -> Dataset:
    """One shape per image; label = its kind (0 circle, 1 square, 2 triangle), caption names it all."""
    config = config or SceneConfig(min_shapes=1, max_shapes=1)
    rng = np.random.default_rng(seed)
    images, captions, labels = [], [], []
    for _ in range(n):
        scene = random_scene(rng, config)
        images.append(draw_scene(scene, config, rng))
        captions.append(describe_scene(scene))
        labels.append(KINDS.index(scene[0]["kind"]))
    features = Features({"image": Image(), "caption": Value("string"), "label": Value("int64")})
    return Dataset.from_dict({"image": images, "caption": captions, "label": labels}, features=features)


def shape_caption(size: str, colour: str, kind: str) -> str:
    """The caption of one shape: ``"a small red triangle"``."""
    return f"a {size} {colour} {kind}"


def make_shape_captions(
    n: int = 1000,
    seed: int = 0,
    config: SceneConfig | None = None,
    exclude: tuple[tuple[str, str], ...] = (),
) -> Dataset:
    """One shape per image with its caption, for contrastive (CLIP) training.

    Size, colour and kind are drawn uniformly among the combinations allowed; ``exclude`` lists
    ``(colour, kind)`` pairs that never occur (e.g. ``(("blue", "triangle"),)``: no blue triangle of
    any size), to test whether a model composes attributes it saw only apart.

    Returns a ``Dataset`` with columns image (PIL RGB), caption (:func:`shape_caption`), kind, colour
    and size. By default the image is 16 x 16 with the shape near its centre.
    """
    config = config or SceneConfig(image_size=16, grid=1, min_shapes=1, max_shapes=1, small=7, large=11)
    if config.max_shapes != 1:
        raise ValueError(f"make_shape_captions draws one shape per image; got max_shapes={config.max_shapes}")
    for colour, kind in exclude:
        if colour not in COLOURS or kind not in KINDS:
            raise ValueError(
                f"exclude holds (colour, kind) pairs from {COLOURS} x {KINDS}, got {(colour, kind)}"
            )
    allowed = [
        (size, colour, kind)
        for size in SIZES
        for colour in COLOURS
        for kind in KINDS
        if (colour, kind) not in set(exclude)
    ]
    if not allowed:
        raise ValueError("exclude leaves no colour-kind combination to draw")
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {"image": [], "caption": [], "kind": [], "colour": [], "size": []}
    for _ in range(n):
        scene = random_scene(rng, config)  # gives the position (with jitter); attributes are set below
        size, colour, kind = allowed[rng.integers(len(allowed))]
        scene[0].update(size=size, colour=colour, kind=kind)
        rows["image"].append(draw_scene(scene, config, rng))
        rows["caption"].append(shape_caption(size, colour, kind))
        rows["kind"].append(kind)
        rows["colour"].append(colour)
        rows["size"].append(size)
    features = Features(
        {
            "image": Image(),
            "caption": Value("string"),
            "kind": Value("string"),
            "colour": Value("string"),
            "size": Value("string"),
        }
    )
    return Dataset.from_dict(rows, features=features)


def make_digit_captions(n: int | None = None, seed: int = 0) -> Dataset:
    """scikit-learn's 8 x 8 handwritten digits (1,797, shipped with the library) as image/caption pairs:
    a greyscale PIL image, the caption "a handwritten seven" and the label 7. ``n`` draws a seeded subset."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))[:n]
    pixels = (digits.images[order] * (255 / 16)).round().astype(np.uint8)  # values 0..16 -> 0..255
    labels = digits.target[order].tolist()
    features = Features({"image": Image(), "caption": Value("string"), "label": Value("int64")})
    return Dataset.from_dict(
        {
            "image": [PILImage.fromarray(p, mode="L") for p in pixels],
            "caption": [f"a handwritten {DIGIT_WORDS[y]}" for y in labels],
            "label": labels,
        },
        features=features,
    )


# ----------------------------------------------------------------------------- to tensors


def _pixels(images: list) -> torch.Tensor:
    """PIL images, arrays or ``{"bytes": ...}`` encoded images -> float tensor (N, C, H, W) in [0, 1]."""
    decoded = [PILImage.open(io.BytesIO(im["bytes"])) if isinstance(im, dict) else im for im in images]
    arrays = np.stack([np.asarray(im) for im in decoded])
    if arrays.ndim == 3:  # greyscale (N, H, W)
        arrays = arrays[..., None]
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 255.0


def _columns(dataset: Dataset, names: list[str]) -> dict[str, list]:
    """Whole columns as Python lists, images left encoded (much faster than row-by-row access)."""
    if "image" in names:
        dataset = dataset.cast_column("image", Image(decode=False))
    return dataset.select_columns(names).to_dict()


def image_tensors(dataset: Dataset) -> dict[str, torch.Tensor]:
    """A classification data set -> ``{"images": (N, C, H, W) in [0, 1], "labels": (N,)}``, decoded once."""
    columns = _columns(dataset, ["image", "label"])
    return {"images": _pixels(columns["image"]), "labels": torch.tensor(columns["label"])}


def shape_caption_tensors(dataset: Dataset) -> dict[str, torch.Tensor]:
    """A :func:`make_shape_captions` data set -> ``images`` (N, 3, H, W) in [0, 1] and the attributes
    as indices: ``kinds`` into :data:`KINDS`, ``colours`` into :data:`COLOURS`, ``sizes`` into ``SIZES``."""
    columns = _columns(dataset, ["image", "kind", "colour", "size"])
    return {
        "images": _pixels(columns["image"]),
        "kinds": torch.tensor([KINDS.index(k) for k in columns["kind"]]),
        "colours": torch.tensor([COLOURS.index(c) for c in columns["colour"]]),
        "sizes": torch.tensor([SIZES.index(s) for s in columns["size"]]),
    }


def vqa_tensors(dataset: Dataset, vocab: QuestionVocab | None = None) -> dict[str, torch.Tensor]:
    """A VQA data set -> tensors, each scene's image decoded once (not per step of training).

    Returns ``images`` (N, 3, H, W) in [0, 1], ``questions`` (N, T) token ids, ``question_mask``
    (N, T) True on real tokens, ``answers`` (N,) indices into :data:`ANSWERS`, ``types`` (N,)
    indices into :data:`QUESTION_TYPES` and ``scene_ids`` (N,).
    """
    vocab = vocab or QuestionVocab()
    columns = _columns(dataset, ["image", "question", "answer", "question_type", "scene_id", "scene"])
    scene_ids = columns["scene_id"]
    first: dict[int, int] = {}  # the questions of a scene share its image: decode it once
    for index, sid in enumerate(scene_ids):
        first.setdefault(sid, index)
    decoded = _pixels([columns["image"][i] for i in first.values()])
    side = decoded.size(-1)
    position = {sid: i for i, sid in enumerate(first)}
    questions = torch.tensor([vocab.encode(q) for q in columns["question"]])
    return {
        "images": decoded[torch.tensor([position[s] for s in scene_ids])],
        "questions": questions,
        "question_mask": questions != QuestionVocab.PAD,
        "answers": torch.tensor([ANSWERS.index(a) for a in columns["answer"]]),
        "types": torch.tensor([QUESTION_TYPES.index(t) for t in columns["question_type"]]),
        "scene_ids": torch.tensor(scene_ids),
        **region_targets(columns["scene"], side),
    }


def grid_cell(shape: dict[str, Any], image_size: int, grid: int = 2) -> int:
    """The ``grid x grid`` cell (row by row) that holds ``shape``'s centre (chapters 10 and 12)."""
    col = min(int(shape["x"] * grid / image_size), grid - 1)
    row = min(int(shape["y"] * grid / image_size), grid - 1)
    return row * grid + col


def region_targets(
    scenes: list[Scene], image_size: int, grid: int = 2, sizes: bool = False
) -> dict[str, torch.Tensor]:
    """What sits in each of the ``grid x grid`` regions of each scene, row by row, as class indices:
    ``region_kinds`` (N, grid^2) with 0 = empty, 1 + KINDS index otherwise; ``region_colours``
    likewise, and with ``sizes`` ``region_sizes`` (1 + SIZES index) too (chapter 12's region namer)."""
    names = ("kinds", "colours", "sizes") if sizes else ("kinds", "colours")
    tables = {"kinds": KINDS, "colours": COLOURS, "sizes": SIZES}
    targets = {name: torch.zeros(len(scenes), grid * grid, dtype=torch.long) for name in names}
    for n, scene in enumerate(scenes):
        for shape in scene:
            cell = grid_cell(shape, image_size, grid)
            for name in names:
                targets[name][n, cell] = 1 + tables[name].index(shape[name[:-1]])
    return {f"region_{name}": value for name, value in targets.items()}


class TensorLoader:
    """Batches of a dict of equally long tensors, as dicts; much faster than a per-example DataLoader.

    Like a ``DataLoader(shuffle=True)``, each pass draws its order from the global torch RNG, so the
    Trainer's seeding and resuming work the same way.
    """

    def __init__(self, tensors: dict[str, torch.Tensor], batch_size: int = 64, shuffle: bool = False) -> None:
        lengths = {len(v) for v in tensors.values()}
        if len(lengths) != 1:
            raise ValueError(f"all tensors need the same length, got lengths {sorted(lengths)}")
        self.tensors, self.batch_size, self.shuffle = tensors, batch_size, shuffle
        self.n = lengths.pop()

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        order = torch.randperm(self.n) if self.shuffle else torch.arange(self.n)
        for start in range(0, self.n, self.batch_size):
            index = order[start : start + self.batch_size]
            yield {k: v[index] for k, v in self.tensors.items()}
