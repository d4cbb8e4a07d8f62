"""Images with captions (chapters 09 and 11): one shape per image ("a small red triangle"), and
scikit-learn's handwritten digits ("a handwritten seven")."""

from __future__ import annotations

import numpy as np
from datasets import Dataset, Features, Image, Value
from PIL import Image as PILImage

from mmlab.data.multimodal.scenes import (
    COLOURS,
    KINDS,
    SIZES,
    SceneConfig,
    describe_scene,
    draw_scene,
    random_scene,
)

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


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
